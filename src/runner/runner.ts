import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { ContainerClient, ContainerExit } from "../docker/container-client.js";
import type { SandboxLimits } from "../docker/container-options.js";
import { createColdContainerSource, type ContainerLease, type ContainerSource } from "./container-source.js";
import type { Language } from "./languages.js";
import { collectArtifacts, type ArtifactCollection } from "./artifact-collection.js";
import { AttachStreamDemuxer, CappedBuffer, TrailerSplitter, type OutputStreamName } from "./output-capture.js";
import {
  maxTrailerBytes,
  parseSupervisorReport,
  sandboxCommand,
  splitTrailer,
  stderrEndMarker,
  supervisorHeader,
  trailerMarker,
  type ArtifactCaps,
} from "./sandbox-command.js";
import { decideVerdict, signalFromExitCode, type RunVerdict } from "./verdict.js";
import { warmRunMessage } from "./warm-loaders.js";
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
  /** Command-line arguments after the program's file name. */
  readonly args: readonly string[];
  /** `NAME=value` entries on top of the fixed minimal environment. */
  readonly env: readonly string[];
  readonly timeoutMs: number;
  readonly readonlyRootfs: boolean;
  /** OCI runtime for the container: `runc` or `runsc`. */
  readonly runtime: string;
  readonly limits: SandboxLimits;
  /** Collect created or changed workspace files within these caps; undefined to collect none. */
  readonly artifacts: ArtifactCaps | undefined;
  /** Who asked (an API key's id), for the audit line; never the key itself. */
  readonly callerId?: string | undefined;
}

/** Optional live view of a run, for streaming callers. */
export interface RunObserver {
  /** The container started; output may follow. */
  onStarted?(): void;
  /** Output as it arrives, in order within each stream; only bytes within the cap. */
  onOutput?(stream: OutputStreamName, chunk: Buffer): void;
}

/** Resource usage read from the run's cgroup. */
export interface RunUsage {
  /** CPU time of every process in the container, nanoseconds. */
  readonly cpuTimeNs: number | undefined;
  /** Peak memory of the container's cgroup, bytes. */
  readonly peakMemoryBytes: number | undefined;
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
  /** Undefined when neither the supervisor nor the engine could tell. */
  readonly usage: RunUsage | undefined;
  /** Undefined when none were asked for or the program did not end on its own. */
  readonly artifacts: ArtifactCollection | undefined;
  /** For verdict "internal": what failed. */
  readonly error: string | undefined;
}

export interface Runner {
  /** Ids of the containers of runs in progress (or being removed), which nothing else may remove. */
  liveContainers(): ReadonlySet<string>;
  /** Resolves once every container removal started so far has finished. */
  settled(): Promise<void>;
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
  /** seccomp profile JSON for every container; undefined keeps the engine's default. */
  readonly seccompProfile: string | undefined;
  readonly logger: Logger;
}

/** Time allowed, beyond the run's own timeout, for starting and killing a container. */
const lifecycleAllowanceMs = 30_000;
/** How long output may still arrive after the engine reported the exit. */
const outputDrainMs = 2_000;
/** Bound on the stats sample taken just before Aurea kills a run. */
const usageSampleTimeoutMs = 500;

