import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";

/**
 * The server image's HEALTHCHECK: asks the standard gRPC health service on this machine's port
 * (PORT, 8000) whether SandboxService is serving; exits 0 when it is, 1 otherwise, within 3 s.
 * An API key in AUREA_PROBE_KEY is sent when probes need one (AUTH_PROTECT_PROBES).
 */
async function probe(): Promise<number> {
  const port = process.env.PORT ?? "8000";
  const client = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  const key = process.env.AUREA_PROBE_KEY;
  const answer = await client.check(
    { service: process.argv[2] ?? "aurea.sandbox.v1.SandboxService" },
    { timeoutMs: 3000, ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}) },
  );
  return answer.status === HealthCheckResponse_ServingStatus.SERVING ? 0 : 1;
}

probe().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`health probe: ${error.message}\n`);
    process.exit(1);
  },
);
