import { constants } from "node:os";

/** The single verdict of a run; mirrors aurea.sandbox.v1.RunStatus. */
export type RunVerdict =
  | "ok"
  | "runtime_error"
  | "timeout"
  | "memory_limit"
  | "output_limit"
  | "cancelled"
  | "internal";

/** What is known about how a run ended. */
export interface RunEnding {
  /** Exit code the engine reported; undefined when it could not be learned. */
  readonly exitCode: number | undefined;
  readonly oomKilled: boolean;
  /** Aurea killed the run at its wall-clock limit. */
  readonly timedOut: boolean;
  /** Aurea killed the run because the caller went away. */
  readonly cancelled: boolean;
  /** Aurea killed the run because it wrote more than the output cap. */
  readonly outputLimited: boolean;
  /** Aurea lost track of the run (the engine failed mid-run). */
  readonly internalError: string | undefined;
}

const signalNames = new Map<number, string>(
  Object.entries(constants.signals).map(([name, number]) => [number, name]),
);

/**
 * The signal that ended the program, read from the exit code the engine's init reports
 * (128 + signal number), or "" when it exited normally.
 */
export function signalFromExitCode(exitCode: number | undefined): string {
  if (exitCode === undefined || exitCode <= 128 || exitCode > 128 + 64) return "";
  return signalNames.get(exitCode - 128) ?? `SIG${exitCode - 128}`;
}

/**
 * Decides the verdict. Aurea's own reasons for ending a run come first, because they explain the
 * exit code that follows from them (a SIGKILL); what the program did on its own comes after.
 */
export function decideVerdict(ending: RunEnding): RunVerdict {
  if (ending.internalError !== undefined || ending.exitCode === undefined) return "internal";
  if (ending.cancelled) return "cancelled";
  if (ending.timedOut) return "timeout";
  if (ending.outputLimited) return "output_limit";
  if (ending.exitCode === 0) return "ok";
  // A program whose helper was OOM-killed but which still exited 0 did its job; one that failed
  // after an OOM kill failed for memory, whether the engine noticed (runsc often does not).
  return ending.oomKilled ? "memory_limit" : "runtime_error";
}
