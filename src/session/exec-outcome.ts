import type { ArtifactCollection } from "../runner/artifact-collection.js";
import type { RunOutcome } from "../runner/run-spec.js";
import { decideVerdict, limitsHit, signalFromExitCode } from "../runner/verdict.js";
import type { AgentExit } from "./agent-protocol.js";

/** What an exec wrote and made, gathered by the session while it ran. */
export interface ExecCapture {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  /** Files the exec returned (a stateful cell's figures), by name. */
  readonly files: ReadonlyMap<string, Buffer>;
}

/**
 * An exec's outcome from the agent's report: the same verdict rules as a run's (verdict.ts
 * decideVerdict), Aurea's own stops first. Pure.
 */
export function execOutcome(execId: string, exit: AgentExit, capture: ExecCapture): RunOutcome {
  const stoppedBy = exit.stopped_by ?? undefined;
  const exitCode = exit.status ?? undefined;
  const oomKilled = (exit.oom_kills ?? 0) > 0 && exitCode !== 0;
  const verdict = decideVerdict({
    exitCode,
    oomKilled,
    timedOut: stoppedBy === "timeout",
    cancelled: stoppedBy === "cancelled" || stoppedBy === "closed",
    outputLimited: stoppedBy === "output_limit",
    internalError: exit.status === null ? (exit.error ?? "the exec did not start") : undefined,
  });
  const signal = signalFromExitCode(exitCode);
  const artifacts: ArtifactCollection | undefined =
    capture.files.size > 0 ? { files: capture.files, skipped: [], truncated: false, executables: new Set() } : undefined;
  return {
    runId: execId,
    verdict,
    exitCode: exitCode ?? -1,
    signal,
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
    error: verdict === "internal" ? (exit.error ?? "the exec did not start") : undefined,
    limitsHit: limitsHit({
      pids: (exit.pids_refused ?? 0) > 0,
      memory: (exit.oom_kills ?? 0) > 0 || (exit.memory_at_limit ?? 0) > 0,
      file_size: signal === "SIGXFSZ",
      workspace_bytes: exit.workspace_free_blocks === 0,
      workspace_files: exit.workspace_free_files === 0,
      output: stoppedBy === "output_limit" || capture.stdoutTruncated || capture.stderrTruncated,
      time: stoppedBy === "timeout",
    }),
    ...(typeof exit.value === "string" ? { value: exit.value } : {}),
    ...(exit.state_lost ? { stateLost: true } : {}),
  };
}
