import { cors } from "@connectrpc/connect";
import type { RequestHandler } from "./single-port-server.js";

/** What a browser's MCP client sends to /mcp and reads back, besides what Connect needs. */
const mcp = {
  methods: ["DELETE"],
  requestHeaders: ["Authorization", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-ID"],
  responseHeaders: ["Mcp-Session-Id"],
};

/**
 * CORS for browsers calling over Connect or gRPC-Web, with the header lists connect-es exports,
 * and for MCP clients in a browser calling /mcp.
 * Only origins listed are answered (`*` only when configured); with none, browsers from other
 * origins are refused by their own same-origin policy.
 */
export function withCors(handler: RequestHandler, allowedOrigins: readonly string[]): RequestHandler {
  if (allowedOrigins.length === 0) return handler;
  const anyOrigin = allowedOrigins.includes("*");
  const allowed = new Set(allowedOrigins);
  return (request, response) => {
    const origin = request.headers.origin;
    if (typeof origin !== "string" || !(anyOrigin || allowed.has(origin))) {
      handler(request, response);
      return;
    }
    response.setHeader("Access-Control-Allow-Origin", anyOrigin ? "*" : origin);
    response.setHeader("Vary", "Origin");
    const preflight = request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined;
    if (preflight) {
      response.setHeader("Access-Control-Allow-Methods", [...cors.allowedMethods, ...mcp.methods].join(", "));
      response.setHeader("Access-Control-Allow-Headers", [...cors.allowedHeaders, ...mcp.requestHeaders].join(", "));
      response.setHeader("Access-Control-Max-Age", "7200");
      response.statusCode = 204;
      response.end();
      return;
    }
    response.setHeader("Access-Control-Expose-Headers", [...cors.exposedHeaders, ...mcp.responseHeaders].join(", "));
    handler(request, response);
  };
}
