import type { SandboxLimits } from "../docker/container-options.js";
import type { Runtime } from "../docker/runtimes.js";
import type { ArtifactCollection } from "./artifact-collection.js";
import type { Language } from "./languages.js";
import type { OutputStreamName } from "./output-capture.js";
import type { RunState } from "./run-lifecycle.js";
import type { ArtifactCaps } from "./supervisor-protocol.js";
import type { LimitHit, RunUsage, RunVerdict } from "./verdict.js";
import type { WorkspaceFile } from "./workspace-archive.js";

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
  readonly runtime: Runtime;
  readonly limits: SandboxLimits;
  /** Collect created or changed workspace files within these caps; undefined to collect none. */
  readonly artifacts: ArtifactCaps | undefined;
  /** Who asked (an API key's id), for the audit line; never the key itself. */
  readonly callerId?: string | undefined;
  /** For a compiled language: the compile phase's own limits (compile-phase.ts). */
  readonly compile?: CompileLimits | undefined;
  /** Which phase of a run this container is, for log lines: a compile, or the program (default). */
  readonly phase?: "compile" | "run";
}

/** The limits of a compile phase, resolved from the language's defaults, the request and the server's maxima. */
export interface CompileLimits {
  readonly timeoutMs: number;
  readonly limits: SandboxLimits;
}

/** How a compile phase ended, apart from the program's run. */
export interface CompileOutcome {
  /** "ok" when it compiled; "runtime_error" when the compiler failed; a limit, "cancelled" or "internal" otherwise. */
  readonly verdict: RunVerdict;
  readonly exitCode: number;
  readonly signal: string;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly executionTimeMs: number;
  readonly usage: RunUsage | undefined;
  readonly timeoutMs: number;
  readonly limits: SandboxLimits;
}

/** Optional live view of a run, for streaming callers (and tests). */
export interface RunObserver {
  /** The container started; output may follow. */
  onStarted?(): void;
  /** Output as it arrives, in order within each stream; only bytes within the cap. */
  onOutput?(stream: OutputStreamName, chunk: Buffer): void;
  /** The run entered a state of its lifecycle (run-lifecycle.ts). */
  onState?(state: RunState): void;
}

/** The complete, truthful result of a run that got as far as creating its container. */
export interface RunOutcome {
  readonly runId: string;
  readonly verdict: RunVerdict;
  /** The program's exit status; -1 when it could not be learned. */
  readonly exitCode: number;
  /** Signal that ended the program, or "". */
  readonly signal: string;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  /** Wall time from program start to program end. */
  readonly executionTimeMs: number;
  readonly timedOut: boolean;
  /** Undefined when neither the supervisor nor the engine could tell. */
  readonly usage: RunUsage | undefined;
  /** Undefined when none were asked for or the program did not end on its own. */
  readonly artifacts: ArtifactCollection | undefined;
  /** For verdict "internal": what failed. */
  readonly error: string | undefined;
  /** The limits the program ran into, whatever its verdict. */
  readonly limitsHit: readonly LimitHit[];
  /** The compile phase, for a compiled language. */
  readonly compile?: CompileOutcome | undefined;
}

/** The outcome of a run stopped (cancelled) before its program started. */
export function cancelledBeforeStart(runId: string): RunOutcome {
  return programNeverRan(runId, "cancelled");
}

/** The outcome of a run whose program never started: cancelled first, or it did not compile. */
export function programNeverRan(runId: string, verdict: RunVerdict): RunOutcome {
  return {
    runId,
    verdict,
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
    limitsHit: [],
  };
}
