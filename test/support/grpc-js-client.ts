import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/**
 * An independent gRPC client: @grpc/grpc-js over h2c, with types loaded from the .proto files
 * by @grpc/proto-loader, sharing no code with the server's Connect stack.
 */
const protoDir = fileURLToPath(new URL("../../proto", import.meta.url));

const definition = protoLoader.loadSync("aurea/sandbox/v1/sandbox.proto", {
  includeDirs: [protoDir],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  aurea: { sandbox: { v1: { SandboxService: grpc.ServiceClientConstructor } } };
};

export type GrpcResponse = Record<string, unknown>;

export interface GrpcStream {
  /** Every message, each with the milliseconds since the call began. */
  readonly messages: { at: number; message: GrpcResponse }[];
  /** Resolves when the stream ends, rejects with its error. */
  readonly done: Promise<void>;
  cancel(): void;
  /** Resolves at the first message matching `predicate`. */
  waitFor(predicate: (message: GrpcResponse) => boolean): Promise<GrpcResponse>;
}

export interface GrpcSandboxClient {
  run(request: Record<string, unknown>, deadlineMs?: number): Promise<GrpcResponse>;
  /** Starts a unary Run that can be cancelled. */
  startRun(request: Record<string, unknown>, deadlineMs?: number): { response: Promise<GrpcResponse>; cancel(): void };
  runStream(request: Record<string, unknown>, deadlineMs?: number): GrpcStream;
  buildImage(request: Record<string, unknown>): GrpcStream;
  health(): Promise<GrpcResponse>;
  listLanguages(): Promise<GrpcResponse>;
  /** Any unary RPC of SandboxService by its proto name (`CreateSession`, `Exec`, ...). */
  call(method: string, request: Record<string, unknown>, deadlineMs?: number): Promise<GrpcResponse>;
  /** Any server-streaming RPC of SandboxService by its proto name (`ExecStream`). */
  stream(method: string, request: Record<string, unknown>, deadlineMs?: number): GrpcStream;
  close(): void;
}

/**
 * `headers` are sent as metadata on every call (an `authorization` bearer key, say). `port` is one
 * server on loopback, or a target with channel options (several servers with a service config).
 */
export function createGrpcSandboxClient(
  port: number | { target: string; options: grpc.ChannelOptions },
  headers: Record<string, string> = {},
): GrpcSandboxClient {
  const target = typeof port === "number" ? `127.0.0.1:${port}` : port.target;
  const client = new loaded.aurea.sandbox.v1.SandboxService(target, grpc.credentials.createInsecure(), {
    ...(typeof port === "number" ? {} : port.options),
    interceptors: [
      (options: grpc.InterceptorOptions, next: grpc.NextCall) =>
        new grpc.InterceptingCall(next(options), {
          start(metadata, listener, proceed) {
            for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
            proceed(metadata, listener);
          },
        }),
    ],
  });
  const unary = (method: string, request: Record<string, unknown>, deadlineMs = 60_000) =>
    new Promise<GrpcResponse>((resolve, reject) => {
      const call = client[method] as (
        request: unknown,
        options: grpc.CallOptions,
        callback: (error: grpc.ServiceError | null, response: GrpcResponse) => void,
      ) => void;
      call.call(client, request, { deadline: Date.now() + deadlineMs }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
  const startRun = (request: Record<string, unknown>, deadlineMs = 60_000) => {
    let call: grpc.ClientUnaryCall | undefined;
    const response = new Promise<GrpcResponse>((resolve, reject) => {
      const method = client.Run as (
        request: unknown,
        options: grpc.CallOptions,
        callback: (error: grpc.ServiceError | null, response: GrpcResponse) => void,
      ) => grpc.ClientUnaryCall;
      call = method.call(client, request, { deadline: Date.now() + deadlineMs }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
    return { response, cancel: () => call?.cancel() };
  };
  const serverStream = (name: string, request: Record<string, unknown>, deadlineMs = 60_000): GrpcStream => {
    const started = performance.now();
    const method = client[name] as (request: unknown, options: grpc.CallOptions) => grpc.ClientReadableStream<GrpcResponse>;
    const call = method.call(client, request, { deadline: Date.now() + deadlineMs });
    const messages: { at: number; message: GrpcResponse }[] = [];
    const waiters: { predicate: (m: GrpcResponse) => boolean; resolve: (m: GrpcResponse) => void }[] = [];
    call.on("data", (message: GrpcResponse) => {
      messages.push({ at: performance.now() - started, message });
      for (const waiter of [...waiters]) {
        if (waiter.predicate(message)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
    });
    const done = new Promise<void>((resolve, reject) => {
      call.on("end", resolve);
      call.on("error", reject);
    });
    done.catch(() => undefined);
    return {
      messages,
      done,
      cancel: () => call.cancel(),
      waitFor: (predicate) => {
        const seen = messages.find(({ message }) => predicate(message));
        if (seen) return Promise.resolve(seen.message);
        return new Promise((resolve) => waiters.push({ predicate, resolve }));
      },
    };
  };
  return {
    run: (request, deadlineMs) => unary("Run", request, deadlineMs),
    startRun,
    runStream: (request, deadlineMs) => serverStream("RunStream", request, deadlineMs),
    buildImage: (request) => serverStream("BuildImage", request, 600_000),
    health: () => unary("Health", {}),
    listLanguages: () => unary("ListLanguages", {}),
    call: (method, request, deadlineMs) => unary(method, request, deadlineMs),
    stream: (method, request, deadlineMs) => serverStream(method, request, deadlineMs),
    close: () => client.close(),
  };
}
