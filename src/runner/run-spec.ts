import type { AllowRule } from "../sandbox/allow-list.js";
import type { SandboxLimits } from "../sandbox/limits.js";
import type { Runtime } from "../sandbox/runtimes.js";
import type { ArtifactCollection } from "./artifact-collection.js";
import type { Language } from "./languages.js";
import type { ArtifactCaps } from "../sandbox/supervisor-protocol.js";
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
  /** The caller's id for this request, which makes retries of it safe (request-claims.ts). */
  readonly requestId?: string | undefined;
  /** For a compiled language: the compile phase's own limits (compile-phase.ts). */
  readonly compile?: CompileLimits | undefined;
  /** Which phase of a run this container is, for log lines: a compile, or the program (default). */
  readonly phase?: "compile" | "run";
  /** Test cases to judge the program on (judge.ts); the program then runs once per case. */
  readonly tests?: JudgePlan | undefined;
  /** Written to the container's stdin after `stdin`, as it is produced, before stdin is closed. */
  readonly moreInput?: AsyncIterable<Uint8Array>;
  /** Bytes kept of each of stdout and stderr, when not the server's output limit. */
  readonly outputLimitBytes?: number;
  /** Run through the test-case runner, once per case (set by judge.ts). */
  readonly judged?: boolean;
  /** The run's network policy (NetworkPolicy.allow, parsed); undefined for no network at all. */
  readonly network?: readonly AllowRule[] | undefined;
}

/** Test cases with everything resolved: what judge.ts needs to run and judge them. */
export interface JudgePlan {
  readonly cases: readonly JudgeCase[];
  readonly comparison: Comparison;
  readonly absoluteTolerance: number;
  readonly relativeTolerance: number;
  readonly stopOnFirstFailure: boolean;
  /** Bytes of each case's stdout and stderr compared (and one more ends the case). */
  readonly caseOutputLimitBytes: number;
  /** Bytes of each returned in the case's result. */
  readonly caseOutputShownBytes: number;
}

export interface JudgeCase {
  readonly name: string;
  readonly stdin: Uint8Array;
  readonly args: readonly string[];
  readonly expectedStdout: string | undefined;
  readonly timeoutMs: number;
  /** 0 for none. */
  readonly cpuSeconds: number;
  /** Peak resident memory allowed, bytes; undefined for the run's limit alone. */
  readonly memoryBytes: number | undefined;
  /** This case's own comparison, when not the plan's. */
  readonly comparison: Comparison | undefined;
}

/** How a case's stdout is compared with its expected output (output-comparison.ts). */
export type Comparison = "trailing_whitespace" | "exact" | "tokens" | "numeric";

/** The outcome of one test case: its verdict is a run verdict, "wrong_answer", or "skipped" for a case that never ran. */
export interface TestOutcome extends ProcessEnding {
  readonly name: string;
  /** For "wrong_answer": where the output first differs. */
  readonly difference: string;
  readonly timeoutMs: number;
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

/** How one process ended and what it wrote: a run's program, or one of its test cases. */
export interface ProcessEnding {
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
  /** Undefined when neither the supervisor nor the engine could tell. */
  readonly usage: RunUsage | undefined;
}

/** The ending of a process that never started, with `verdict`. */
export function neverStarted(verdict: RunVerdict): ProcessEnding {
  return {
    verdict,
    exitCode: -1,
    signal: "",
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    stdoutTruncated: false,
    stderrTruncated: false,
    executionTimeMs: 0,
    usage: undefined,
  };
}

/** The complete, truthful result of a run that got as far as creating its container. */
export interface RunOutcome extends ProcessEnding {
  readonly runId: string;
  readonly timedOut: boolean;
  /** Undefined when none were asked for or the program did not end on its own. */
  readonly artifacts: ArtifactCollection | undefined;
  /** For verdict "internal": what failed. */
  readonly error: string | undefined;
  /** The limits the program ran into, whatever its verdict. */
  readonly limitsHit: readonly LimitHit[];
  /** The compile phase, for a compiled language. */
  readonly compile?: CompileOutcome | undefined;
  /** With test cases: one outcome per case, in order. */
  readonly tests?: readonly TestOutcome[] | undefined;
  /** A stateful session's cell: its trailing expression's value (session/session.ts). */
  readonly value?: string | undefined;
  /** A stateful session's cell: the interpreter ended during it, and its state with it. */
  readonly stateLost?: boolean;
  /** A stateful session's cell: what it displayed, by MIME type, in order. */
  readonly results?: readonly { readonly data: Readonly<Record<string, string>>; readonly isMainResult: boolean }[];
  /** A stateful session's cell: the exception it raised and did not catch. */
  readonly exception?: { readonly name: string; readonly value: string; readonly traceback: string } | undefined;
}

/** The outcome of a run stopped (cancelled) before its program started. */
export function cancelledBeforeStart(runId: string): RunOutcome {
  return programNeverRan(runId, "cancelled");
}

/** The outcome of a run whose program never started: cancelled first, or it did not compile. */
export function programNeverRan(runId: string, verdict: RunVerdict): RunOutcome {
  return { ...neverStarted(verdict), runId, timedOut: false, artifacts: undefined, error: undefined, limitsHit: [] };
}
