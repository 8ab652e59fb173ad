import { constants } from "node:os";
import { runtimeTraits, type Runtime } from "../sandbox/runtimes.js";
import type { SupervisorReport } from "../sandbox/supervisor-protocol.js";

/**
 * How anything sandboxed ended, decided in one place, from evidence: `reconcile` for a run (the
 * supervisor's report, the engine's record, Aurea's own kills), `settleExec` for an exec or a
 * cell in a session (the agent's report), `decideCaseVerdict` and `interruptedCaseVerdict` for a
 * test case, `compileGate` for whether a compile lets the program run, `judgedVerdict` for a run
 * judged on cases. All of them share `decideVerdict`'s order of precedence and `limitsHitBy`'s
 * mapping of counters to limits. The callers (run-lifecycle.ts, session.ts, judge.ts,
 * compile-phase.ts) only gather the evidence.
 */

/** The single verdict of a run; mirrors aurea.sandbox.v1.RunStatus. */
export type RunVerdict =
  | "ok"
  | "runtime_error"
  | "timeout"
  | "memory_limit"
  | "output_limit"
  | "cancelled"
  | "internal"
  /** Only from the compile phase (compile-phase.ts): the program never ran. */
  | "compile_error"
  /** Only for a test case (judge.ts): its output differed from the expected output. */
  | "wrong_answer"
  /** Only for a test case: it never ran. */
  | "skipped"
  /** A cap of the run's network policy was reached (EGRESS_MAX_BYTES, EGRESS_MAX_CONNECTIONS). */
  | "network_limit";

/** A limit a program ran into; mirrors aurea.sandbox.v1.Limit (open files are not detected yet). */
export type LimitHit = "pids" | "memory" | "file_size" | "workspace_bytes" | "workspace_files" | "output" | "time" | "network";

/**
 * Why Aurea ended a run itself. `network_limit`: the egress gateway reported a cap reached;
 * `network_lost`: the egress gateway stopped, so the run's network is gone (fail closed).
 */
export type StopReason = "cancelled" | "timeout" | "output_limit" | "network_limit" | "network_lost";

/** The error a run gets when its egress gateway stopped during it. */
export const networkLostError = "the egress gateway stopped during the run: the run lost its network (it never runs with more)";

/** Resource usage read from the run's cgroup. */
export interface RunUsage {
  /** CPU time of every process in the container, nanoseconds. */
  readonly cpuTimeNs: number | undefined;
  /** Peak memory of the container's cgroup, bytes. */
  readonly peakMemoryBytes: number | undefined;
  /** Payload bytes through the egress gateway, each way; undefined without a network policy. */
  readonly networkBytesSent?: number | undefined;
  readonly networkBytesReceived?: number | undefined;
}

/**
 * What the sandbox's counters said when a program ended, as the supervisor (per run) and the
 * session agent (per exec) both read them from the container's cgroup and workspace.
 */
export interface SandboxCounters {
  /** Processes the kernel's OOM killer ended. */
  readonly oomKills?: number | undefined;
  /** Forks refused at the pids limit. */
  readonly pidsRefused?: number | undefined;
  /** Times memory use reached its limit. */
  readonly memoryAtLimit?: number | undefined;
  /** The workspace's free blocks and file slots at the end; undefined when unreadable. */
  readonly workspaceFreeBlocks?: number | undefined;
  readonly workspaceFreeFiles?: number | undefined;
}

