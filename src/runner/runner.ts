import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { ContainerClient, ContainerExit } from "../docker/container-client.js";
import type { SandboxLimits } from "../docker/container-options.js";
import { createColdContainerSource, type ContainerLease, type ContainerSource } from "./container-source.js";
import type { Language } from "./languages.js";
import { AttachStreamDemuxer, CappedBuffer, type OutputStreamName } from "./output-capture.js";
import { sandboxCommand } from "./sandbox-command.js";
import { decideVerdict, signalFromExitCode, type RunVerdict } from "./verdict.js";
import { buildWorkspaceArchive, type WorkspaceFile } from "./workspace-archive.js";

/** One validated run, with every default and maximum already applied. */
export interface RunSpec {
  readonly runId: string;
  readonly language: Language;
  readonly code: string;
  /** Files besides the code file, names validated and normalised. */
  readonly files: readonly WorkspaceFile[];
  /** Bytes for the program's standard input; it sees end-of-file after them. */
  readonly stdin: Uint8Array;
  readonly timeoutMs: number;
  readonly readonlyRootfs: boolean;
  readonly limits: SandboxLimits;
}

/** Optional live view of a run, for streaming callers. */
export interface RunObserver {
  /** The container started; output may follow. */
  onStarted?(): void;
  /** Output as it arrives, in order within each stream; only bytes within the cap. */
  onOutput?(stream: OutputStreamName, chunk: Buffer): void;
}

/** The complete, truthful result of a run that got as far as creating its container. */
export interface RunOutcome {
  readonly runId: string;
  readonly verdict: RunVerdict;
  /** Exit code as the engine reported it; -1 when it could not be learned. */
  readonly exitCode: number;
  /** Signal that ended the program, or "". */
  readonly signal: string;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  /** Wall time from container start to program end. */
  readonly executionTimeMs: number;
  readonly timedOut: boolean;
  /** For verdict "internal": what failed. */
  readonly error: string | undefined;
}

export interface Runner {
  /**
   * Runs one program in a container of its own and removes the container on every path.
   * Rejects (with the typed errors of docker/engine-errors.ts) only when the program never
   * started; once it has, every ending is an outcome.
   */
  run(spec: RunSpec, options?: { signal?: AbortSignal; observer?: RunObserver }): Promise<RunOutcome>;
}

export interface RunnerOptions {
  /** Engine calls for the lifecycle (attach, wait, kill, inspect, remove). */
  readonly containers: ContainerClient;
  /** Where containers come from; a fresh container per run when omitted. */
  readonly source?: ContainerSource;
  /** Image every run executes in. */
  readonly image: string;
  /** Identifies this server process in container labels. */
  readonly instanceId: string;
  /** Bytes kept of each of stdout and stderr; past it the run is killed. */
  readonly outputLimitBytes: number;
  readonly logger: Logger;
}

/** Time allowed, beyond the run's own timeout, for starting and killing a container. */
const lifecycleAllowanceMs = 30_000;
/** How long output may still arrive after the engine reported the exit. */
const outputDrainMs = 2_000;

export function createRunner(options: RunnerOptions): Runner {
  const source = options.source ?? createColdContainerSource(options.containers);
  return {
    async run(spec, { signal, observer } = {}) {
      const log = options.logger.child({ run_id: spec.runId });
      const archive = await buildWorkspaceArchive([
        { name: spec.language.fileName, content: Buffer.from(spec.code, "utf8") },
        ...spec.files,
      ]);
      const lease = await source.acquire({
        runId: spec.runId,
        instanceId: options.instanceId,
        shape: { image: options.image, readonlyRootfs: spec.readonlyRootfs },
        limits: spec.limits,
        command: sandboxCommand(archive.length, spec.language.command),
      });
      log.debug({ container: lease.id }, "container acquired");
      try {
        const outcome = await superviseRun(options, log, spec, lease, archive, signal, observer);
        log.info(
          {
            language: spec.language.name,
            status: outcome.verdict,
            exit_code: outcome.exitCode,
            signal: outcome.signal || undefined,
            duration_ms: Math.round(outcome.executionTimeMs),
            stdout_bytes: outcome.stdout.length,
            stderr_bytes: outcome.stderr.length,
            error: outcome.error,
          },
          "run finished",
        );
        return outcome;
      } finally {
        await options.containers.remove(lease.id).catch((error: Error) => {
          log.error({ container: lease.id, err: error.message }, "container not removed");
        });
      }
    },
  };
}

