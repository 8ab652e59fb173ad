/**
 * The wire between the server and a session's agent (sandbox/programs/session-agent/), both ways
 * the same framing: one line of JSON carrying `size`, then exactly `size` raw bytes. Pure: no I/O
 * here, so every rule is unit-tested without a container.
 */

/** A request to the agent; `size` is filled in from the payload. */
export type AgentRequest =
  | { readonly op: "hello"; readonly id: string }
  | {
      readonly op: "exec";
      readonly id: string;
      readonly argv: readonly string[];
      readonly env: readonly string[];
      /** Seconds. */
      readonly timeout: number;
      readonly output_limit: number;
      /** Written from the payload's first `code_size` bytes before the program starts. */
      readonly code_file?: string;
      readonly code_size?: number;
    }
  | {
      readonly op: "cell";
      readonly id: string;
      readonly kernel: { readonly name: string; readonly argv: readonly string[] };
      readonly timeout: number;
      readonly output_limit: number;
    }
  | { readonly op: "kill"; readonly id: string; readonly target: string; readonly reason: AgentStopReason }
  /** The session's times as UpdateSession left them: the agent keeps them for a server that adopts it. */
  | { readonly op: "times"; readonly id: string; readonly expires_at_ms: number; readonly idle_timeout_ms: number }
  | { readonly op: "close"; readonly id: string };

/** Why the agent ended an exec before it ended on its own. */
export type AgentStopReason = "timeout" | "output_limit" | "cancelled" | "closed";

/** A session's expiry and idle timeout, as UpdateSession set them. */
export interface SessionTimes {
  readonly expiresAtMs: number;
  readonly idleTimeoutMs: number;
}

/** An exception a stateful cell raised, as its interpreter described it. */
export interface CellException {
  readonly name: string;
  readonly value: string;
  readonly traceback: string;
}

/** How an exec (or cell) ended, as the agent reports it. */
export interface AgentExit {
  readonly kind: "exit";
  readonly id: string;
  /** Exit status, 128 + N for signal N; null when the exec never started (`error` says why). */
  readonly status: number | null;
  readonly cpu_ns?: number | null;
  readonly peak_rss?: number | null;
  readonly wall_ms?: number;
  readonly stopped_by?: AgentStopReason | null;
  /** OOM kills, forks refused at the pids limit, and times memory use reached its limit in the session's container while the exec ran. */
  readonly oom_kills?: number;
  readonly pids_refused?: number;
  readonly memory_at_limit?: number;
  /** The workspace's free blocks and file slots when the exec ended; null when unreadable. */
  readonly workspace_free_blocks?: number | null;
  readonly workspace_free_files?: number | null;
  /** The exec could not start because a fork was refused: the session's process limit is full. */
  readonly refused?: "processes";
  /** A cell's interpreter ended during it. */
  readonly state_lost?: boolean;
  /** A cell's trailing expression. */
  readonly value?: string | null;
  /** The exception a cell raised and did not catch. */
  readonly exception?: CellException | null;
  /** What a cell displayed, in order (Jupyter's display-data: MIME type to text or base64). */
  readonly results?: readonly { readonly data: Readonly<Record<string, string>>; readonly is_main_result: boolean }[];
  readonly error?: string;
}

export type AgentFrame =
  | {
      readonly kind: "ready";
      readonly id: string | null;
      readonly execs: number;
      readonly kernels: readonly string[];
      /** The times the server last told the agent (UpdateSession), if any. */
      readonly times: SessionTimes | undefined;
    }
  | { readonly kind: "stdout" | "stderr"; readonly id: string; readonly data: Buffer }
  | { readonly kind: "file"; readonly id: string; readonly name: string; readonly data: Buffer }
  | AgentExit
  | { readonly kind: "error"; readonly id: string | null; readonly error: string };

