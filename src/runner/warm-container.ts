import type { Duplex } from "node:stream";
import type { ContainerClient } from "../docker/container-client.js";
import { toContainerCreateOptions } from "../docker/container-options.js";
import type { SandboxLimits, SandboxShape } from "../sandbox/limits.js";
import { loaderCommand, supervisorCommand } from "../sandbox/sandbox-scripts.js";
import type { Language } from "./languages.js";
import { fitsRecycledContainer, keepsCompilerLoaded, warmForLabel } from "./warm-shape.js";
import { type ContainerLease, type ContainerOrigin, type RunProgram, workspaceFiles } from "./container-source.js";
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
  /** Its supervisor serves run after run (recycle mode), scrubbing in between. */
  readonly recyclable: boolean;
}

/** Longest a loader may take to say it is ready. */
export const readyTimeoutMs = 30_000;

/**
 * Longest a compiler loader may take: it loads a compiler and compiles a program twice before it
 * is ready, seconds of CPU that a busy node (or gVisor) can stretch well past readyTimeoutMs.
 */
export const compilerReadyTimeoutMs = 120_000;

/** What startWarmContainer needs: whose container, which loader, shape and limits. */
export interface WarmStart {
  readonly containers: ContainerClient;
  readonly instanceId: string;
  /** "warm" for a pool's container, the run's id for one started for a run. */
  readonly runId: string;
  readonly language: Language;
  readonly shape: SandboxShape;
  readonly limits: SandboxLimits;
  /** A compile's container (its language's compiler, loaded or started by the exec loader). */
  readonly compiling: boolean;
  /** Its supervisor serves run after run (recycle mode). */
  readonly recyclable: boolean;
  /** Holds the attach stream while the loader warms up, for a reset to end it early. */
  readonly warmingUp?: Set<Duplex> | undefined;
}

/**
 * Creates, attaches and starts a container whose supervisor starts the language's loader at once,
 * and resolves once the loader said it is ready; removes it again on any failure.
 */
export async function startWarmContainer(start: WarmStart): Promise<WarmContainer> {
  const { containers, language, shape, limits, recyclable } = start;
  let id: string | undefined;
  let attachment: Duplex | undefined;
  try {
    id = await containers.create(
      toContainerCreateOptions({
        runId: start.runId,
        instanceId: start.instanceId,
        shape,
        limits,
        stdinStaysOpen: recyclable,
        warmFor: warmForLabel(language, start.compiling),
        command: supervisorCommand(
          recyclable ? "recycle" : "warm",
          shape.runtime,
          limits.pids,
          language.warmLoader
            ? loaderCommand(language.warmLoader, language.fileName, language.command, language.examples.hello.code)
            : [],
          shape,
        ),
      }),
    );
    attachment = await containers.attach(id);
    // While it waits, nobody else listens: a socket error must not go unhandled.
    attachment.on("error", () => undefined);
    start.warmingUp?.add(attachment);
    await containers.start(id);
    await readReadyMarker(attachment, keepsCompilerLoaded(language) ? compilerReadyTimeoutMs : readyTimeoutMs);
    return { id, attachment, recyclable };
  } catch (error) {
    attachment?.destroy();
    if (id) await containers.remove(id).catch(() => undefined);
    throw error;
  } finally {
    if (attachment) start.warmingUp?.delete(attachment);
  }
}

/**
 * Reads the loader's ready marker from a fresh attach stream and leaves the stream paused at the
 * frame boundary after it, for the run's own demuxer. Nothing but the marker is written before
 * a run, so the frames read here are exactly the marker's.
 */
export function readReadyMarker(attachment: Duplex, timeoutMs: number): Promise<void> {
  return readExactly(attachment, Buffer.from(readyMarker, "latin1"), timeoutMs, "while warming up");
}

/**
 * Reads exactly `expected` (stdout and stderr payload together) from an attach stream and leaves
 * it paused after it; anything else, an end, or `timeoutMs` without it is an error that quotes
 * what arrived (a recycled container's "scrub dirty STEP", say).
 */
export function readExactly(attachment: Duplex, expected: Buffer, timeoutMs: number, when: string): Promise<void> {
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
    const quoted = () => JSON.stringify(payload.toString("latin1").slice(0, 160));
    const onData = (chunk: Buffer) => {
      demuxer.push(chunk);
      if (payload.length < expected.length && expected.subarray(0, payload.length).equals(payload)) return;
      finish(payload.equals(expected) ? undefined : new Error(`unexpected output ${when}: ${quoted()}`));
    };
    const onClose = () => finish(new Error(`the container ended ${when} (after ${quoted()})`));
    const timer = setTimeout(
      () => finish(new Error(`nothing expected within ${timeoutMs} ms ${when} (had ${quoted()})`)),
      timeoutMs,
    );
    attachment.on("data", onData);
    attachment.once("close", onClose);
    attachment.resume();
  });
}

/**
 * A warm container as one run's lease. Its loader was started before the run, so argv and
 * environment come as a message between the archive and the program's stdin, and so does the
 * code when it is the only file (and holds no NUL, which ends a message field): no archive to
 * extract then.
 */
export function warmLease(warm: WarmContainer, program: RunProgram, origin: ContainerOrigin = "warm"): ContainerLease {
  return {
    id: warm.id,
    origin,
    attachment: warm.attachment,
    engineTimesRun: false,
    keepsStdinOpen: warm.recyclable,
    start: async () => undefined,
    async input(nonce, artifacts) {
      let code = program.files.length === 0 && !program.code.includes("\0") ? program.code : undefined;
      // A recycled container's input must fit its pipe (fitsRecycledContainer): large code goes
      // in the archive instead.
      if (warm.recyclable && code !== undefined && !fitsRecycledContainer(program, code)) code = undefined;
      const archive = code === undefined ? await buildWorkspaceArchive(workspaceFiles(program)) : Buffer.alloc(0);
      const message = warmRunMessage(program.args, program.env, code);
      const inputBytes = warm.recyclable ? message.length + program.stdin.length : undefined;
      return Buffer.concat([supervisorHeader(archive.length, nonce, artifacts, inputBytes), archive, message, program.stdin]);
    },
  };
}