export function createRunner(options: RunnerOptions): Runner {
  const source = options.source ?? createColdContainerSource(options.containers);
  const live = new Set<string>();
  const removals = new Set<Promise<void>>();
  /**
   * Removal happens after the answer is sent: the caller does not wait for the engine to tear
   * the container down. It is tracked, so shutdown waits for it, and a failure leaves the
   * container to the orphan reaper.
   */
  const removeLater = (id: string, log: Logger) => {
    const removal = options.containers.remove(id).then(
      () => undefined,
      (error: Error) => log.error({ container: id, err: error.message }, "container not removed"),
    );
    const tracked = removal.finally(() => {
      live.delete(id);
      removals.delete(tracked);
    });
    removals.add(tracked);
  };
  return {
    liveContainers: () => live,
    settled: async () => {
      while (removals.size > 0) await Promise.all([...removals]);
    },
    async run(spec, { signal, observer } = {}) {
      const log = options.logger.child({ run_id: spec.runId });
      const nonce = randomBytes(16).toString("hex");
      const workspaceFiles = [{ name: spec.language.fileName, content: Buffer.from(spec.code, "utf8") }, ...spec.files];
      const lease = await source.acquire({
        runId: spec.runId,
        instanceId: options.instanceId,
        shape: {
          image: options.image,
          readonlyRootfs: spec.readonlyRootfs,
          runtime: spec.runtime,
          seccompProfile: options.seccompProfile,
        },
        limits: spec.limits,
        command: sandboxCommand([...spec.language.command, ...spec.args]),
        env: spec.env,
      }, spec.language);
      // A warm container's loader was started before this run: argv and environment come as a
      // message between the archive and the program's stdin, and so does the code when it is the
      // only file (and holds no NUL, which ends a message field): no archive to extract then.
      const inlineCode = lease.mode === "warm" && spec.files.length === 0 && !spec.code.includes("\0");
      const archive = inlineCode ? Buffer.alloc(0) : await buildWorkspaceArchive(workspaceFiles);
      const input = Buffer.concat([
        supervisorHeader(archive.length, nonce, spec.artifacts),
        archive,
        ...(lease.mode === "warm" ? [warmRunMessage(spec.args, spec.env, inlineCode ? spec.code : undefined)] : []),
        spec.stdin,
      ]);
      log.debug({ container: lease.id }, "container acquired");
      live.add(lease.id);
      try {
        const outcome = await superviseRun({ options, log, spec, lease, input, nonce, workspaceFiles, signal, observer });
        log.info(
          {
            key_id: spec.callerId,
            container: lease.mode,
            language: spec.language.name,
            runtime: spec.runtime,
            artifacts: outcome.artifacts ? outcome.artifacts.files.size : undefined,
            status: outcome.verdict,
            exit_code: outcome.exitCode,
            signal: outcome.signal || undefined,
            duration_ms: Math.round(outcome.executionTimeMs),
            stdout_bytes: outcome.stdout.length,
            stderr_bytes: outcome.stderr.length,
            cpu_ms: outcome.usage?.cpuTimeNs !== undefined ? Math.round(outcome.usage.cpuTimeNs / 1e6) : undefined,
            peak_memory_bytes: outcome.usage?.peakMemoryBytes,
            error: outcome.error,
          },
          "run finished",
        );
        return outcome;
      } finally {
        removeLater(lease.id, log);
      }
    },
  };
}

interface Supervision {
  readonly options: RunnerOptions;
  readonly log: Logger;
  readonly spec: RunSpec;
  readonly lease: ContainerLease;
  /** Header, workspace archive, a warm loader's run message, and the program's stdin, in that order. */
  readonly input: Buffer;
  readonly nonce: string;
  /** What the workspace held before the program ran, to tell artifacts from inputs. */
  readonly workspaceFiles: readonly WorkspaceFile[];
  readonly signal: AbortSignal | undefined;
  readonly observer: RunObserver | undefined;
}

