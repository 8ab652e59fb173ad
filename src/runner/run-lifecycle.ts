import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { ContainerClient, ContainerExit } from "../docker/container-client.js";
import type { SandboxShape } from "../sandbox/limits.js";
import { memoryKillMayEndProgramOnly } from "../sandbox/runtimes.js";
import { collectArtifacts } from "./artifact-collection.js";
import { workspaceFiles, type ContainerLease, type ContainerSource, type LeaseRequest } from "./container-source.js";
import { RunOutput, type SupervisorTrailer } from "./run-output.js";
import type { OutputStreamName } from "./output-capture.js";
import { cancelledBeforeStart, type RunOutcome, type RunSpec, type TestOutcome } from "./run-spec.js";
import { reconcile, type RunUsage, type StopReason } from "./verdict.js";
import { recycleRefusal } from "./recycle-rules.js";
import type { SupervisorReport } from "../sandbox/supervisor-protocol.js";

/**
 * The states of one run, in order. Each method of RunLifecycle moves the run one step and is
 * guarded: it acts only in the state it belongs to, and handles a stop (timeout, output limit,
 * cancellation) that arrived before it.
 *
 *   acquiring  a container is being made or taken from the pool, attached, and its input encoded
 *   prepared   the container exists and nothing has started; a stop here means it never starts
 *   started    the program runs; a stop kills the container at once
 *   ended      the container exited or the supervisor reported; output is drained
 *   reported   the outcome is decided (verdict.ts reconcile), nothing more is read
 *   removed    the container is handed back for removal (in the background); from any state
 */
/** Optional live view of a run, for streaming callers (and tests). */
export interface RunObserver {
  /** The container started; output may follow. */
  onStarted?(): void;
  /** Output as it arrives, in order within each stream; only bytes within the cap. */
  onOutput?(stream: OutputStreamName, chunk: Buffer): void;
  /** The run entered a state of its lifecycle (run-lifecycle.ts). */
  onState?(state: RunState): void;
  /** A test case was judged (judge.ts), in order, as soon as it was. */
  onTestResult?(outcome: TestOutcome): void;
}

export type RunState = "acquiring" | "prepared" | "started" | "ended" | "reported" | "removed";

const nextStates: Readonly<Record<RunState, readonly RunState[]>> = {
  acquiring: ["prepared", "removed"],
  // A run stopped before it started is reported without starting.
  prepared: ["started", "reported", "removed"],
  started: ["ended", "removed"],
  ended: ["reported", "removed"],
  reported: ["removed"],
  removed: [],
};

/** What a run's lifecycle needs from the runner. */
export interface RunContext {
  readonly containers: ContainerClient;
  readonly source: ContainerSource;
  readonly instanceId: string;
  /** The container's shape (image, runtime, root filesystem, seccomp). */
  readonly shape: SandboxShape;
  /** Bytes kept of each of stdout and stderr; past it the run is killed. */
  readonly outputLimitBytes: number;
  readonly log: Logger;
  readonly observer: RunObserver | undefined;
  /** The run's egress network, when it has a policy (egress/egress-gateway.ts). */
  readonly network?: LeaseRequest["network"];
}

/** Time allowed, beyond the run's own timeout, for starting and killing a container. */
const lifecycleAllowanceMs = 30_000;
/** How long output may still arrive after the engine reported the exit. */
const outputDrainMs = 2_000;
/** How long a failed run under a platform whose memory kill may spare the sandbox waits for its exit. */
const exitAfterReportMs = 5_000;
/** Bound on the stats sample taken just before Aurea kills a run. */
const usageSampleTimeoutMs = 500;