/** Everything observed about how a run ended. */
export interface RunEvidence {
  readonly runtime: Runtime;
  /** Aurea's own reasons for ending the run, if it did. */
  readonly stoppedBy: ReadonlySet<StopReason>;
  /** The supervisor's report, undefined when none arrived. */
  readonly report: SupervisorReport | undefined;
  /** Exit code the engine reported, undefined when it was not asked (the report came first) or could not say. */
  readonly engineExitCode: number | undefined;
  /** The engine flagged an OOM kill. */
  readonly engineOomKilled: boolean;
  /** Aurea lost track of the container (the engine failed mid-run): what failed. */
  readonly lostTrack: string | undefined;
  /** One stats sample taken just before Aurea killed the run, if it did. */
  readonly usageAtKill: RunUsage | undefined;
  /** The run's wall time by the server's clock, ms. */
  readonly serverMs: number;
  /** The run's wall time by the engine's clock (container start to exit), ms, when it times the run. */
  readonly engineMs: number | undefined;
  /** More output arrived than the cap kept, on either stream. */
  readonly outputTruncated: boolean;
}

/** The truth about how a run ended. */
export interface RunEnding {
  readonly verdict: RunVerdict;
  /** The program's exit status; undefined when it could not be learned. */
  readonly exitCode: number | undefined;
  /** Signal that ended the program, or "". */
  readonly signal: string;
  /** For verdict "internal": what failed. */
  readonly error: string | undefined;
  readonly usage: RunUsage | undefined;
  readonly executionTimeMs: number;
  /** The engine's exit code (the supervisor's) differed from the program's status in the report. */
  readonly supervisorExitDiffered: boolean;
  /** The limits the program ran into, in the order of aurea.sandbox.v1.Limit. */
  readonly limitsHit: readonly LimitHit[];
}

/** 128 + SIGKILL: how a program the kernel killed for memory ends. */
export const memoryKillExitCode = 137;

/**
 * Whether the engine's word on a container's end says the memory kill took the whole sandbox, as
 * it does under gVisor (runtimes.ts). The engine mostly answers exit 137 without its OOM flag;
 * now and then (1 run in 16 of a Java heap here) it flags the OOM kill and gives runsc's own
 * status (2), which is the sandbox's, not the program's. Runs and sessions both decide by this.
 */
export function sandboxDiedOfMemory(runtime: Runtime, engineExitCode: number | undefined, engineOomKilled: boolean): boolean {
  return runtimeTraits[runtime].memoryKillEndsSandbox && (engineExitCode === memoryKillExitCode || engineOomKilled);
}

