import type { Registry } from "prom-client";
import { authenticate, type ApiKeyAuthenticator } from "../service/api-keys.js";
import type { RequestHandler } from "./single-port-server.js";

/**
 * `GET /metrics` on the one port: the Prometheus text format of `registry`. It follows the probes'
 * rule: open unless AUTH_PROTECT_PROBES asks for a key (then `authenticator` is given).
 */
export function withMetricsRoute(
  handler: RequestHandler,
  registry: Registry,
  authenticator: ApiKeyAuthenticator | undefined,
): RequestHandler {
  return (request, response) => {
    if ((request.url ?? "").split("?")[0] !== "/metrics" || request.method !== "GET") {
      handler(request, response);
      return;
    }
    if (authenticator) {
      try {
        authenticate(authenticator, request.headers.authorization);
      } catch {
        response.statusCode = 401;
        response.setHeader("Content-Type", "text/plain");
        response.end("unauthenticated: send Authorization: Bearer <key>\n");
        return;
      }
    }
    registry.metrics().then(
      (text) => {
        response.statusCode = 200;
        response.setHeader("Content-Type", registry.contentType);
        response.end(text);
      },
      (error: Error) => {
        response.statusCode = 500;
        response.end(`metrics failed: ${error.message}\n`);
      },
    );
  };
}
