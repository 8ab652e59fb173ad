import { randomUUID } from "node:crypto";
import type http from "node:http";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import { SandboxService } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { type AureaMcpServer, createAureaMcpServer } from "../mcp/aurea-mcp-server.js";
import { toolBoundsFrom } from "../mcp/tool-schemas.js";
import type { ApiKeyAuthenticator } from "../service/api-keys.js";
import type { RequestHandler } from "./single-port-server.js";

export interface McpRouteOptions {
  readonly authenticator: ApiKeyAuthenticator;
  /**
   * This server's own address (`http://127.0.0.1:PORT`), known once it listens: the tools call the
   * API there, so a tool call is checked, admitted, forwarded and audited as any other call.
   */
  readonly selfUrl: () => string;
  /** MCP sessions held at once (`MCP_MAX_SESSIONS`); past it a new one is refused with 503. */
  readonly maxSessions: number;
  /** Seconds without a request after which an MCP session ends (`MCP_SESSION_IDLE_TIMEOUT`). */
  readonly idleTimeoutSeconds: number;
  /** Largest request body, bytes (MAX_REQUEST_BYTES). */
  readonly maxRequestBytes: number;
  /** Origins a browser may call `/mcp` from (CORS_ALLOWED_ORIGINS); any other Origin is refused. */
  readonly allowedOrigins: readonly string[];
  readonly version: string;
  readonly logger: Logger;
}

export interface McpRoute {
  readonly handler: RequestHandler;
  /** MCP sessions open now. */
  sessions(): number;
  /**
   * Ends every MCP session (server shutdown). The sessions they created are left to their ttl: an
   * MCP client that reconnects, here or at another replica, can go on using their ids.
   */
  close(): Promise<void>;
}

interface McpSession {
  readonly transport: StreamableHTTPServerTransport;
  readonly mcp: AureaMcpServer;
  /** The key it was opened with; every later request must carry the same one. */
  readonly keyId: string | undefined;
  lastUsed: number;
}

export const mcpPath = "/mcp";

/**
 * The MCP endpoint on the one port (Streamable HTTP, stateful): `POST /mcp` with `initialize`
 * opens an MCP session, answered with its `Mcp-Session-Id`; later requests carry the id and the
 * same API key; `DELETE /mcp` ends it, and so does `idleTimeoutSeconds` without a request. When an
 * MCP session ends, the sandbox sessions it created are closed.
 */
export function withMcpRoute(next: RequestHandler, options: McpRouteOptions): McpRoute {
  const { authenticator, logger } = options;
  const sessions = new Map<string, McpSession>();
  let api: Client<typeof SandboxService> | undefined;
  const apiClient = () => {
    api ??= createClient(SandboxService, createGrpcTransport({ baseUrl: options.selfUrl() }));
    return api;
  };
  const allowedOrigins = new Set(options.allowedOrigins);

  const sweep = setInterval(
    () => {
      const idleBefore = performance.now() - options.idleTimeoutSeconds * 1000;
      for (const [id, session] of sessions) {
        if (session.lastUsed < idleBefore) {
          logger.info({ mcp_session_id: id }, "mcp session idle: ended");
          void session.transport.close();
        }
      }
    },
    Math.min(30_000, options.idleTimeoutSeconds * 250),
  );
  sweep.unref();

  async function open(request: http.IncomingMessage, response: http.ServerResponse, body: unknown, keyId?: string) {
    if (sessions.size >= options.maxSessions) {
      return refuse(response, 503, -32000, `this server holds ${options.maxSessions} MCP sessions, its most (MCP_MAX_SESSIONS)`);
    }
    const authorization = request.headers.authorization;
    const headers: Record<string, string> = authorization ? { authorization } : {};
    const languages = await apiClient().listLanguages({}, { headers, timeoutMs: 10_000 });
    const mcp = createAureaMcpServer({
      client: apiClient(),
      headers,
      bounds: toolBoundsFrom(languages),
      version: options.version,
      logger,
    });
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, mcp, keyId, lastUsed: performance.now() });
        logger.info({ mcp_session_id: id, key: keyId }, "mcp session opened");
      },
    });
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id === undefined || !sessions.delete(id)) return;
      logger.info({ mcp_session_id: id, sessions_to_close: mcp.sessions().length }, "mcp session ended");
      void mcp.closeSessions();
    };
    await mcp.server.connect(transport);
    await transport.handleRequest(request, response, body);
  }

  async function serve(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const origin = request.headers.origin;
    // A web page must not drive a local sandbox through a visitor's browser (DNS rebinding).
    if (typeof origin === "string" && !allowedOrigins.has(origin) && !allowedOrigins.has("*")) {
      return refuse(response, 403, -32000, `origin ${origin} may not call ${mcpPath} (CORS_ALLOWED_ORIGINS)`);
    }
    const key = authenticator.enabled ? authenticator.identify(request.headers.authorization) : undefined;
    if (authenticator.enabled && !key) {
      response.setHeader("WWW-Authenticate", 'Bearer realm="aurea"');
      return refuse(response, 401, -32001, "a valid API key is required (Authorization: Bearer <key>)");
    }
    const sessionId = request.headers["mcp-session-id"];
    const body = request.method === "POST" ? await readJson(request, options.maxRequestBytes) : undefined;
    if (body instanceof Error) return refuse(response, body.message.startsWith("body") ? 413 : 400, -32700, body.message);
    if (typeof sessionId === "string") {
      const session = sessions.get(sessionId);
      // Another key's session is as unknown as one that never was.
      if (!session || session.keyId !== key?.id) return refuse(response, 404, -32001, "no such MCP session: initialize again");
      session.lastUsed = performance.now();
      return session.transport.handleRequest(request, response, body);
    }
    if (request.method === "POST" && isInitializeRequest(body)) return open(request, response, body, key?.id);
    return refuse(response, 400, -32000, "no Mcp-Session-Id: send initialize first");
  }

  const handler: RequestHandler = (request, response) => {
    if ((request.url ?? "").split("?")[0] !== mcpPath) {
      next(request, response);
      return;
    }
    const plain = request as http.IncomingMessage;
    const res = response as http.ServerResponse;
    serve(plain, res).catch((error: unknown) => {
      logger.warn({ err: (error as Error).message }, "mcp request failed");
      if (!res.headersSent) refuse(res, 503, -32603, `the MCP request could not be served: ${(error as Error).message}`);
      else res.end();
    });
  };

  return {
    handler,
    sessions: () => sessions.size,
    async close() {
      clearInterval(sweep);
      const held = [...sessions.values()];
      sessions.clear();
      await Promise.all(held.map((session) => session.transport.close().catch(() => undefined)));
    },
  };
}

/** An HTTP error with a JSON-RPC error body, as MCP clients read them. */
function refuse(response: http.ServerResponse, status: number, code: number, message: string): void {
  response.statusCode = status;
  response.setHeader("Content-Type", "application/json");
  response.end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

/** The request's JSON body, or an Error saying what is wrong with it. */
async function readJson(request: http.IncomingMessage, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return new Error(`body larger than ${maxBytes} bytes (MAX_REQUEST_BYTES)`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (error) {
    return new Error(`the body is not JSON: ${(error as Error).message}`);
  }
}