/** The end-of-run decision. Pure. */
export function reconcile(evidence: RunEvidence): RunEnding {
  const { report, stoppedBy } = evidence;
  let error = evidence.lostTrack ?? (stoppedBy.has("network_lost") ? networkLostError : undefined);
  if (error === undefined && report?.kind === "setup-failed") {
    error = "the workspace files could not be extracted in the container";
  }
  const killedByAurea = stoppedBy.size > 0;
  // Under gVisor a memory kill takes the whole sandbox before the supervisor can report: that
  // ending is read as the memory kill it is.
  const sandboxKilledForMemory =
    report === undefined &&
    sandboxDiedOfMemory(evidence.runtime, evidence.engineExitCode, evidence.engineOomKilled) &&
    !killedByAurea &&
    error === undefined;
  // Otherwise the supervisor writes its report after every program ending it sees; without one,
  // and without a kill of Aurea's own, the output stream was lost and what was captured may be
  // incomplete. Reporting OK with partial output would invent a result.
  if (error === undefined && report === undefined && !killedByAurea && !sandboxKilledForMemory) {
    // The engine's word on the ending goes with it, so an ending no rule here expects can be told apart.
    const engineSaid = evidence.engineExitCode === undefined ? "no exit code" : `exit code ${evidence.engineExitCode}`;
    error = `the run's output ended without the supervisor's final report (the engine reported ${engineSaid}${evidence.engineOomKilled ? ", OOM-killed" : ""}); output may be incomplete`;
  }
  const finished = report?.kind === "finished" ? report : undefined;
  // The report carries the program's own status; the engine's exit code is the supervisor's,
  // which differs only when the supervisor failed after reporting (collecting artifacts after a
  // fork bomb, say). The program's status is the truth about the program.
  // A memory kill is a SIGKILL (137), as the API documents, whatever status runsc gave. Under
  // gVisor the engine's OOM flag alone means the host killed part of the sandbox for memory (on
  // systrap it may be the program's stub only, runtimes.ts): a failure or a timeout after it is
  // the memory kill's doing (a JVM that lost one thread's stub hangs, measured).
  const gvisorMemoryKill = evidence.engineOomKilled && runtimeTraits[evidence.runtime].memoryKillEndsSandbox;
  const hungAfterMemoryKill = gvisorMemoryKill && stoppedBy.has("timeout");
  const exitCode =
    gvisorMemoryKill && finished !== undefined && finished.status !== 0
      ? memoryKillExitCode
      : (finished?.status ?? (sandboxKilledForMemory ? memoryKillExitCode : evidence.engineExitCode));
  const oomKilled = evidence.engineOomKilled || (finished?.oomKills ?? 0) > 0 || sandboxKilledForMemory;
  const verdict = decideVerdict({
    exitCode,
    oomKilled,
    timedOut: stoppedBy.has("timeout") && !hungAfterMemoryKill,
    cancelled: stoppedBy.has("cancelled"),
    outputLimited: stoppedBy.has("output_limit"),
    networkLimited: stoppedBy.has("network_limit"),
    internalError: error,
  });
  // The proto's promise: a run Aurea lost track of has no exit code (-1) and no signal, whatever
  // number the engine had for a container that ended without its report.
  const knownExitCode = verdict === "internal" ? undefined : exitCode;
  const usage =
    finished && (finished.cpuTimeNs !== undefined || finished.peakMemoryBytes !== undefined)
      ? { cpuTimeNs: finished.cpuTimeNs, peakMemoryBytes: finished.peakMemoryBytes }
      : evidence.usageAtKill;
  return {
    verdict,
    exitCode: knownExitCode,
    signal: signalFromExitCode(knownExitCode),
    error,
    usage,
    executionTimeMs: evidence.engineMs !== undefined && evidence.engineMs >= 0 ? evidence.engineMs : evidence.serverMs,
    supervisorExitDiffered:
      finished !== undefined && evidence.engineExitCode !== undefined && evidence.engineExitCode !== finished.status,
    limitsHit: limitsHitBy(finished ?? {}, {
      oomKilled,
      signal: signalFromExitCode(knownExitCode),
      output: stoppedBy.has("output_limit") || evidence.outputTruncated,
      time: stoppedBy.has("timeout"),
      network: stoppedBy.has("network_limit"),
    }),
  };
}

/** Why Aurea ended an exec itself; "closed" is the session closing under it. */
export type ExecStopReason = StopReason | "closed";

/** Everything observed about how one exec or cell in a session ended: the agent's report. */
export interface ExecEvidence extends SandboxCounters {
  /** Exit status, 128 + N for signal N; undefined when the exec never started. */
  readonly status: number | undefined;
  readonly stoppedBy: ExecStopReason | undefined;
  /** Why the exec never started, when it did not. */
  readonly notStarted: string | undefined;
  /** More output arrived than the cap kept, on either stream. */
  readonly outputTruncated: boolean;
}

/** The truth about how an exec ended. */
export interface ExecEnding {
  readonly verdict: RunVerdict;
  readonly exitCode: number | undefined;
  readonly signal: string;
  /** For verdict "internal": what failed. */
  readonly error: string | undefined;
  readonly limitsHit: readonly LimitHit[];
}

