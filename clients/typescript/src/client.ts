import { type CallOptions, type Client, Code, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { runEvents, type RunEvent } from "./events.js";
import {
  type BuildImageResponse,
  type CreateSessionRequestSchema,
  type ListLanguagesResponse,
  type RunResponse,
  SandboxService,
  type SnapshotInfo,
} from "./gen/aurea/sandbox/v1/sandbox_pb.js";
import { type Fields, type RunInput, runRequest, splitFiles, type TextOrBytes } from "./inputs.js";
import { normalizeError, type RetryPolicy, serverAnswered, withRetries } from "./retry.js";
import { type CallSettings, Session, type SessionRoute } from "./session.js";

export interface AureaClientOptions {
  /** The server (or the load balancer in front of the replicas): `http://localhost:8000`. */
  readonly baseUrl: string;
  /** An API key, sent as `Authorization: Bearer <key>` on every call. */
  readonly apiKey?: string;
  /**
   * How calls travel. Default: Connect over fetch (binary), in Node 20+ and browsers alike. A
   * function is given a base URL and makes a transport for it (so session calls can go to their
   * owner's address); a Transport object is used for every call, and sessions are not pinned.
   */
  readonly transport?: Transport | ((baseUrl: string) => Transport);
  /** Retries of UNAVAILABLE (the README's policy by default: 5 attempts, 0.1 s to 2 s). */
  readonly retry?: RetryPolicy;
  /** Send session calls straight to `owner_address` when it answers (default true). */
  readonly pinSessions?: boolean;
}

/** A session's creation: CreateSessionRequest's fields, files as text or bytes. */
export type SessionInput = Omit<Fields<typeof CreateSessionRequestSchema>, "files" | "binaryFiles"> & {
  files?: Readonly<Record<string, TextOrBytes>>;
};

export interface AureaClient {
  /** Runs a program and answers its whole result. Retried safely: it carries a request_id. */
  run(input: RunInput, settings?: CallSettings): Promise<RunResponse>;
  /** Runs a program, streaming: `started`, output as written, each judged case, then `result`. */
  runStream(input: RunInput, settings?: CallSettings): AsyncGenerator<RunEvent, RunResponse>;
  /** The languages, runtimes and session bounds the server offers. */
  listLanguages(settings?: CallSettings): Promise<ListLanguagesResponse>;
  /** Builds an image family (all when `family` is empty), streaming its log. */
  buildImage(request?: { family?: string; noCache?: boolean }, settings?: CallSettings): AsyncIterable<BuildImageResponse>;
  /** Creates a session; its calls go to its owner where that can be reached. */
  createSession(input: SessionInput, settings?: CallSettings): Promise<Session>;
  /** The caller's snapshots (Session.snapshot makes them). */
  listSnapshots(settings?: CallSettings): Promise<SnapshotInfo[]>;
  /** Removes one of the caller's snapshots. */
  deleteSnapshot(snapshotId: string, settings?: CallSettings): Promise<SnapshotInfo | undefined>;
  /** The generated Connect client underneath, for any RPC this wrapper does not cover. */
  readonly raw: Client<typeof SandboxService>;
}

/** A new request id: the same on every retry of one call, unique across calls. */
function newRequestId(): string {
  return `aurea-client-${globalThis.crypto.randomUUID()}`;
}

/**
 * A typed Aurea client over connect-es, with the README's retry policy built in: UNAVAILABLE is
 * retried with backoff; a unary `run` sets a `request_id` so a retry never runs a program twice;
 * execs are retried only when the server itself refused them (the program never started).
 */
export function createAureaClient(options: AureaClientOptions): AureaClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const transportFor = (url: string): Transport =>
    typeof options.transport === "function"
      ? options.transport(url)
      : (options.transport ?? createConnectTransport({ baseUrl: url, useBinaryFormat: true }));
  const raw = createClient(SandboxService, transportFor(baseUrl));
  const headers: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  const policy = options.retry ?? {};
  const callOptions = (settings: CallSettings = {}): CallOptions => ({
    headers,
    signal: settings.signal,
    timeoutMs: settings.timeoutMs,
  });
  const pinning = (options.pinSessions ?? true) && typeof options.transport !== "object";
  const scheme = new URL(baseUrl).protocol;

  /** Session calls: the owner's address once it answered a GetSession, the base URL otherwise. */
  function routeTo(sessionId: string, ownerAddress: string): SessionRoute {
    let chosen: Promise<Client<typeof SandboxService>> | undefined;
    return {
      client() {
        chosen ??= (async () => {
          if (!pinning || ownerAddress === "") return raw;
          const owner = createClient(SandboxService, transportFor(`${scheme}//${ownerAddress}`));
          try {
            await owner.getSession({ sessionId }, { headers, timeoutMs: 2000 });
            return owner;
          } catch (error) {
            const failure = normalizeError(error);
            // Unreachable from here (another network, a NAT): any replica forwards.
            if (failure.code === Code.Unavailable && !serverAnswered(failure)) return raw;
            if (failure.code === Code.DeadlineExceeded) return raw;
            return owner;
          }
        })();
        return chosen;
      },
      ownerUnreachable() {
        chosen = Promise.resolve(raw);
      },
    };
  }

  return {
    raw,
    run(input, settings) {
      const request = runRequest({ ...input, requestId: input.requestId || newRequestId() });
      return withRetries(() => raw.run(request, callOptions(settings)), { policy, safety: "always", signal: settings?.signal });
    },
    runStream(input, settings) {
      return runEvents(raw.runStream(runRequest(input), callOptions(settings)));
    },
    listLanguages(settings) {
      return withRetries(() => raw.listLanguages({}, callOptions(settings)), {
        policy,
        safety: "always",
        signal: settings?.signal,
      });
    },
    buildImage(request = {}, settings) {
      return raw.buildImage({ family: request.family ?? "", noCache: request.noCache ?? false }, callOptions(settings));
    },
    async listSnapshots(settings) {
      const response = await withRetries(() => raw.listSnapshots({}, callOptions(settings)), {
        policy,
        safety: "always",
        signal: settings?.signal,
      });
      return response.snapshots;
    },
    async deleteSnapshot(snapshotId, settings) {
      const response = await withRetries(() => raw.deleteSnapshot({ snapshotId }, callOptions(settings)), {
        policy,
        safety: "always",
        signal: settings?.signal,
      });
      return response.snapshot;
    },
    async createSession(input, settings) {
      const { files, ...rest } = input;
      const request = { ...rest, ...splitFiles(files ?? {}) };
      const created = await withRetries(() => raw.createSession(request, callOptions(settings)), {
        policy,
        safety: "refused",
        signal: settings?.signal,
      });
      return new Session(created, routeTo(created.sessionId, created.ownerAddress), policy, headers);
    },
  };
}
