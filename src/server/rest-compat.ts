import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { authenticate, type ApiKeyAuthenticator } from "../service/api-keys.js";
import type { SandboxImageBuilder } from "../service/sandbox-image-builder.js";
import { toBuildError } from "../service/sandbox-service.js";
import type { RequestHandler } from "./single-port-server.js";

const sandboxService = "/aurea.sandbox.v1.SandboxService";

/**
 * The original REST API on the same port: `POST /run` and `GET /health` are rewritten onto the
 * Connect JSON form of Run and Health (same validation, same handlers, same snake_case JSON), and
 * `POST /build-image` runs the shared single-flight image build and answers with one JSON object.
 */
export function withRestCompat(
  handler: RequestHandler,
  builder: SandboxImageBuilder,
  authenticator: ApiKeyAuthenticator,
): RequestHandler {
  return (request, response) => {
    const path = (request.url ?? "").split("?")[0];
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
      const fail = (error: ConnectError) =>
        sendJson(response, codeToHttpStatus(error.code), {
          success: false,
          code: codeToString(error.code),
          message: error.rawMessage,
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
        (error: Error) => fail(new ConnectError(error.message, Code.InvalidArgument)),
      );
      return;
    }
    handler(request, response);
  };
}

/** The optional JSON body of `POST /build-image` (`{"family": "native", "no_cache": true}`), at most 4 KiB. */
async function readSmallJson(request: Parameters<RequestHandler>[0]): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > 4096) throw new Error("request body over 4 KiB");
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

function sendJson(response: Parameters<RequestHandler>[1], status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  response.statusCode = status;
  response.setHeader("Content-Type", "application/json");
  response.setHeader("Content-Length", Buffer.byteLength(payload));
  response.end(payload);
}
