import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import type { Logger } from "pino";
import type { RequestHandler } from "./single-port-server.js";

export interface PlaygroundRouteOptions {
  /** The built page (`dist/playground`, written by `scripts/build-playground.ts`). */
  readonly directory: string;
  readonly logger: Logger;
}

/**
 * What the page may load and call: its own script and style sheet, the style elements CodeMirror
 * makes (they carry `styleNonce`, new for every page served), images the runs made (as blob: or
 * data: URLs), and Aurea on the same origin. Nothing from any other origin, no inline script, no
 * style attributes, no plugins, never framed.
 */
export function playgroundContentSecurityPolicy(styleNonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${styleNonce}'`,
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Where index.html says the page's style nonce goes; replaced in every copy served. */
const styleNoncePlaceholder = "__STYLE_NONCE__";

/** Paths other than `/playground/<file>` that answer a file of the built page. */
const aliases: Record<string, string> = {
  "/": "index.html",
  "/index.html": "index.html",
  "/favicon.ico": "favicon.svg",
};

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

interface LoadedFile {
  readonly type: string;
  /** A chunk whose name carries its content's hash: browsers may keep it for good. */
  readonly immutable: boolean;
  readonly body: Buffer;
  /** Absent for the page itself, which differs in every copy served (its nonce). */
  readonly gzipped: Buffer | undefined;
  readonly etag: string;
}

/**
 * The playground on the one port: `GET /` and its few assets, read once at start and answered
 * from memory (gzipped when the browser accepts it, revalidated by ETag), each with the security
 * headers above. Every other request goes on to `handler`. The page calls Aurea like any
 * browser client, so API keys apply to it exactly as to any other caller.
 */
export function withPlayground(handler: RequestHandler, options: PlaygroundRouteOptions): RequestHandler {
  const files = loadFiles(options.directory);
  if (!files) {
    options.logger.warn(
      { directory: options.directory },
      "playground not built (npm run build writes it); / answers 503 until it is",
    );
  }
  return (request, response) => {
    const path = (request.url ?? "").split("?")[0] ?? "";
    const name = aliases[path] ?? (path.startsWith("/playground/") ? path.slice("/playground/".length) : undefined);
    // Before the page is built only its HTML path is claimed (to say so); the rest goes on.
    const claimed = name !== undefined && (files ? files.has(name) : name === "index.html");
    if (!claimed || (request.method !== "GET" && request.method !== "HEAD")) {
      handler(request, response);
      return;
    }
    const styleNonce = randomBytes(18).toString("base64");
    setSecurityHeaders(response, styleNonce);
    const file = files?.get(name);
    if (!file) {
      response.statusCode = 503;
      response.setHeader("Content-Type", "text/plain; charset=utf-8");
      response.end("The playground is not built on this server: run `npm run build`.\n");
      return;
    }
    response.setHeader("Content-Type", file.type);
    const send = (body: Buffer) => {
      response.setHeader("Content-Length", body.length);
      response.statusCode = 200;
      if (request.method === "HEAD") response.end();
      else response.end(body);
    };
    if (!file.gzipped) {
      // The page: a nonce of its own in every copy, so never cached nor compressed (a few kilobytes).
      response.setHeader("Cache-Control", "no-store");
      send(Buffer.from(file.body.toString("utf8").replaceAll(styleNoncePlaceholder, styleNonce), "utf8"));
      return;
    }
    // Always revalidated, so a new build is seen at once (unchanged files cost a 304); chunks,
    // named by their content, never change.
    response.setHeader("Cache-Control", file.immutable ? "public, max-age=31536000, immutable" : "no-cache");
    response.setHeader("ETag", file.etag);
    response.setHeader("Vary", "Accept-Encoding");
    if (request.headers["if-none-match"] === file.etag) {
      response.statusCode = 304;
      response.end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(request.headers["accept-encoding"] ?? ""));
    if (gzip) response.setHeader("Content-Encoding", "gzip");
    send(gzip ? file.gzipped : file.body);
  };
}

type HeaderTarget = Parameters<RequestHandler>[1];

function setSecurityHeaders(response: HeaderTarget, styleNonce: string): void {
  response.setHeader("Content-Security-Policy", playgroundContentSecurityPolicy(styleNonce));
  response.setHeader("X-Content-Type-Options", "nosniff");
  response.setHeader("Referrer-Policy", "no-referrer");
  response.setHeader("X-Frame-Options", "DENY");
  response.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  response.setHeader("Cross-Origin-Resource-Policy", "same-origin");
  response.setHeader("Permissions-Policy", "camera=(), microphone=(), geolocation=(), usb=(), payment=()");
}

/** Every file of the built page, by its path under `directory`; undefined when it is not built. */
function loadFiles(directory: string): Map<string, LoadedFile> | undefined {
  if (!existsSync(join(directory, "index.html"))) return undefined;
  const loaded = new Map<string, LoadedFile>();
  for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
    const type = contentTypes[extname(entry.name)];
    if (!entry.isFile() || !type) continue;
    const path = join(entry.parentPath, entry.name);
    const name = relative(directory, path);
    const body = readFileSync(path);
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    const gzipped = name === "index.html" ? undefined : gzipSync(body);
    loaded.set(name, { type, body, gzipped, etag, immutable: name.startsWith("chunks/") });
  }
  return loaded;
}