/** One run from container to outcome. Create one per run; call its steps in order. */
export class RunLifecycle {
  private current: RunState = "acquiring";
  private readonly stoppedBy = new Set<StopReason>();
  private readonly nonce = randomBytes(16).toString("hex");
  private lease: ContainerLease | undefined;
  private attachment: Duplex | undefined;
  private output: RunOutput | undefined;
  private input: Buffer | undefined;
  private exited: Promise<number> | undefined;
  private outputEnded: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private killing: Promise<void> | undefined;
  private usageAtKill: RunUsage | undefined;
  private startedAt = 0;
  private endedAt = 0;
  /** The supervisor's report arrived before the engine reported the exit. */
  private reportedFirst = false;
  /** The exit code from the engine's wait; undefined when the supervisor's report came first. */
  private waitedExitCode: number | undefined;
  private lostTrack: string | undefined;
  private supervisorReport: SupervisorReport | undefined;
  /** The engine took the whole input (a recycled container's supervisor counts it). */
  private inputWritten = false;
  private keptAttachment = false; // after the report, for the scrub of a container that stays
  /** Ends the engine's wait for the exit once the run is done (a recycled container does not exit). */
  private readonly exitWait = new AbortController();
  /** Resolves at the first stop, so waits that no longer matter end early. */
  private readonly stopped: Promise<void>;
  private markStopped: () => void = () => undefined;
  /** Resolves when the caller went away: then nobody waits for the engine's record of the exit. */
  private readonly cancelled: Promise<void>;
  private markCancelled: () => void = () => undefined;

  constructor(
    private readonly spec: RunSpec,
    private readonly context: RunContext,
  ) {
    this.stopped = new Promise((resolve) => (this.markStopped = resolve));
    this.cancelled = new Promise((resolve) => (this.markCancelled = resolve));
  }

  get state(): RunState {
    return this.current;
  }

  /** The run's container, once it has one. */
  get containerId(): string | undefined {
    return this.lease?.id;
  }

  /** Where the lease's container came from and, when cold, why: for the log line and the metrics. */
  get container(): Pick<ContainerLease, "origin" | "coldBecause"> | undefined {
    return this.lease;
  }

  /**
   * Aurea ends the run for `reason`: at once if the program is running, before it starts if it
   * has not, and by cutting short the waits after it ended. Too late once reported.
   */
  stop(reason: StopReason): void {
    if (this.current === "reported" || this.current === "removed" || this.stoppedBy.has(reason)) return;
    this.stoppedBy.add(reason);
    this.markStopped();
    if (reason === "cancelled") this.markCancelled();
    if (this.current === "started") this.kill(reason);
  }

  /** acquiring → prepared: a container, attached, its output read, its exit awaited, its input encoded. */
  async prepare(): Promise<void> {
    this.expect("acquiring");
    // Stopped before anything was made: no container at all.
    if (this.stoppedBy.size > 0) return this.enter("prepared");
    const { spec, context } = this;
    this.lease = await context.source.acquire({
      runId: spec.runId,
      instanceId: context.instanceId,
      shape: context.shape,
      limits: spec.limits,
      program: spec,
      network: context.network,
      caller: spec.callerId ?? "",
      streamsInput: spec.moreInput !== undefined,
    });
    context.log.debug({ container: this.lease.id, origin: this.lease.origin }, "container acquired");
    this.attachment = this.lease.attachment ?? (await context.containers.attach(this.lease.id));
    this.output = new RunOutput({
      nonce: this.nonce,
      limitBytes: spec.outputLimitBytes ?? context.outputLimitBytes,
      artifacts: spec.artifacts,
      ...(context.observer?.onOutput ? { onOutput: context.observer.onOutput.bind(context.observer) } : {}),
      onOverflow: () => this.stop("output_limit"),
    });
    this.output.listen(this.attachment);
    this.outputEnded = this.output.ended;
    // Asked for before start so that an exit, however quick, cannot be missed.
    const [id, running, deadline] = [this.lease.id, !this.lease.engineTimesRun, spec.timeoutMs + lifecycleAllowanceMs];
    this.exited = context.containers.waitForExit(id, deadline, this.exitWait.signal, running);
    this.exited.catch(() => undefined);
    this.input = await this.lease.input(this.nonce, spec.artifacts);
    this.enter("prepared");
  }

