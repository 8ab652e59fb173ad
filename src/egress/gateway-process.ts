import type { Duplex } from "node:stream";
import { AttachStreamDemuxer } from "../docker/attach-stream.js";
import type { Logger } from "pino";
import { EngineUnavailableError } from "../docker/engine-errors.js";

/**
 * The server's side of one running gateway container's control wire
 * (sandbox/programs/egress-gateway/gateway_main.py): JSON lines both ways over the attach stream.
 */

/** Egress cannot be given right now: the run or session is refused with UNAVAILABLE, this message. */
export class EgressUnavailableError extends EngineUnavailableError {
  override readonly name = "EgressUnavailableError";
}

/** How a lease's network ended before the run did. */
export type EgressEnd =
  | { readonly kind: "limit"; readonly limit: "bytes" | "connections" }
  | { readonly kind: "lost"; readonly message: string };

/** What a gateway's wire needs of its server. */
interface GatewayWireOptions {
  readonly logger: Logger;
  readonly onConnection?: ((allowed: boolean, reason: string) => void) | undefined;
}

/** Longest the gateway may take to start, or to answer a control message. */
export const gatewayAnswerMs = 10_000;

interface GatewayMessage {
  readonly op: string;
  readonly id?: string;
  readonly [key: string]: unknown;
}

/** One running gateway container and its control wire. */
export class GatewayProcess {
  private readonly waiting = new Map<string, (message: GatewayMessage) => void>();
  private readonly ends = new Map<string, (end: EgressEnd) => void>();
  private lostMessage: string | undefined;
  private buffered = "";
  /** The last request's number: its answer repeats it. */
  private sequence = 0;
  readonly ready: Promise<void>;

  constructor(
    readonly id: string,
    private readonly attachment: Duplex,
    private readonly options: GatewayWireOptions,
    onLost: () => void,
  ) {
    let markReady: () => void = () => undefined;
    let failReady: (error: Error) => void = () => undefined;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    this.ready.catch(() => undefined);
    const demuxer = new AttachStreamDemuxer((stream, chunk) => {
      if (stream === "stderr") {
        options.logger.warn({ gateway: id, stderr: chunk.toString("utf8").slice(0, 2000) }, "egress gateway wrote to stderr");
        return;
      }
      this.buffered += chunk.toString("utf8");
      for (let end = this.buffered.indexOf("\n"); end >= 0; end = this.buffered.indexOf("\n")) {
        const line = this.buffered.slice(0, end);
        this.buffered = this.buffered.slice(end + 1);
        let message: GatewayMessage;
        try {
          message = JSON.parse(line) as GatewayMessage;
        } catch {
          // The gateway writes only JSON lines; anything else is logged, never trusted.
          options.logger.warn({ gateway: id, line: line.slice(0, 200) }, "egress gateway wrote a line that is not JSON");
          continue;
        }
        if (message.op === "ready") markReady();
        else this.receive(message);
      }
    });
    attachment.on("data", (chunk: Buffer) => demuxer.push(chunk));
    const lost = () => {
      if (this.lostMessage !== undefined) return;
      this.lostMessage = "the egress gateway stopped";
      failReady(new EgressUnavailableError("the egress gateway exited before it was ready"));
      for (const end of this.ends.values()) end({ kind: "lost", message: this.lostMessage });
      for (const answer of this.waiting.values()) answer({ op: "lost" });
      this.ends.clear();
      this.waiting.clear();
      onLost();
    };
    attachment.on("end", lost);
    attachment.on("close", lost);
    attachment.on("error", lost);
  }

  get alive(): boolean {
    return this.lostMessage === undefined;
  }

  private receive(message: GatewayMessage): void {
    const id = message.id ?? "";
    if (message.op === "limit") {
      this.ends.get(id)?.({ kind: "limit", limit: message.limit === "connections" ? "connections" : "bytes" });
      return;
    }
    if (message.op === "connection") {
      this.options.onConnection?.(message.allowed === true, String(message.reason ?? ""));
      return;
    }
    const key = String(message.seq);
    const answer = this.waiting.get(key);
    this.waiting.delete(key);
    answer?.(message);
  }

  /** Sends `request` and resolves with the gateway's answer to it; EgressUnavailableError when none comes. */
  async ask(request: GatewayMessage): Promise<GatewayMessage> {
    if (!this.alive) throw new EgressUnavailableError("the egress gateway stopped");
    this.sequence += 1;
    const key = String(this.sequence);
    const answer = new Promise<GatewayMessage>((resolve) => this.waiting.set(key, resolve));
    this.attachment.write(`${JSON.stringify({ ...request, seq: this.sequence })}\n`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<GatewayMessage>((resolve) => {
      timer = setTimeout(() => resolve({ op: "timeout" }), gatewayAnswerMs);
    });
    const message = await Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
    this.waiting.delete(key);
    if (message.op === "lost") throw new EgressUnavailableError("the egress gateway stopped");
    if (message.op === "timeout")
      throw new EgressUnavailableError(`the egress gateway did not answer ${request.op} within ${gatewayAnswerMs} ms`);
    return message;
  }

  /** Settles with how `id`'s network ended, if it ends before `forget(id)`. */
  watch(id: string): Promise<EgressEnd> {
    if (!this.alive) return Promise.resolve({ kind: "lost", message: this.lostMessage ?? "the egress gateway stopped" });
    return new Promise((resolve) => this.ends.set(id, resolve));
  }

  forget(id: string): void {
    this.ends.delete(id);
  }

  close(): void {
    this.attachment.end();
    this.attachment.destroy();
  }
}