/** Encodes a request and its payload (stdin, or a cell) for the agent's stdin. */
export function encodeAgentRequest(request: AgentRequest, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const header = JSON.stringify({ ...request, size: payload.length });
  return Buffer.concat([Buffer.from(`${header}\n`, "utf8"), payload]);
}

/** A frame the agent sent that breaks the protocol: the session's agent cannot be trusted any more. */
export class AgentProtocolError extends Error {
  override readonly name = "AgentProtocolError";
}

/** Longest header line accepted from the agent. */
const maxHeaderBytes = 64 * 1024;

/**
 * Incremental parser of the agent's frames. Payloads are bounded by `maxPayloadBytes`; a header
 * that is not a JSON object with a known kind, or is too long, throws AgentProtocolError.
 */
export class AgentFrameParser {
  private pending: Buffer = Buffer.alloc(0);
  private header: Record<string, unknown> | undefined;
  private needed = 0;

  constructor(
    private readonly onFrame: (frame: AgentFrame) => void,
    private readonly maxPayloadBytes: number,
  ) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      if (this.header === undefined) {
        const newline = this.pending.indexOf(10);
        if (newline < 0) {
          if (this.pending.length > maxHeaderBytes) throw new AgentProtocolError("a header line over 64 KiB");
          return;
        }
        const line = this.pending.subarray(0, newline).toString("utf8");
        this.pending = this.pending.subarray(newline + 1);
        if (line.trim() === "") continue;
        this.header = parseHeader(line);
        this.needed = this.header.size as number;
        if (this.needed > this.maxPayloadBytes) {
          throw new AgentProtocolError(`a payload of ${this.needed} bytes, over ${this.maxPayloadBytes}`);
        }
      }
      if (this.pending.length < this.needed) return;
      const data = Buffer.from(this.pending.subarray(0, this.needed));
      this.pending = this.pending.subarray(this.needed);
      const header = this.header;
      this.header = undefined;
      this.onFrame(toFrame(header, data));
    }
  }
}

const kinds = new Set(["ready", "stdout", "stderr", "file", "exit", "error"]);

function parseHeader(line: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new AgentProtocolError(`an unreadable header: ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new AgentProtocolError("a header that is not an object");
  }
  const header = parsed as Record<string, unknown>;
  if (typeof header.kind !== "string" || !kinds.has(header.kind)) {
    throw new AgentProtocolError(`a frame of unknown kind ${JSON.stringify(header.kind)}`);
  }
  if (!Number.isSafeInteger(header.size) || (header.size as number) < 0) {
    throw new AgentProtocolError("a frame without a valid size");
  }
  return header;
}

function toFrame(header: Record<string, unknown>, data: Buffer): AgentFrame {
  const id = typeof header.id === "string" ? header.id : null;
  switch (header.kind) {
    case "stdout":
    case "stderr":
      if (id === null) throw new AgentProtocolError("output without an exec id");
      return { kind: header.kind, id, data };
    case "file":
      if (id === null || typeof header.name !== "string") throw new AgentProtocolError("a file without an exec id or name");
      return { kind: "file", id, name: header.name, data };
    case "ready":
      return {
        kind: "ready",
        id,
        execs: typeof header.execs === "number" ? header.execs : 0,
        kernels: Array.isArray(header.kernels) ? header.kernels.filter((name): name is string => typeof name === "string") : [],
        times: timesOf(header.times),
      };
    case "error":
      return { kind: "error", id, error: String(header.error ?? "") };
    default:
      if (id === null) throw new AgentProtocolError("an exit without an exec id");
      return { ...(header as object), kind: "exit", id } as AgentExit;
  }
}

/** The times in a ready frame, when they are two whole numbers of milliseconds. */
function timesOf(value: unknown): SessionTimes | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { expires_at_ms: expiresAtMs, idle_timeout_ms: idleTimeoutMs } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(expiresAtMs) || !Number.isSafeInteger(idleTimeoutMs)) return undefined;
  return { expiresAtMs: expiresAtMs as number, idleTimeoutMs: idleTimeoutMs as number };
}
