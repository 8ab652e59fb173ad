import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { AttachStreamDemuxer } from "../runner/output-capture.js";
import {
  type AgentExit,
  type AgentFrame,
  AgentFrameParser,
  type AgentRequest,
  type AgentStopReason,
  encodeAgentRequest,
  type SessionTimes,
} from "./agent-protocol.js";

/** The agent is gone (its container ended, the engine went away) or broke the protocol. */
export class AgentLostError extends Error {
  override readonly name = "AgentLostError";
}

/** What an exec's caller hears while it runs. */
export interface ExecListener {
  onOutput?(stream: "stdout" | "stderr", chunk: Buffer): void;
  onFile?(name: string, data: Buffer): void;
}

/** Most bytes one frame from the agent may carry: a cell's figure, or an output chunk. */
const maxFrameBytes = 64 * 1024 * 1024;

/**
 * One session's agent, over its container's attach stream: requests go out on stdin, frames come
 * back on stdout and are routed to the exec they name; the agent's own stderr is logged. When the
 * stream ends every exec still waiting fails with AgentLostError.
 */
export class AgentConnection {
  private readonly execs = new Map<string, { listener: ExecListener; settle: (exit: AgentExit | Error) => void }>();
  private readonly hellos = new Map<string, (frame: AgentFrame) => void>();
  private lostReason: string | undefined;
  private stderrTail = "";
  private counter = 0;
  /** Resolves with the reason once the agent can no longer be reached. */
  readonly lost: Promise<string>;
  private markLost: (reason: string) => void = () => undefined;

  constructor(
    private readonly attachment: Duplex,
    private readonly log: Logger,
  ) {
    this.lost = new Promise((resolve) => (this.markLost = resolve));
    const parser = new AgentFrameParser((frame) => this.route(frame), maxFrameBytes);
    const demuxer = new AttachStreamDemuxer((stream, chunk) => {
      if (stream === "stderr") {
        this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-2000);
        return;
      }
      try {
        parser.push(chunk);
      } catch (error) {
        this.fail(`the agent broke its protocol: ${(error as Error).message}`);
      }
    });
    attachment.on("data", (chunk: Buffer) => demuxer.push(chunk));
    attachment.on("error", (error: Error) => this.fail(`the attach stream failed: ${error.message}`));
    attachment.on("close", () => this.fail("the container's output ended"));
    attachment.on("end", () => this.fail("the container's output ended"));
    attachment.resume();
  }

  /** Why the agent is gone, or undefined while it is there. */
  get lostBecause(): string | undefined {
    return this.lostReason;
  }

  /** Sends an empty line (ending any line a predecessor left unfinished) and waits for the agent's answer. */
  async hello(timeoutMs: number): Promise<{ execs: number; kernels: readonly string[]; times: SessionTimes | undefined }> {
    const id = this.nextId("hello");
    const answer = new Promise<AgentFrame>((resolve) => this.hellos.set(id, resolve));
    this.attachment.write("\n");
    this.send({ op: "hello", id });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AgentLostError(`the agent did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const lost = this.lost.then((reason) => Promise.reject(new AgentLostError(reason)));
    try {
      const frame = await Promise.race([answer, timeout, lost]);
      return frame.kind === "ready"
        ? { execs: frame.execs, kernels: frame.kernels, times: frame.times }
        : { execs: 0, kernels: [], times: undefined };
    } finally {
      clearTimeout(timer);
      this.hellos.delete(id);
    }
  }

  /**
   * Runs an exec or cell and resolves with its exit frame; output and files reach `listener` as
   * they come. Rejects with AgentLostError when the agent goes away first.
   */
  run(request: Extract<AgentRequest, { op: "exec" | "cell" }>, payload: Uint8Array, listener: ExecListener): Promise<AgentExit> {
    if (this.lostReason !== undefined) return Promise.reject(new AgentLostError(this.lostReason));
    return new Promise<AgentExit>((resolve, reject) => {
      this.execs.set(request.id, {
        listener,
        settle: (result) => {
          this.execs.delete(request.id);
          if (result instanceof Error) reject(result);
          else resolve(result);
        },
      });
      this.send(request, payload);
    });
  }

  /** Asks the agent to end an exec; its exit frame answers. */
  kill(target: string, reason: AgentStopReason): void {
    if (this.lostReason === undefined) this.send({ op: "kill", id: this.nextId("kill"), target, reason });
  }

  /** Tells the agent the session's new times, which it gives back to a server that adopts it. */
  rememberTimes(times: SessionTimes): void {
    if (this.lostReason !== undefined) return;
    this.send({ op: "times", id: this.nextId("times"), expires_at_ms: times.expiresAtMs, idle_timeout_ms: times.idleTimeoutMs });
  }

  /** Asks the agent to kill everything and exit. */
  close(): void {
    if (this.lostReason === undefined) this.send({ op: "close", id: this.nextId("close") });
  }

  /** Stops reading without telling the agent anything (the container goes on; a later attach may take over). */
  detach(): void {
    this.fail("detached");
    this.attachment.destroy();
  }

  nextId(prefix: string): string {
    this.counter += 1;
    return `${prefix}-${this.counter}`;
  }

  private send(request: AgentRequest, payload?: Uint8Array): void {
    this.attachment.write(encodeAgentRequest(request, payload));
  }

  private route(frame: AgentFrame): void {
    if (frame.kind === "ready") {
      if (frame.id !== null) this.hellos.get(frame.id)?.(frame);
      return;
    }
    if (frame.kind === "error") {
      this.log.warn({ agent_error: frame.error }, "session agent refused a request");
      return;
    }
    const exec = this.execs.get(frame.id);
    if (!exec) return;
    switch (frame.kind) {
      case "stdout":
      case "stderr":
        exec.listener.onOutput?.(frame.kind, frame.data);
        break;
      case "file":
        exec.listener.onFile?.(frame.name, frame.data);
        break;
      case "exit":
        exec.settle(frame);
        break;
    }
  }

  private fail(reason: string): void {
    if (this.lostReason !== undefined) return;
    const tail = this.stderrTail.trim();
    this.lostReason = tail && reason !== "detached" ? `${reason} (agent: ${tail.split("\n").slice(-3).join(" | ")})` : reason;
    this.markLost(this.lostReason);
    for (const exec of [...this.execs.values()]) exec.settle(new AgentLostError(this.lostReason));
  }
}
