import type { Duplex } from "node:stream";
import { type ContainerLease, type RunProgram, workspaceFiles } from "./container-source.js";
import { AttachStreamDemuxer } from "./output-capture.js";
import { readyMarker, supervisorHeader, warmRunMessage } from "../sandbox/supervisor-protocol.js";
import { buildWorkspaceArchive } from "./workspace-archive.js";

/**
 * One warm container: started with its language's loader (sandbox/loaders/) waiting, known ready
 * once the loader's marker has been read, and handed to a run as a lease whose input carries the
 * run message the loader expects.
 */

/** A started container whose loader said it is ready, with its stdio attached. */
export interface WarmContainer {
  readonly id: string;
  readonly attachment: Duplex;
}

/** Longest a loader may take to say it is ready. */
export const readyTimeoutMs = 30_000;

/**
 * Reads the loader's ready marker from a fresh attach stream and leaves the stream paused at the
 * frame boundary after it, for the run's own demuxer. Nothing but the marker is written before
 * a run, so the frames read here are exactly the marker's.
 */
export function readReadyMarker(attachment: Duplex, timeoutMs: number): Promise<void> {
  const expected = Buffer.from(readyMarker, "latin1");
  return new Promise((resolve, reject) => {
    let payload = Buffer.alloc(0);
    const demuxer = new AttachStreamDemuxer((_stream, chunk) => {
      payload = Buffer.concat([payload, chunk]);
    });
    const finish = (error?: Error) => {
      clearTimeout(timer);
      attachment.off("data", onData);
      attachment.off("close", onClose);
      attachment.pause();
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      demuxer.push(chunk);
      if (payload.length < expected.length) return;
      finish(
        payload.equals(expected)
          ? undefined
          : new Error(`unexpected output while warming up: ${JSON.stringify(payload.toString("latin1").slice(0, 80))}`),
      );
    };
    const onClose = () => finish(new Error("the container ended while warming up"));
    const timer = setTimeout(() => finish(new Error(`no ready marker within ${timeoutMs} ms`)), timeoutMs);
    attachment.on("data", onData);
    attachment.once("close", onClose);
  });
}

/**
 * A warm container as one run's lease. Its loader was started before the run, so argv and
 * environment come as a message between the archive and the program's stdin, and so does the
 * code when it is the only file (and holds no NUL, which ends a message field): no archive to
 * extract then.
 */
export function warmLease(warm: WarmContainer, program: RunProgram): ContainerLease {
  return {
    id: warm.id,
    origin: "warm",
    attachment: warm.attachment,
    engineTimesRun: false,
    start: async () => undefined,
    async input(nonce, artifacts) {
      const inlineCode = program.files.length === 0 && !program.code.includes("\0");
      const archive = inlineCode ? Buffer.alloc(0) : await buildWorkspaceArchive(workspaceFiles(program));
      return Buffer.concat([
        supervisorHeader(archive.length, nonce, artifacts),
        archive,
        warmRunMessage(program.args, program.env, inlineCode ? program.code : undefined),
        program.stdin,
      ]);
    },
  };
}
