import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import type { AureaConfig } from "../config/config.js";

/** One caller's credential. */
export interface ApiKey {
  /** Shown in logs and audit lines; never the secret. */
  readonly id: string;
  readonly secret: string;
  /** Most runs, running or queued, this key may have at once; undefined for no quota of its own. */
  readonly maxConcurrent: number | undefined;
}

/** Smallest secret accepted: anything shorter is guessable. */
const minimumSecretLength = 16;

/**
 * Reads keys written `id:secret[:max-concurrent]`, separated by commas or new lines (blank lines
 * and `#` comments ignored). Never throws: problems come back by line, without the secret.
 */
export function parseApiKeys(text: string, source: string): { keys: ApiKey[]; errors: string[] } {
  const keys: ApiKey[] = [];
  const errors: string[] = [];
  const entries = text
    .split(/[\n,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "" && !entry.startsWith("#"));
  entries.forEach((entry, index) => {
    const [id = "", secret = "", limit, ...extra] = entry.split(":");
    const where = `${source} entry ${index + 1}`;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) errors.push(`${where}: the id must be 1-64 letters, digits, '_', '.' or '-'`);
    else if (secret.length < minimumSecretLength)
      errors.push(`${where} (${id}): the key must have at least ${minimumSecretLength} characters`);
    else if (extra.length > 0 || (limit !== undefined && !/^[1-9]\d{0,5}$/.test(limit))) {
      errors.push(`${where} (${id}): write id:key or id:key:max-concurrent-runs`);
    } else if (keys.some((key) => key.id === id)) errors.push(`${where}: the id ${id} is used twice`);
    else keys.push({ id, secret, maxConcurrent: limit === undefined ? undefined : Number(limit) });
  });
  return { keys, errors };
}

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** Finds the key a bearer token belongs to, comparing in constant time. */
export class ApiKeyAuthenticator {
  private readonly digests: { key: ApiKey; digest: Buffer }[];

  constructor(keys: readonly ApiKey[]) {
    this.digests = keys.map((key) => ({ key, digest: digest(key.secret) }));
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The key named by an `Authorization: Bearer <key>` header, or undefined. */
  identify(authorization: string | null | undefined): ApiKey | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    // Hashing first makes every comparison the same length; every key is compared, so the time
    // taken says nothing about which key, if any, came close.
    const candidate = digest(match?.[1] ?? "");
    let found: ApiKey | undefined;
    for (const entry of this.digests) {
      if (timingSafeEqual(candidate, entry.digest) && match) found = entry.key;
    }
    return found;
  }
}

/** The authenticated caller of the current call, when keys are configured. */
export const callerKey = createContextKey<ApiKey | undefined>(undefined, { description: "authenticated API key" });
/** The client's network address as the server saw it (for the audit line). */
export const clientAddressKey = createContextKey<string>("", { description: "client address" });

/**
 * Requires a valid key on every call except those to `openServices` (health and reflection, so
 * probes and discovery keep working) and `openMethods`.
 */
export function createAuthInterceptor(
  authenticator: ApiKeyAuthenticator,
  open: { services: readonly string[]; methods: readonly string[] },
): Interceptor {
  return (next) => async (request) => {
    const method = `${request.service.typeName}/${request.method.name}`;
    if (open.services.includes(request.service.typeName) || open.methods.includes(method)) return next(request);
    request.contextValues.set(callerKey, authenticate(authenticator, request.header.get("authorization")));
    return next(request);
  };
}

/**
 * The key an `Authorization` header names; throws UNAUTHENTICATED without a valid one. The one
 * check for every route that needs a key, RPC or REST.
 */
export function authenticate(authenticator: ApiKeyAuthenticator, authorization: string | null | undefined): ApiKey {
  const key = authenticator.identify(authorization);
  if (!key) throw new ConnectError("a valid API key is required (Authorization: Bearer <key>)", Code.Unauthenticated);
  return key;
}

/** Keys from API_KEYS and API_KEYS_FILE; throws with every problem (never a secret) named. */
export function loadApiKeys(config: Pick<AureaConfig, "apiKeys" | "apiKeysFile">): ApiKey[] {
  const fromEnv = parseApiKeys(config.apiKeys, "API_KEYS");
  let fromFile = { keys: [] as ReturnType<typeof parseApiKeys>["keys"], errors: [] as string[] };
  if (config.apiKeysFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(config.apiKeysFile, "utf8");
    } catch (error) {
      throw new Error(`API_KEYS_FILE ${config.apiKeysFile} cannot be read: ${(error as Error).message}`);
    }
    fromFile = parseApiKeys(text, `API_KEYS_FILE ${config.apiKeysFile}`);
  }
  const keys = [...fromEnv.keys, ...fromFile.keys];
  const errors = [...fromEnv.errors, ...fromFile.errors];
  const ids = keys.map((key) => key.id);
  const repeated = ids.filter((id, index) => ids.indexOf(id) !== index);
  if (repeated.length > 0) errors.push(`API key ids used twice: ${[...new Set(repeated)].join(", ")}`);
  if (errors.length > 0) throw new Error(`invalid API keys: ${errors.join("; ")}`);
  return keys;
}
