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

export interface GrpcSandboxClient {
  run(request: Record<string, unknown>, deadlineMs?: number): Promise<GrpcResponse>;
  health(): Promise<GrpcResponse>;
  close(): void;
}

export function createGrpcSandboxClient(port: number): GrpcSandboxClient {
  const client = new loaded.aurea.sandbox.v1.SandboxService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
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
  return {
    run: (request, deadlineMs) => unary("Run", request, deadlineMs),
    health: () => unary("Health", {}),
    close: () => client.close(),
  };
}