async function superviseRun(
  options: RunnerOptions,
  log: Logger,
  spec: RunSpec,
  lease: ContainerLease,
  archive: Buffer,
  signal: AbortSignal | undefined,
  observer: RunObserver | undefined,
): Promise<RunOutcome> {
  const { containers } = options;
  const stdout = new CappedBuffer(options.outputLimitBytes);
  const stderr = new CappedBuffer(options.outputLimitBytes);
  let timedOut = false;
  let cancelled = false;
  let outputLimited = false;
  let internalError: string | undefined;

  let killing: Promise<void> | undefined;
  const kill = (reason: string) => {
    if (killing) return;
    log.debug({ container: lease.id, reason }, "killing container");
    killing = containers.kill(lease.id).catch((error: Error) => {
      log.warn({ container: lease.id, err: error.message }, "kill failed");
    });
  };

  const attachment = await containers.attach(lease.id);
  const outputEnded = whenStreamEnds(attachment);
  const demuxer = new AttachStreamDemuxer((stream, chunk) => {
    const buffer = stream === "stdout" ? stdout : stderr;
    const kept = buffer.append(chunk);
    if (kept.length > 0) observer?.onOutput?.(stream, kept);
    if (buffer.overflowed && !outputLimited) {
      outputLimited = true;
      kill(`${stream} over ${options.outputLimitBytes} bytes`);
    }
  });
  attachment.on("data", (chunk: Buffer) => demuxer.push(chunk));

  // Asked for before start so that an exit, however quick, cannot be missed.
  const exited = containers.waitForExit(lease.id, spec.timeoutMs + lifecycleAllowanceMs);
  exited.catch(() => undefined);

  if (signal?.aborted) {
    attachment.destroy();
    return cancelledBeforeStart(spec.runId);
  }

  const startedAt = performance.now();
  await lease.start();
  observer?.onStarted?.();

  // A program that exits without reading its stdin closes the pipe; that is its business.
  attachment.on("error", () => undefined);
  attachment.write(archive);
  if (spec.stdin.length > 0) attachment.write(spec.stdin);
  attachment.end();

  const timer = setTimeout(() => {
    timedOut = true;
    kill("timeout");
  }, spec.timeoutMs);
  const onAbort = () => {
    cancelled = true;
    kill("caller went away");
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  let exitCode: number | undefined;
  try {
    exitCode = await exited;
  } catch (error) {
    internalError = `lost track of the running container: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
  const endedAt = performance.now();

  await Promise.race([outputEnded, sleep(outputDrainMs)]);
  attachment.destroy();
  await killing;

  let exit: ContainerExit | undefined;
  if (internalError === undefined) {
    try {
      exit = await containers.inspectExit(lease.id);
    } catch (error) {
      internalError = `could not inspect the exited container: ${(error as Error).message}`;
    }
  }

  const verdict = decideVerdict({
    exitCode,
    oomKilled: exit?.oomKilled ?? false,
    timedOut,
    cancelled,
    outputLimited,
    internalError,
  });
  const engineMs =
    exit?.startedAtMs !== undefined && exit.finishedAtMs !== undefined
      ? exit.finishedAtMs - exit.startedAtMs
      : undefined;
  return {
    runId: spec.runId,
    verdict,
    exitCode: exitCode ?? -1,
    signal: signalFromExitCode(exitCode),
    stdout: stdout.toBuffer(),
    stderr: stderr.toBuffer(),
    stdoutTruncated: stdout.overflowed,
    stderrTruncated: stderr.overflowed,
    executionTimeMs: engineMs !== undefined && engineMs >= 0 ? engineMs : endedAt - startedAt,
    timedOut,
    error: internalError,
  };
}

function whenStreamEnds(stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => resolve());
  });
}

function cancelledBeforeStart(runId: string): RunOutcome {
  return {
    runId,
    verdict: "cancelled",
    exitCode: -1,
    signal: "",
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    stdoutTruncated: false,
    stderrTruncated: false,
    executionTimeMs: 0,
    timedOut: false,
    error: undefined,
  };
}
