import type { ArtifactCollection } from "../runner/artifact-collection.js";
import type { RunOutcome } from "../runner/run-spec.js";
import type { ContainerExit } from "../docker/container-client.js";
import type { CappedBuffer } from "../runner/output-capture.js";
import { programNeverRan } from "../runner/run-spec.js";
import { type ExecEvidence, memoryKillExitCode, sandboxDiedOfMemory, settleExec } from "../runner/verdict.js";
import type { Runtime } from "../sandbox/runtimes.js";
import type { AgentExit, CellException } from "./agent-protocol.js";

/** What an exec wrote and made, gathered by the session while it ran. */
export interface ExecCapture {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  /** Files the exec returned (a stateful cell's figures), by name. */
  readonly files: ReadonlyMap<string, Buffer>;
}

/** The agent's report as the evidence verdict.ts decides an exec's ending from. Pure. */
export function execEvidence(exit: AgentExit, capture: Pick<ExecCapture, "stdoutTruncated" | "stderrTruncated">): ExecEvidence {
  return {
    status: exit.status ?? undefined,
    stoppedBy: exit.stopped_by ?? undefined,
    notStarted: exit.status === null ? exit.error : undefined,
    outputTruncated: capture.stdoutTruncated || capture.stderrTruncated,
    oomKills: exit.oom_kills,
    pidsRefused: exit.pids_refused,
    memoryAtLimit: exit.memory_at_limit,
    workspaceFreeBlocks: exit.workspace_free_blocks ?? undefined,
    workspaceFreeFiles: exit.workspace_free_files ?? undefined,
  };
}

/** An exec's outcome: its ending decided by `settleExec` (verdict.ts), with what it wrote. Pure. */
export function execOutcome(execId: string, exit: AgentExit, capture: ExecCapture): RunOutcome {
  const ending = settleExec(execEvidence(exit, capture));
  const stoppedBy = exit.stopped_by ?? undefined;
  const artifacts: ArtifactCollection | undefined =
    capture.files.size > 0 ? { files: capture.files, skipped: [], truncated: false, executables: new Set() } : undefined;
  return {
    runId: execId,
    verdict: ending.verdict,
    exitCode: ending.exitCode ?? -1,
    signal: ending.signal,
    stdout: capture.stdout,
    stderr: capture.stderr,
    stdoutTruncated: capture.stdoutTruncated || stoppedBy === "output_limit",
    stderrTruncated: capture.stderrTruncated,
    executionTimeMs: exit.wall_ms ?? 0,
    timedOut: stoppedBy === "timeout",
    usage:
      exit.cpu_ns == null && exit.peak_rss == null
        ? undefined
        : { cpuTimeNs: exit.cpu_ns ?? undefined, peakMemoryBytes: exit.peak_rss ?? undefined },
    artifacts,
    error: ending.error,
    limitsHit: ending.limitsHit,
    ...(typeof exit.value === "string" ? { value: exit.value } : {}),
    ...(exit.state_lost ? { stateLost: true } : {}),
    ...(isCellException(exit.exception) ? { exception: exit.exception } : {}),
    ...(exit.results && exit.results.length > 0 ? { results: cellResults(exit.results) } : {}),
  };
}

/** The container was killed for memory: the engine says so, or gVisor's sandbox died as it does then. */
export function killedForMemory(end: ContainerExit, runtime: Runtime): boolean {
  return end.oomKilled || sandboxDiedOfMemory(runtime, end.exitCode, end.oomKilled);
}

/** An exec ended by the memory kill that took its whole sandbox: a SIGKILL for memory, as the API documents. */
export function memoryKilled(execId: string, stdout: CappedBuffer, stderr: CappedBuffer): RunOutcome {
  const ending = settleExec({
    status: memoryKillExitCode,
    oomKills: 1,
    stoppedBy: undefined,
    notStarted: undefined,
    outputTruncated: stdout.overflowed || stderr.overflowed,
  });
  return {
    ...programNeverRan(execId, ending.verdict),
    exitCode: memoryKillExitCode,
    signal: ending.signal,
    stdout: stdout.toBuffer(),
    stderr: stderr.toBuffer(),
    stdoutTruncated: stdout.overflowed,
    stderrTruncated: stderr.overflowed,
    limitsHit: ending.limitsHit,
  };
}

/** Whether the agent's exception is three strings, as the wire promises (anything else is dropped). */
function isCellException(raised: unknown): raised is CellException {
  if (typeof raised !== "object" || raised === null) return false;
  const { name, value, traceback } = raised as Record<string, unknown>;
  return typeof name === "string" && typeof value === "string" && typeof traceback === "string";
}

/** A cell's displayed results, each kept only when its data is text by MIME type. */
function cellResults(results: NonNullable<AgentExit["results"]>): NonNullable<RunOutcome["results"]> {
  return results
    .filter((result) => Object.values(result.data ?? {}).every((text) => typeof text === "string"))
    .map((result) => ({ data: { ...result.data }, isMainResult: result.is_main_result === true }));
}
