import type { RequestHandler } from "./single-port-server.js";

const grpcMessage = "grpc-message";

/**
 * Re-encodes a `grpc-message` value the way the gRPC spec says: percent-encode only bytes outside
 * printable ASCII (0x20-0x7E) and `%` itself. connect-es encodes with encodeURIComponent, which
 * also escapes `:`, `,`, `/` and friends; spec decoders (Go, C++, grpcurl) undo either, but
 * @grpc/grpc-js decodes with decodeURI and would show callers "language%3A ..." verbatim.
 */
export function specEncodeGrpcMessage(value: string): string {
  let text: string;
  try {
    text = decodeURIComponent(value);
  } catch {
    return value;
  }
  let encoded = "";
  for (const byte of Buffer.from(text, "utf8")) {
    encoded +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return encoded;
}

type NodeHeaders = Record<string, string | string[] | number | undefined>;

function rewrite(headers: unknown): void {
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) return;
  const record = headers as NodeHeaders;
  const value = record[grpcMessage];
  if (typeof value === "string") record[grpcMessage] = specEncodeGrpcMessage(value);
}

/** Wraps a handler so every grpc-message it sends, in headers or trailers, is spec-encoded. */
export function withSpecGrpcMessages(handler: RequestHandler): RequestHandler {
  return (request, response) => {
    const contentType = request.headers["content-type"] ?? "";
    if (contentType.startsWith("application/grpc") && !contentType.startsWith("application/grpc-web")) {
      const writeHead = response.writeHead.bind(response) as (...args: unknown[]) => unknown;
      const addTrailers = response.addTrailers.bind(response) as (headers: unknown) => void;
      (response as { writeHead: unknown }).writeHead = (...args: unknown[]) => {
        for (const arg of args) rewrite(arg);
        return writeHead(...args);
      };
      (response as { addTrailers: unknown }).addTrailers = (headers: unknown) => {
        rewrite(headers);
        addTrailers(headers);
      };
    }
    handler(request, response);
  };
}