/** An exec's ending, by the same precedence and limit mapping as a run's. Pure. */
export function settleExec(evidence: ExecEvidence): ExecEnding {
  const { status, stoppedBy } = evidence;
  // A helper the OOM killer took while the exec still succeeded did not fail it.
  const oomKilled = (evidence.oomKills ?? 0) > 0 && status !== 0;
  const error = status === undefined ? (evidence.notStarted ?? "the exec did not start") : undefined;
  const verdict = decideVerdict({
    exitCode: status,
    oomKilled,
    timedOut: stoppedBy === "timeout",
    cancelled: stoppedBy === "cancelled" || stoppedBy === "closed",
    outputLimited: stoppedBy === "output_limit",
    internalError: error,
  });
  const signal = signalFromExitCode(status);
  return {
    verdict,
    exitCode: status,
    signal,
    error,
    limitsHit: limitsHitBy(evidence, {
      oomKilled,
      signal,
      output: stoppedBy === "output_limit" || evidence.outputTruncated,
      time: stoppedBy === "timeout",
    }),
  };
}

/**
 * The limits an ending ran into, from the sandbox's counters and how it ended: the one mapping,
 * for runs and execs alike, in the order of aurea.sandbox.v1.Limit.
 */
export function limitsHitBy(
  counters: SandboxCounters,
  ending: {
    readonly oomKilled: boolean;
    readonly signal: string;
    readonly output: boolean;
    readonly time: boolean;
    readonly network?: boolean;
  },
): LimitHit[] {
  const hit: Readonly<Record<LimitHit, boolean>> = {
    pids: (counters.pidsRefused ?? 0) > 0,
    memory: ending.oomKilled || (counters.oomKills ?? 0) > 0 || (counters.memoryAtLimit ?? 0) > 0,
    file_size: ending.signal === "SIGXFSZ",
    workspace_bytes: counters.workspaceFreeBlocks === 0,
    workspace_files: counters.workspaceFreeFiles === 0,
    output: ending.output,
    time: ending.time,
    network: ending.network ?? false,
  };
  return (Object.keys(hit) as LimitHit[]).filter((limit) => hit[limit]);
}

/**
 * Whether a compile lets the program run: undefined when it does, otherwise the run's verdict.
 * A cancellation or Aurea's own failure stays what it was; any other failure of the compiler (an
 * error, a limit, products that do not fit the workspace) is the run's compile error.
 */
export function compileGate(
  compiled: { readonly verdict: RunVerdict; readonly exitCode: number | undefined },
  productsFit = true,
): RunVerdict | undefined {
  if (compiled.verdict === "cancelled" || compiled.verdict === "internal") return compiled.verdict;
  if (compiled.verdict !== "ok" || compiled.exitCode !== 0 || !productsFit) return "compile_error";
  return undefined;
}

/** A judged run's verdict: OK when every case passed, otherwise the first failing case's (returned too). */
export function judgedVerdict<Case extends { readonly verdict: RunVerdict }>(
  cases: readonly Case[],
): { verdict: RunVerdict; failed: Case | undefined } {
  const failed = cases.find((testCase) => testCase.verdict !== "ok");
  return { verdict: failed?.verdict ?? "ok", failed };
}

/**
 * The verdict of a case that was running when its whole sandbox ended: that ending (its time, a
 * memory kill under gVisor, a cancellation), unless the ending explains nothing (the sandbox ended
 * OK or with a plain error, or the case runner's report could not be read): then Aurea lost it.
 */
export function interruptedCaseVerdict(sandbox: RunVerdict, reportUnreadable: boolean): RunVerdict {
  return reportUnreadable || sandbox === "ok" || sandbox === "runtime_error" ? "internal" : sandbox;
}

/** The facts the verdict's order of precedence is decided on. */
export interface VerdictFacts {
  /** Exit code of the program; undefined when it could not be learned. */
  readonly exitCode: number | undefined;
  readonly oomKilled: boolean;
  /** Aurea killed the run at its wall-clock limit. */
  readonly timedOut: boolean;
  /** Aurea killed the run because the caller went away. */
  readonly cancelled: boolean;
  /** Aurea killed the run because it wrote more than the output cap. */
  readonly outputLimited: boolean;
  /** Aurea killed the run because it reached a cap of its network policy. */
  readonly networkLimited?: boolean;
  /** Aurea lost track of the run (the engine failed mid-run). */
  readonly internalError: string | undefined;
}

