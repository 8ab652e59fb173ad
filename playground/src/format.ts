/**
 * How the page words what a run reports: verdicts, sizes, durations, limits. Pure functions, no
 * DOM, unit-tested in test/unit/playground.test.ts.
 */
import { Limit, type ResourceLimits, RunStatus } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";

/** The tone of a verdict's badge: passed, failed by the program, stopped, or the service's fault. */
export type VerdictTone = "ok" | "fail" | "stopped" | "error";

export interface Verdict {
  /** Words for the badge: `OK`, `Wrong answer`, `Time limit`. */
  readonly label: string;
  /** The enum's own name, as APIs and logs say it: `WRONG_ANSWER`. */
  readonly name: string;
  readonly tone: VerdictTone;
}

const verdicts: Record<RunStatus, Verdict> = {
  [RunStatus.UNSPECIFIED]: { label: "Unknown", name: "UNSPECIFIED", tone: "error" },
  [RunStatus.OK]: { label: "OK", name: "OK", tone: "ok" },
  [RunStatus.RUNTIME_ERROR]: { label: "Runtime error", name: "RUNTIME_ERROR", tone: "fail" },
  [RunStatus.TIMEOUT]: { label: "Time limit", name: "TIMEOUT", tone: "fail" },
  [RunStatus.MEMORY_LIMIT]: { label: "Memory limit", name: "MEMORY_LIMIT", tone: "fail" },
  [RunStatus.OUTPUT_LIMIT]: { label: "Output limit", name: "OUTPUT_LIMIT", tone: "fail" },
  [RunStatus.CANCELLED]: { label: "Cancelled", name: "CANCELLED", tone: "stopped" },
  [RunStatus.INTERNAL]: { label: "Internal error", name: "INTERNAL", tone: "error" },
  [RunStatus.COMPILE_ERROR]: { label: "Compile error", name: "COMPILE_ERROR", tone: "fail" },
  [RunStatus.WRONG_ANSWER]: { label: "Wrong answer", name: "WRONG_ANSWER", tone: "fail" },
  [RunStatus.SKIPPED]: { label: "Skipped", name: "SKIPPED", tone: "stopped" },
  [RunStatus.NETWORK_LIMIT]: { label: "Network limit", name: "NETWORK_LIMIT", tone: "fail" },
};

export function describeVerdict(status: RunStatus): Verdict {
  return verdicts[status] ?? { label: `Status ${status}`, name: String(status), tone: "error" };
}

const limitNames: Record<Limit, string> = {
  [Limit.UNSPECIFIED]: "unspecified",
  [Limit.PIDS]: "processes",
  [Limit.MEMORY]: "memory",
  [Limit.FILE_SIZE]: "file size",
  [Limit.WORKSPACE_BYTES]: "workspace size",
  [Limit.WORKSPACE_FILES]: "workspace files",
  [Limit.OPEN_FILES]: "open files",
  [Limit.OUTPUT]: "output",
  [Limit.TIME]: "time",
  [Limit.NETWORK]: "network",
};

/** The limits a run ran into, in words: `memory, processes`; empty when none. */
export function describeLimitsHit(limits: readonly Limit[]): string {
  return limits.map((limit) => limitNames[limit] ?? `limit ${limit}`).join(", ");
}

const units = ["B", "KiB", "MiB", "GiB", "TiB"];

/** Bytes in binary units with three significant digits: `512 B`, `1.50 KiB`, `256 MiB`. */
export function formatBytes(bytes: number | bigint): string {
  let value = Number(bytes);
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** Seconds as people read them: `850 ms`, `1.25 s`, `12.3 s`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
}

/** How the program ended: `exit code 0`, `signal SIGKILL`. */
export function describeExit(exitCode: number, signal: string): string {
  return signal !== "" ? `signal ${signal}` : `exit code ${exitCode}`;
}

/** The limits a run got, in one line: `1 CPU · 256 MiB memory · 64 processes · 10 s wall time`. */
export function describeLimits(limits: ResourceLimits | undefined, timeoutSeconds: number): string {
  const parts: string[] = [];
  if (limits) {
    parts.push(`${limits.cpu} CPU`, `${formatBytes(limits.memoryBytes)} memory`, `${limits.pids} processes`);
  }
  if (timeoutSeconds > 0) parts.push(`${formatSeconds(timeoutSeconds)} wall time`);
  return parts.join(" · ");
}
