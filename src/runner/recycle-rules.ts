import type { SandboxShape } from "../sandbox/limits.js";
import { memoryKillMayEndProgramOnly, runtimeTraits } from "../sandbox/runtimes.js";
import type { SupervisorReport } from "../sandbox/supervisor-protocol.js";
import type { RunOutcome } from "./run-spec.js";
import type { StopReason } from "./verdict.js";

/**
 * When a container that served a run may serve the caller's next one. Pure: the lifecycle gathers
 * the facts, the pool does the scrub (and removes the container when the scrub fails).
 */

/** What is known about a run once it is reported. */
export interface RecycleFacts {
  /** The supervisor reported before the container exited (a recycled one does not exit). */
  readonly reportedFirst: boolean;
  readonly report: SupervisorReport | undefined;
  readonly stoppedBy: ReadonlySet<StopReason>;
  readonly outcome: Pick<RunOutcome, "limitsHit" | "stdoutTruncated" | "stderrTruncated" | "error">;
  /** Artifacts were collected: their tar ends the container's output, so it was the last run. */
  readonly artifactsWanted: boolean;
  /** The engine took the run's whole input (else the supervisor may still be waiting for it). */
  readonly inputWritten: boolean;
}

/**
 * Why the container must be removed instead of reused, or undefined when it may be reused: only
 * after a run that ended on its own, reported by its supervisor, within every limit. A program's
 * own failure (an exception, a non-zero status, a signal) is no reason: the scrub removes
 * whatever it left, and proves it.
 */
export function recycleRefusal(facts: RecycleFacts): string | undefined {
  if (!facts.reportedFirst) return "the container ended";
  if (facts.stoppedBy.size > 0) return `the run was stopped (${[...facts.stoppedBy].join(", ")})`;
  if (facts.report?.kind !== "finished") return "no report from the supervisor";
  if (facts.artifactsWanted) return "artifacts were collected";
  if (facts.outcome.limitsHit.length > 0) return `the run reached a limit (${facts.outcome.limitsHit.join(", ")})`;
  if (facts.outcome.stdoutTruncated || facts.outcome.stderrTruncated) return "output was cut";
  if (facts.outcome.error) return "the run ended in an error";
  if (!facts.inputWritten) return "the input was not all written";
  return undefined;
}

/**
 * Why containers of `shape` are never recycled, or undefined when they may be: the scrub must be
 * able to prove the sandbox holds nothing of the last run, and a report must be the whole truth
 * without waiting for the container's exit.
 */
export function recyclingRefusal(shape: SandboxShape): string | undefined {
  const { runtime, runscPlatform } = shape;
  if (memoryKillMayEndProgramOnly(runtime, runscPlatform)) {
    return `on gVisor's ${runscPlatform} platform a failed run's memory kill shows only when the container exits`;
  }
  // gVisor keeps POSIX message queues in its own kernel with nothing to list them in (measured
  // with 20240729: mq_open works, a queue outlives its process, /dev/mqueue is absent): its
  // programs are recycled only when denied them.
  if (!runtimeTraits[runtime].posixMessageQueuesListable && !shape.denyMessageQueues) {
    return `${runtime} keeps POSIX message queues where no scrub can list them, and this shape allows them`;
  }
  return undefined;
}