/** Signal names by number; the first name of a number wins (SIGABRT, not its alias SIGIOT). */
const signalNames = new Map<number, string>();
for (const [name, number] of Object.entries(constants.signals)) if (!signalNames.has(number)) signalNames.set(number, name);

/**
 * The signal that ended the program, read from its exit status (128 + signal number, as shells
 * report it), or "" when it exited normally.
 */
export function signalFromExitCode(exitCode: number | undefined): string {
  if (exitCode === undefined || exitCode <= 128 || exitCode > 128 + 64) return "";
  return signalNames.get(exitCode - 128) ?? `SIG${exitCode - 128}`;
}

/**
 * The verdict's order of precedence. Aurea's own reasons for ending a run come first, because
 * they explain the exit code that follows from them (a SIGKILL); what the program did on its own
 * comes after.
 */
export function decideVerdict(ending: VerdictFacts): RunVerdict {
  if (ending.internalError !== undefined || ending.exitCode === undefined) return "internal";
  if (ending.cancelled) return "cancelled";
  if (ending.timedOut) return "timeout";
  if (ending.outputLimited) return "output_limit";
  if (ending.networkLimited) return "network_limit";
  if (ending.exitCode === 0) return "ok";
  // A program whose helper was OOM-killed but which still exited 0 did its job; one that failed
  // after an OOM kill failed for memory, whether the engine noticed (runsc often does not).
  return ending.oomKilled ? "memory_limit" : "runtime_error";
}

/** What the case runner (images/helper/aurea-cases.c) and the comparison say about one test case. */
export interface CaseFacts {
  /** Exit status as the case runner's shell saw it (128 + N for signal N). */
  readonly status: number;
  /** Killed at its wall-clock limit. */
  readonly timedOut: boolean;
  /** Wrote more than the per-case output cap on stdout or stderr. */
  readonly outputOverCap: boolean;
  /** The kernel OOM-killed something in the sandbox during the case. */
  readonly oomKills: number;
  /** Peak resident memory of the case's process, and the lower limit the case asked for. */
  readonly peakMemoryBytes: number | undefined;
  readonly memoryLimitBytes: number | undefined;
  /** The CPU-second limit the case ran under; 0 for none. */
  readonly cpuSeconds: number;
  /** CPU seconds the case used, when known. */
  readonly cpuUsedSeconds: number | undefined;
  /** Whether the output matched; undefined when the case expects no particular output. */
  readonly outputMatched: boolean | undefined;
}

/**
 * A test case's verdict. The limits come first, in the order they stop a program (wall time,
 * output, memory, CPU time); then its own failure; then the comparison, which only a program that
 * exited 0 gets.
 */
export function decideCaseVerdict(facts: CaseFacts): { verdict: RunVerdict; exitCode: number; signal: string } {
  const signal = facts.timedOut ? "SIGKILL" : signalFromExitCode(facts.status);
  const exitCode = facts.timedOut ? -1 : facts.status;
  const verdict = ((): RunVerdict => {
    if (facts.timedOut) return "timeout";
    if (facts.outputOverCap) return "output_limit";
    if (facts.oomKills > 0) return "memory_limit";
    if (facts.memoryLimitBytes !== undefined && (facts.peakMemoryBytes ?? 0) > facts.memoryLimitBytes) return "memory_limit";
    // RLIMIT_CPU: SIGXCPU at the limit, SIGKILL a second later for a program that ignores it.
    const pastCpu = facts.cpuSeconds > 0 && (facts.cpuUsedSeconds ?? 0) >= facts.cpuSeconds;
    if (facts.cpuSeconds > 0 && (signal === "SIGXCPU" || (signal === "SIGKILL" && pastCpu))) return "timeout";
    if (facts.status !== 0) return "runtime_error";
    if (facts.outputMatched === false) return "wrong_answer";
    return "ok";
  })();
  return { verdict, exitCode, signal };
}
