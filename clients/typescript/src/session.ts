import { type CallOptions, type Client, Code } from "@connectrpc/connect";
import { runEvents, type RunEvent } from "./events.js";
import type {
  CreateSessionResponse,
  FileEntry,
  ReadFilesResponse,
  RunResponse,
  SandboxService,
  SessionInfo,
  SnapshotInfo,
} from "./gen/aurea/sandbox/v1/sandbox_pb.js";
import { type ExecInput, execRequest, splitFiles, type TextOrBytes } from "./inputs.js";
import { normalizeError, type RetryPolicy, type RetrySafety, serverAnswered, withRetries } from "./retry.js";

/** How a Session reaches the server: its owner directly when reachable, else through any replica. */
export interface SessionRoute {
  /** The client for this session's calls (the owner's, once it answered; else the base URL's). */
  client(): Promise<Client<typeof SandboxService>>;
  /** The owner did not answer an idempotent call: go through the base URL from now on. */
  ownerUnreachable(): void;
}

/** Per call: cancellation and a deadline. */
export interface CallSettings {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

// Node 20 and current browsers have Symbol.asyncDispose; elsewhere the registered symbol stands in.
const asyncDispose: typeof Symbol.asyncDispose =
  (Symbol as { asyncDispose?: typeof Symbol.asyncDispose }).asyncDispose ??
  (Symbol.for("Symbol.asyncDispose") as typeof Symbol.asyncDispose);

/**
 * A sandbox that lives across calls (CreateSession). Each method is one RPC; calls go to the
 * replica that owns the session when it can be reached (`ownerAddress`), else to the base URL,
 * whose replica forwards them. `await using session = await aurea.createSession(...)` closes it.
 */
export class Session {
  readonly id: string;
  /** The replica holding it (host:port), when the server runs with peers; else empty. */
  readonly ownerAddress: string;
  /** What the server said of it when created (or last updated). */
  info: SessionInfo | undefined;

  constructor(
    created: CreateSessionResponse,
    private readonly route: SessionRoute,
    private readonly policy: RetryPolicy,
    private readonly headers: Record<string, string>,
  ) {
    this.id = created.sessionId;
    this.ownerAddress = created.ownerAddress;
    this.info = created.session;
  }

  private options(settings: CallSettings = {}): CallOptions {
    return { headers: this.headers, signal: settings.signal, timeoutMs: settings.timeoutMs };
  }

  private async call<T>(
    safety: RetrySafety,
    settings: CallSettings | undefined,
    rpc: (client: Client<typeof SandboxService>) => Promise<T>,
  ) {
    return withRetries(
      async () => {
        const client = await this.route.client();
        try {
          return await rpc(client);
        } catch (error) {
          // An idempotent call the owner did not answer at all is tried again through the base URL.
          const failure = normalizeError(error);
          if (safety === "always" && failure.code === Code.Unavailable && !serverAnswered(failure)) this.route.ownerUnreachable();
          throw failure;
        }
      },
      { policy: this.policy, safety, signal: settings?.signal },
    );
  }

  /** Runs code (or a command) in the session; a stateful session runs it as a cell. */
  exec(input: string | ExecInput, settings?: CallSettings): Promise<RunResponse> {
    return this.call("refused", settings, (client) => client.exec(execRequest(this.id, input), this.options(settings)));
  }

  /** As exec, streamed: output as it is written, then the result. */
  async *execStream(input: string | ExecInput, settings?: CallSettings): AsyncGenerator<RunEvent, RunResponse> {
    const client = await this.route.client();
    return yield* runEvents(client.execStream(execRequest(this.id, input), this.options(settings)));
  }

  /** Writes files into the workspace (text as text, bytes as binary); answers the names written. */
  async writeFiles(files: Readonly<Record<string, TextOrBytes>>, settings?: CallSettings): Promise<string[]> {
    const response = await this.call("always", settings, (client) =>
      client.writeFiles({ sessionId: this.id, ...splitFiles(files) }, this.options(settings)),
    );
    return response.names;
  }

  /** Reads files: `files` (text), `binaryFiles` (bytes) and what was skipped, with the reason. */
  readFiles(paths: readonly string[], settings?: CallSettings): Promise<ReadFilesResponse> {
    return this.call("always", settings, (client) =>
      client.readFiles({ sessionId: this.id, paths: [...paths] }, this.options(settings)),
    );
  }

  /** Lists a directory of the workspace (the workspace itself by default). */
  async listFiles(path = "", options: CallSettings & { recursive?: boolean } = {}): Promise<FileEntry[]> {
    const response = await this.call("always", options, (client) =>
      client.listFiles({ sessionId: this.id, path, recursive: options.recursive ?? false }, this.options(options)),
    );
    return response.entries;
  }

  /** A call that answers the session as it is now, which `info` keeps. */
  private async describing(
    settings: CallSettings | undefined,
    rpc: (client: Client<typeof SandboxService>, options: CallOptions) => Promise<{ session?: SessionInfo }>,
  ): Promise<SessionInfo | undefined> {
    const response = await this.call("always", settings, (client) => rpc(client, this.options(settings)));
    this.info = response.session;
    return response.session;
  }

  /** Changes the session's ttl (from now) or idle timeout, in seconds. */
  update(change: { ttl?: number; idleTimeout?: number }, settings?: CallSettings): Promise<SessionInfo | undefined> {
    const request = { sessionId: this.id, ttl: change.ttl ?? 0, idleTimeout: change.idleTimeout ?? 0 };
    return this.describing(settings, (client, options) => client.updateSession(request, options));
  }

  /** Freezes the session (no CPU, memory and files kept); any later call resumes it. */
  pause(settings?: CallSettings): Promise<SessionInfo | undefined> {
    return this.describing(settings, (client, options) => client.pauseSession({ sessionId: this.id }, options));
  }

  /** Thaws a paused session. */
  resume(settings?: CallSettings): Promise<SessionInfo | undefined> {
    return this.describing(settings, (client, options) => client.resumeSession({ sessionId: this.id }, options));
  }

  /** Saves the workspace; `createSession({ fromSnapshot })` starts sessions from it. */
  async snapshot(name = "", settings?: CallSettings): Promise<SnapshotInfo | undefined> {
    const response = await this.call("refused", settings, (client) =>
      client.snapshotSession({ sessionId: this.id, name }, this.options(settings)),
    );
    return response.snapshot;
  }

  /** Closes the session: its sandbox and files are removed. */
  close(settings?: CallSettings): Promise<SessionInfo | undefined> {
    return this.describing(settings, (client, options) => client.closeSession({ sessionId: this.id }, options));
  }

  async [asyncDispose](): Promise<void> {
    await this.close().catch(() => undefined);
  }
}
