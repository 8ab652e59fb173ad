import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/**
 * The standard health client as the kubelet uses it: @grpc/grpc-js over h2c calling
 * /grpc.health.v1.Health/Check and Watch.
 */
const definition = protoLoader.loadSync("grpc/health/v1/health.proto", {
  includeDirs: [fileURLToPath(new URL("../../proto", import.meta.url))],
  keepCase: true,
  enums: String,
  defaults: true,
});
const Health = (
  grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  }
).grpc.health.v1.Health;

export interface HealthWatch {
  /** Every status pushed so far, oldest first. */
  readonly statuses: string[];
  /** Resolves when the latest status is `status`, or rejects after `timeoutMs`. */
  until(status: string, timeoutMs: number): Promise<number>;
  cancel(): void;
}

export interface GrpcHealthClient {
  check(service: string): Promise<string>;
  watch(service: string): HealthWatch;
  close(): void;
}

export function createGrpcHealthClient(port: number): GrpcHealthClient {
  const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    check: (service) =>
      new Promise((resolve, reject) => {
        const check = client.Check as (
          request: unknown,
          options: grpc.CallOptions,
          callback: (error: grpc.ServiceError | null, response: { status: string }) => void,
        ) => void;
        check.call(client, { service }, { deadline: Date.now() + 1000 }, (error, response) =>
          error ? reject(error) : resolve(response.status),
        );
      }),
    watch(service) {
      const started = performance.now();
      const statuses: string[] = [];
      const call = (client.Watch as (request: unknown) => grpc.ClientReadableStream<{ status: string }>).call(client, {
        service,
      });
      call.on("data", (response: { status: string }) => statuses.push(response.status));
      call.on("error", () => undefined);
      return {
        statuses,
        async until(status, timeoutMs) {
          const deadline = performance.now() + timeoutMs;
          while (statuses.at(-1) !== status) {
            if (performance.now() > deadline) {
              throw new Error(`health never became ${status} within ${timeoutMs} ms (saw ${statuses.join(", ")})`);
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          return performance.now() - started;
        },
        cancel: () => call.cancel(),
      };
    },
    close: () => client.close(),
  };
}