  /** prepared → started: starts the program, unless the run was stopped; a stop during the start kills it right after. */
  async start(): Promise<void> {
    this.expect("prepared");
    if (this.stoppedBy.size > 0 || !this.lease || !this.attachment) return;
    await this.lease.start();
    this.startedAt = performance.now();
    this.enter("started");
    this.context.observer?.onStarted?.();
    const input = this.input ?? Buffer.alloc(0);
    const written = () => {
      this.inputWritten = true;
    };
    if (this.spec.moreInput) void this.writeMoreInput(this.attachment, input, this.spec.moreInput);
    // A recycled container's supervisor counts its input: stdin stays open for the next command.
    else if (this.lease.keepsStdinOpen) this.attachment.write(input, (error) => error || written());
    else this.attachment.end(input, written);
    this.timer = setTimeout(() => this.stop("timeout"), this.spec.timeoutMs);
    // A stop that came while the container was starting could not kill it then.
    const [earlier] = this.stoppedBy;
    if (earlier) this.kill(earlier);
  }

  /**
   * Writes the input, then what `more` produces as it comes, then closes stdin. It stops at the
   * run's end: a program that exits without reading closes the pipe, and that is its business.
   */
  private async writeMoreInput(attachment: Duplex, first: Buffer, more: AsyncIterable<Uint8Array>): Promise<void> {
    attachment.write(first);
    try {
      for await (const chunk of more) {
        if (this.current !== "started") break;
        attachment.write(chunk);
      }
    } catch (error) {
      this.context.log.warn({ err: (error as Error).message }, "input not written whole");
    } finally {
      attachment.end();
    }
  }

  /** started → ended: waits for the exit or the supervisor's report, then drains the output. */
  async waitForEnd(): Promise<void> {
    if (this.current !== "started" || !this.exited || !this.output || !this.attachment) return;
    let reportedFirst = false;
    try {
      this.waitedExitCode = await Promise.race([this.exited, this.output.reported.then(() => undefined)]);
      reportedFirst = this.waitedExitCode === undefined;
    } catch (error) {
      this.lostTrack = `lost track of the running container: ${(error as Error).message}`;
    } finally {
      clearTimeout(this.timer);
    }
    this.endedAt = performance.now();
    this.enter("ended");
    if (!reportedFirst) await Promise.race([this.outputEnded, sleep(outputDrainMs), this.stopped]);
    this.keptAttachment = reportedFirst && this.lease?.keepsStdinOpen === true;
    if (this.keptAttachment) this.output.stopListening(this.attachment);
    else this.attachment.destroy();
    await this.killing;
    this.reportedFirst = reportedFirst;
  }

  /** ended (or prepared, when stopped before starting) → reported: the outcome, decided by reconcile. */
  async report(): Promise<RunOutcome> {
    if (this.current === "prepared") {
      this.attachment?.destroy();
      this.enter("reported");
      return cancelledBeforeStart(this.spec.runId);
    }
    this.expect("ended");
    const trailer: SupervisorTrailer = this.output?.finish() ?? { report: undefined, rest: Buffer.alloc(0) };
    this.supervisorReport = trailer.report;
    const exit = this.lostTrack === undefined && (await this.engineRecordWanted(trailer)) ? await this.inspectExit() : undefined;
    const ending = reconcile({
      runtime: this.spec.runtime,
      stoppedBy: this.stoppedBy,
      report: trailer.report,
      engineExitCode: this.waitedExitCode,
      engineOomKilled: exit?.oomKilled ?? false,
      lostTrack: this.lostTrack,
      usageAtKill: this.usageAtKill,
      serverMs: this.endedAt - this.startedAt,
      engineMs:
        this.lease?.engineTimesRun && exit?.startedAtMs !== undefined && exit.finishedAtMs !== undefined
          ? exit.finishedAtMs - exit.startedAtMs
          : undefined,
      outputTruncated: (this.output?.stdout.overflowed ?? false) || (this.output?.stderr.overflowed ?? false),
    });
    if (ending.supervisorExitDiffered) {
      this.context.log.warn(
        { engine_exit: this.waitedExitCode, program_status: ending.exitCode },
        "supervisor ended after its report",
      );
    }
    const finished = trailer.report?.kind === "finished";
    const artifacts =
      finished && this.spec.artifacts
        ? await collectArtifacts(trailer.rest, this.spec.artifacts, workspaceFiles(this.spec))
        : undefined;
    this.enter("reported");
    return {
      runId: this.spec.runId,
      verdict: ending.verdict,
      exitCode: ending.exitCode ?? -1,
      signal: ending.signal,
      stdout: this.output?.stdout.toBuffer() ?? Buffer.alloc(0),
      stderr: this.output?.stderr.toBuffer() ?? Buffer.alloc(0),
      stdoutTruncated: this.output?.stdout.overflowed ?? false,
      stderrTruncated: this.output?.stderr.overflowed ?? false,
      executionTimeMs: ending.executionTimeMs,
      timedOut: this.stoppedBy.has("timeout"),
      usage: ending.usage,
      artifacts,
      error: ending.error,
      limitsHit: ending.limitsHit,
    };
  }

