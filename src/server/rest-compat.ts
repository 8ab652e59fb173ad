import { ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import { authenticate, type ApiKeyAuthenticator } from "../service/api-keys.js";
import type { SandboxImageBuilder } from "../service/sandbox-image-builder.js";
import { invalidArgument } from "../service/rpc-errors.js";
import { toBuildError } from "../service/sandbox-service.js";
import type { RequestHandler } from "./single-port-server.js";

const sandboxService = "/aurea.sandbox.v1.SandboxService";

/** The JSON the Connect handler writes (app.ts's jsonOptions): snake_case names, defaults included. */
export const restJsonOptions = { useProtoFieldName: true, alwaysEmitImplicit: true } as const;

/**
 * The original REST API on the same port: `POST /run` and `GET /health` are rewritten onto the
 * Connect JSON form of Run and Health (same validation, same handlers, same snake_case JSON),
 * `POST /build-image` runs the shared single-flight image build and answers with one JSON object,
 * and the session routes (sessionRoute) are rewritten onto the session RPCs.
 */
export function withRestCompat(
  handler: RequestHandler,
  builder: SandboxImageBuilder,
  authenticator: ApiKeyAuthenticator,
  maxBodyBytes: number,
): RequestHandler {
  return (request, response) => {
    const path = (request.url ?? "").split("?")[0] ?? "";
    const session = sessionRoute(request.method ?? "", path, new URLSearchParams((request.url ?? "").split("?")[1] ?? ""));
    if (session) {
      readBody(request, maxBodyBytes).then(
        (body) => {
          // The session RPC's Connect JSON form: the body as sent, with the path's id and query added.
          const message = { ...body, ...session.fields };
          const payload = Buffer.from(JSON.stringify(message), "utf8");
          // An own property, so it also shadows HTTP/2's getter on the prototype.
          Object.defineProperty(request, "method", { value: "POST", configurable: true });
          request.url = `${sandboxService}/${session.rpc}`;
          request.headers["content-type"] = "application/json";
          delete request.headers["content-length"];
          delete request.headers["transfer-encoding"];
          Object.defineProperty(request, Symbol.asyncIterator, {
            value: async function* () {
              yield payload;
            },
          });
          handler(request, response);
        },
        (error: Error) => {
          // The body as a whole is what is wrong: a violation with no field path.
          const failure = invalidArgument([{ field: "", description: error.message }]);
          sendJson(response, codeToHttpStatus(failure.code), errorToJson(failure, restJsonOptions));
        },
      );
      return;
    }
    if (path === "/run" && request.method === "POST") {
      request.url = `${sandboxService}/Run`;
      request.headers["content-type"] = "application/json";
      handler(request, response);
      return;
    }
    if (path === "/languages" && request.method === "GET") {
      request.url = `${sandboxService}/ListLanguages?connect=v1&encoding=json&message=${encodeURIComponent("{}")}`;
      handler(request, response);
      return;
    }
    if (path === "/health" && request.method === "GET") {
      request.url = `${sandboxService}/Health?connect=v1&encoding=json&message=${encodeURIComponent("{}")}`;
      handler(request, response);
      return;
    }
    if (path === "/build-image" && request.method === "POST") {
      const log: string[] = [];
      // Not routed through Connect (one JSON object, not a stream), so it takes the RPC's own key
      // check and error mapping, answering errors with Connect's HTTP status for each code.
      // Connect's error JSON (code, message, details) plus the original route's fields.
      const fail = (error: ConnectError) =>
        sendJson(response, codeToHttpStatus(error.code), {
          success: false,
          ...errorToJson(error, restJsonOptions),
          error: error.rawMessage,
          log,
        });
      try {
        if (authenticator.enabled) authenticate(authenticator, request.headers.authorization);
      } catch (error) {
        fail(ConnectError.from(error));
        return;
      }
      readSmallJson(request).then(
        (body) => {
          const family = typeof body.family === "string" ? body.family : "";
          const noCache = body.no_cache === true;
          builder.build({ family, noCache, onLog: (line) => log.push(line) }).then(
            (imageId) => sendJson(response, 200, { success: true, image_id: imageId, log }),
            (error: unknown) => fail(toBuildError(error)),
          );
        },
        (error: Error) => fail(invalidArgument([{ field: "", description: error.message }])),
      );
      return;
    }
    handler(request, response);
  };
}

/**
 * The session routes: `POST /sessions` (CreateSession), `GET /sessions` (ListSessions),
 * `GET`, `PATCH` and `DELETE /sessions/{id}` (GetSession, UpdateSession, CloseSession), `POST /sessions/{id}/exec` (Exec),
 * `PUT /sessions/{id}/files` (WriteFiles), `GET /sessions/{id}/files?path=&recursive=true`
 * (ListFiles), `POST /sessions/{id}/files/read` (ReadFiles) and `DELETE /sessions/{id}/files`
 * (DeleteFiles, the paths in the body): each the RPC's JSON, with the id
 * from the path.
 */
export function sessionRoute(
  method: string,
  path: string,
  query: URLSearchParams,
): { rpc: string; fields: Record<string, unknown> } | undefined {
  const match = /^\/sessions(?:\/([^/]+)(\/exec|\/files|\/files\/read)?)?\/?$/.exec(path);
  if (!match) return undefined;
  const [, id, rest] = match;
  if (id === undefined) {
    if (method === "POST") return { rpc: "CreateSession", fields: {} };
    if (method === "GET") return { rpc: "ListSessions", fields: {} };
    return undefined;
  }
  const fields = { session_id: decodeURIComponent(id) };
  const routes: Record<string, string> = {
    "GET ": "GetSession",
    "DELETE ": "CloseSession",
    "PATCH ": "UpdateSession",
    "POST /exec": "Exec",
    "PUT /files": "WriteFiles",
    "GET /files": "ListFiles",
    "POST /files/read": "ReadFiles",
    "DELETE /files": "DeleteFiles",
  };
  const rpc = routes[`${method} ${rest ?? ""}`];
  if (!rpc) return undefined;
  if (rpc === "ListFiles") {
    return { rpc, fields: { ...fields, path: query.get("path") ?? "", recursive: query.get("recursive") === "true" } };
  }
  return { rpc, fields };
}

/** A JSON object body of at most `maxBytes` (an empty body is `{}`). */
async function readBody(request: Parameters<RequestHandler>[0], maxBytes: number): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new Error(`request body over ${maxBytes} bytes (MAX_REQUEST_BYTES)`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error("request body is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("request body is not a JSON object");
  return body as Record<string, unknown>;
}

/** The optional JSON body of `POST /build-image` (`{"family": "native", "no_cache": true}`), at most 4 KiB. */
function readSmallJson(request: Parameters<RequestHandler>[0]): Promise<Record<string, unknown>> {
  return readBody(request, 4096);
}

function sendJson(response: Parameters<RequestHandler>[1], status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  response.statusCode = status;
  response.setHeader("Content-Type", "application/json");
  response.setHeader("Content-Length", Buffer.byteLength(payload));
  response.end(payload);
}