async function superviseRun(run: Supervision): Promise<RunOutcome> {
  const { options, log, spec, lease, signal, observer } = run;
  const { containers } = options;
  const stdout = new CappedBuffer(options.outputLimitBytes);
  const stderr = new CappedBuffer(options.outputLimitBytes);
  let timedOut = false;
  let cancelled = false;
  let outputLimited = false;
  let internalError: string | undefined;
  let usageAtKill: RunUsage | undefined;

  let killing: Promise<void> | undefined;
  const kill = (reason: string, sampleUsage: boolean) => {
    if (killing) return;
    log.debug({ container: lease.id, reason }, "killing container");
    killing = (async () => {
      // The cgroup disappears with the container: sample it first when the numbers matter.
      if (sampleUsage) {
        usageAtKill = await containers.readUsage(lease.id, usageSampleTimeoutMs).catch(() => undefined);
      }
      await containers.kill(lease.id);
    })().catch((error: Error) => {
      log.warn({ container: lease.id, err: error.message }, "kill failed");
    });
  };

  const keep = (stream: OutputStreamName, buffer: CappedBuffer, chunk: Buffer) => {
    const kept = buffer.append(chunk);
    if (kept.length > 0) observer?.onOutput?.(stream, kept);
    if (buffer.overflowed && !outputLimited) {
      outputLimited = true;
      kill(`${stream} over ${options.outputLimitBytes} bytes`, true);
    }
  };
  const trailer = new TrailerSplitter(
    trailerMarker(run.nonce),
    (chunk) => keep("stdout", stdout, chunk),
    maxTrailerBytes(spec.artifacts),
  );
  const stderrEnd = new TrailerSplitter(stderrEndMarker(run.nonce), (chunk) => keep("stderr", stderr, chunk), 64);
  // Without artifacts to read, the run is over once the supervisor has ended stderr and written
  // its report: the answer need not wait for the engine to tear the container down.
  let reportedWhole: () => void = () => undefined;
  const reported = new Promise<void>((resolve) => (reportedWhole = resolve));
  const attachment = lease.attachment ?? (await containers.attach(lease.id));
  const outputEnded = whenStreamEnds(attachment);
  const demuxer = new AttachStreamDemuxer((stream, chunk) => {
    if (stream === "stderr") stderrEnd.push(chunk);
    else trailer.push(chunk);
    if (trailer.regionOverflowed && !outputLimited) {
      outputLimited = true;
      kill("trailer over its size bound", true);
    }
    if (!spec.artifacts && stderrEnd.markerSeen && trailer.lineAfterMarker) reportedWhole();
  });
  attachment.on("data", (chunk: Buffer) => demuxer.push(chunk));
  attachment.resume();
  // A program that exits without reading its stdin closes the pipe; that is its business.
  attachment.on("error", () => undefined);

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
  attachment.end(run.input);

  const timer = setTimeout(() => {
    timedOut = true;
    kill("timeout", true);
  }, spec.timeoutMs);
  const onAbort = () => {
    cancelled = true;
    kill("caller went away", false);
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  let exitCode: number | undefined;
  let reportedFirst = false;
  try {
    exitCode = await Promise.race([exited, reported.then(() => undefined)]);
    reportedFirst = exitCode === undefined;
  } catch (error) {
    internalError = `lost track of the running container: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
  const endedAt = performance.now();

  if (!reportedFirst) await Promise.race([outputEnded, sleep(outputDrainMs)]);
  attachment.destroy();
  await killing;
  stderrEnd.end();
  const region = trailer.end();
  const { reportText, rest } = region ? splitTrailer(region) : { reportText: undefined, rest: Buffer.alloc(0) };
  const report = reportText === undefined ? undefined : parseSupervisorReport(reportText);

  let exit: ContainerExit | undefined;
  if (reportedFirst) {
    // The report's status is the program's (see the note below); the engine's record of the
    // exit adds nothing the report lacks, and removal does not wait for it.
    exitCode = report?.kind === "finished" ? report.status : undefined;
  } else if (internalError === undefined) {
    try {
      exit = await containers.inspectExit(lease.id);
    } catch (error) {
      internalError = `could not inspect the exited container: ${(error as Error).message}`;
    }
  }
  if (internalError === undefined && report?.kind === "setup-failed") {
    internalError = "the workspace files could not be extracted in the container";
  }
  const killedByAurea = timedOut || cancelled || outputLimited;
  // Under gVisor the memory limit applies to the whole sandbox, its user-space kernel included,
  // so a memory bomb gets the sandbox SIGKILLed by the host before the supervisor can report,
  // and the engine seldom flags it. That ending is read as the memory kill it is.
  const sandboxKilledForMemory =
    spec.runtime === "runsc" && report === undefined && exitCode === 137 && !killedByAurea && internalError === undefined;
  // Otherwise the supervisor writes its report after every program ending it sees; without one,
  // and without a kill of Aurea's own, the output stream was lost and what was captured may be
  // incomplete. Reporting OK with partial output would invent a result.
  if (internalError === undefined && report === undefined && !killedByAurea && !sandboxKilledForMemory) {
    internalError = "the run's output ended without the supervisor's final report; output may be incomplete";
  }

  const finished = report?.kind === "finished" ? report : undefined;
  // The report carries the program's own status; the engine's exit code is the supervisor's,
  // which differs only when the supervisor failed after reporting (collecting artifacts after a
  // fork bomb, say). The program's status is the truth about the program.
  if (finished && exitCode !== undefined && exitCode !== finished.status) {
    log.warn({ engine_exit: exitCode, program_status: finished.status }, "supervisor ended after its report");
    exitCode = finished.status;
  }
  const verdict = decideVerdict({
    exitCode,
    oomKilled: (exit?.oomKilled ?? false) || (finished?.oomKills ?? 0) > 0 || sandboxKilledForMemory,
    timedOut,
    cancelled,
    outputLimited,
    internalError,
  });
  // A warm container started long before its run: only the server's clock times the run there.
  const engineMs =
    lease.mode === "cold" && exit?.startedAtMs !== undefined && exit.finishedAtMs !== undefined
      ? exit.finishedAtMs - exit.startedAtMs
      : undefined;
  const artifacts =
    finished && spec.artifacts ? await collectArtifacts(rest, spec.artifacts, run.workspaceFiles) : undefined;
  const usage: RunUsage | undefined =
    finished && (finished.cpuTimeNs !== undefined || finished.peakMemoryBytes !== undefined)
      ? { cpuTimeNs: finished.cpuTimeNs, peakMemoryBytes: finished.peakMemoryBytes }
      : usageAtKill;
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
    usage,
    artifacts,
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
    usage: undefined,
    artifacts: undefined,
    error: undefined,
  };
}