  /** any → removed: nothing more is done with the container; returns its id for removal. */
  release(): string | undefined {
    if (this.current === "removed") return undefined;
    clearTimeout(this.timer);
    if (!this.keptAttachment) this.attachment?.destroy();
    this.exitWait.abort();
    this.enter("removed");
    return this.lease?.id;
  }

  /**
   * After release, for the outcome it reported: hands a recyclable container (and its kept attach
   * stream) back to its pool when recycle-rules.ts allows it, and says so; false leaves the
   * container for removal.
   */
  handBack(outcome: RunOutcome | undefined): boolean {
    const reuse = this.lease?.reuse;
    const kept = this.keptAttachment ? this.attachment : undefined;
    const refusal =
      !reuse || !outcome || this.current !== "removed"
        ? "not recyclable"
        : recycleRefusal({
            reportedFirst: this.reportedFirst,
            report: this.supervisorReport,
            stoppedBy: this.stoppedBy,
            outcome,
            artifactsWanted: this.spec.artifacts !== undefined,
            inputWritten: this.inputWritten,
          });
    if (refusal || !reuse) {
      kept?.destroy();
      this.context.log.debug({ container: this.lease?.id, reason: refusal }, "container not recycled");
      return false;
    }
    reuse(kept);
    return true;
  }

  /**
   * Whether the engine's record of the exit is needed: always when the container ended before its
   * report; after a report only where a memory kill may have ended the program alone and the
   * report says it failed on its own (runtimes.ts), and then once the container has exited, since
   * the engine sets its OOM flag only then.
   */
  private async engineRecordWanted(trailer: SupervisorTrailer): Promise<boolean> {
    if (!this.reportedFirst) return true;
    const { runtime, runscPlatform } = this.context.shape;
    const report = trailer.report;
    if (!memoryKillMayEndProgramOnly(runtime, runscPlatform) || this.stoppedBy.size > 0) return false;
    if (report?.kind !== "finished" || report.status === 0) return false;
    await Promise.race([this.exited?.catch(() => undefined), sleep(exitAfterReportMs), this.stopped]);
    return true;
  }

  private async inspectExit(): Promise<ContainerExit | undefined> {
    const { lease } = this;
    if (!lease) return undefined;
    try {
      // A caller that went away does not wait for the engine's record; a run Aurea killed for a
      // limit does, since the engine's OOM flag may say why it ran into it (verdict.ts).
      return await Promise.race([this.context.containers.inspectExit(lease.id), this.cancelled.then(() => undefined)]);
    } catch (error) {
      this.lostTrack = `could not inspect the exited container: ${(error as Error).message}`;
      return undefined;
    }
  }

  private kill(reason: StopReason): void {
    const id = this.lease?.id;
    if (this.killing || !id) return;
    const { containers, log } = this.context;
    log.debug({ container: id, reason }, "killing container");
    this.killing = (async () => {
      // The cgroup disappears with the container: sample it first when the numbers matter.
      if (reason !== "cancelled") {
        this.usageAtKill = await containers.readUsage(id, usageSampleTimeoutMs).catch(() => undefined);
      }
      await containers.kill(id);
    })().catch((error: Error) => {
      log.warn({ container: id, err: error.message }, "kill failed");
    });
  }

  private expect(state: RunState): void {
    if (this.current !== state) throw new Error(`run ${this.spec.runId}: expected state ${state}, in ${this.current}`);
  }

  private enter(next: RunState): void {
    if (!nextStates[this.current].includes(next)) {
      throw new Error(`run ${this.spec.runId}: no transition from ${this.current} to ${next}`);
    }
    this.current = next;
    this.context.log.debug({ state: next }, "run state");
    this.context.observer?.onState?.(next);
  }
}
