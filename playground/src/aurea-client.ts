/**
 * The page's one client of Aurea: Connect over fetch to the origin that served the page, binary
 * protobuf, the API key from the tab's own storage on every call.
 */
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { SandboxService } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";

export type AureaClient = Client<typeof SandboxService>;

/** The API key, kept in sessionStorage: this tab only, gone when it closes, never in a URL. */
export interface KeyStore {
  get(): string;
  set(key: string): void;
}

const storageName = "aurea.playground.apiKey";

export function tabKeyStore(): KeyStore {
  return {
    get: () => sessionStorage.getItem(storageName) ?? "",
    set: (key) => (key === "" ? sessionStorage.removeItem(storageName) : sessionStorage.setItem(storageName, key)),
  };
}

/** The Authorization header a call carries: the key as a bearer token, or none without a key. */
export function authorizationHeaders(keys: KeyStore): Record<string, string> {
  const key = keys.get();
  return key === "" ? {} : { Authorization: `Bearer ${key}` };
}

export function createAureaClient(keys: KeyStore): AureaClient {
  const withKey: Interceptor = (next) => (request) => {
    for (const [name, value] of Object.entries(authorizationHeaders(keys))) request.header.set(name, value);
    return next(request);
  };
  const transport = createConnectTransport({ baseUrl: location.origin, useBinaryFormat: true, interceptors: [withKey] });
  return createClient(SandboxService, transport);
}

/** A failed call in words, with what the user can do about it. */
export function describeCallError(error: unknown, keys: KeyStore): string {
  const failure = ConnectError.from(error);
  const hints: Partial<Record<Code, string>> = {
    [Code.Unauthenticated]:
      keys.get() === "" ? "This server needs an API key: enter it above." : "The server refused this API key.",
    [Code.PermissionDenied]: "This API key may not do that.",
    [Code.ResourceExhausted]: "The server is full: try again in a moment.",
    [Code.Unavailable]: "The server cannot run this now (its engine or this language's image is missing).",
  };
  const hint = hints[failure.code];
  return `${Code[failure.code]}: ${failure.rawMessage}${hint ? ` — ${hint}` : ""}`;
}

export function isCancel(error: unknown): boolean {
  return ConnectError.from(error).code === Code.Canceled;
}
