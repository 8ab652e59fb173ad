import type { Duplex } from "node:stream";
import { AttachStreamDemuxer, CappedBuffer, TrailerSplitter, type OutputStreamName } from "./output-capture.js";
import {
  maxTrailerBytes,
  parseSupervisorReport,
  splitTrailer,
  stderrEndMarker,
  trailerMarker,
  type ArtifactCaps,
  type SupervisorReport,
} from "../sandbox/supervisor-protocol.js";

export interface RunOutputOptions {
  /** The run's nonce: only markers carrying it are the supervisor's. */
  readonly nonce: string;
  /** Bytes kept of each of stdout and stderr. */
  readonly limitBytes: number;
  /** What the supervisor sends after its report, if anything (its size bounds the trailer). */
  readonly artifacts: ArtifactCaps | undefined;
  /** Output as it arrives, in order within each stream; only bytes within the cap. */
  readonly onOutput?: (stream: OutputStreamName, chunk: Buffer) => void;
  /** Called once when a stream goes past its cap, or the trailer past its bound. */
  readonly onOverflow: (reason: string) => void;
}

/** What the supervisor left after the program's output. */
export interface SupervisorTrailer {
  readonly report: SupervisorReport | undefined;
  /** What followed the report line: the artifact manifest and tar, when collected. */
  readonly rest: Buffer;
}

/**
 * One run's output, read from the container's attach stream without trusting it: split into
 * stdout and stderr, each capped, with the supervisor's markers (sandbox/supervisor.sh) taken out.
 */
export class RunOutput {
  readonly stdout: CappedBuffer;
  readonly stderr: CappedBuffer;
  /** Resolves when the end of stderr and the whole report line have arrived (only when no artifacts follow it). */
  readonly reported: Promise<void>;
  private overflowed = false;
  private readonly trailer: TrailerSplitter;
  private readonly stderrEnd: TrailerSplitter;
  private readonly demuxer: AttachStreamDemuxer;
  private readonly onData = (chunk: Buffer) => this.demuxer.push(chunk);
  /** Resolves when the attach stream ended, closed or failed, once listened to. */
  readonly ended: Promise<void>;
  private readonly onEnd: () => void;

  constructor(private readonly options: RunOutputOptions) {
    this.stdout = new CappedBuffer(options.limitBytes);
    this.stderr = new CappedBuffer(options.limitBytes);
    this.trailer = new TrailerSplitter(
      trailerMarker(options.nonce),
      (chunk) => this.keep("stdout", this.stdout, chunk),
      maxTrailerBytes(options.artifacts),
    );
    this.stderrEnd = new TrailerSplitter(stderrEndMarker(options.nonce), (chunk) => this.keep("stderr", this.stderr, chunk), 64);
    let ended: () => void = () => undefined;
    this.ended = new Promise<void>((resolve) => (ended = resolve));
    this.onEnd = () => ended();
    let reportedWhole: () => void = () => undefined;
    this.reported = new Promise<void>((resolve) => (reportedWhole = resolve));
    this.demuxer = new AttachStreamDemuxer((stream, chunk) => {
      if (stream === "stderr") this.stderrEnd.push(chunk);
      else this.trailer.push(chunk);
      if (this.trailer.regionOverflowed) this.overflow("trailer over its size bound");
      // Without artifacts to read, the run is over once the supervisor has ended stderr and
      // written its report: the answer need not wait for the engine to tear the container down.
      if (!options.artifacts && this.stderrEnd.markerSeen && this.trailer.lineAfterMarker) reportedWhole();
    });
  }

  /**
   * Reads the attach stream from now on. An error on it ends it (a program that exits without
   * reading its stdin closes the pipe; that is its business).
   */
  listen(attachment: Duplex): void {
    attachment.on("data", this.onData);
    for (const event of ["end", "close", "error"]) attachment.on(event, this.onEnd);
    attachment.resume();
  }

  /** Stops reading it, leaving it paused and as it was (a recycled container's, for its scrub). */
  stopListening(attachment: Duplex): void {
    attachment.off("data", this.onData);
    for (const event of ["end", "close", "error"]) attachment.off(event, this.onEnd);
    attachment.pause();
  }

  /** Ends both streams and returns what the supervisor reported. */
  finish(): SupervisorTrailer {
    this.stderrEnd.end();
    const region = this.trailer.end();
    if (!region) return { report: undefined, rest: Buffer.alloc(0) };
    const { reportText, rest } = splitTrailer(region);
    return { report: parseSupervisorReport(reportText), rest };
  }

  private keep(stream: OutputStreamName, buffer: CappedBuffer, chunk: Buffer): void {
    const kept = buffer.append(chunk);
    if (kept.length > 0) this.options.onOutput?.(stream, kept);
    if (buffer.overflowed) this.overflow(`${stream} over ${this.options.limitBytes} bytes`);
  }

  private overflow(reason: string): void {
    if (this.overflowed) return;
    this.overflowed = true;
    this.options.onOverflow(reason);
  }
}
