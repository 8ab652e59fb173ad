import type { RunObserver, RunOutcome, Runner, RunSpec } from "./runner.js";
import { judgeCases, notRunCase } from "./judge.js";
import { type CompileOutcome, type ProcessEnding, programNeverRan } from "./run-spec.js";
import { compileGate } from "./verdict.js";
import type { WorkspaceFile } from "./workspace-archive.js";

/**
 * A compiled language's run is two sandboxes: the compiler runs in one, with the compile limits
 * (more time and memory than most programs get) and no stdin; every file it creates becomes part
 * of the program's workspace in a second, fresh one, with the run's own limits. Each phase is an
 * ordinary run of the runner, so both get the same isolation, verdict rules and removal, and the
 * compiler can leave nothing running or hidden for the program.
 *
 * The compile may take a warm container of the pool's (one made for compiles of the language, with
 * its compile limits, that serves this one compile): one waiting to start the compile command, or,
 * for a compiler whose start costs more than a small compile (a JVM's, tsc), one whose compiler is
 * kept loaded (the language's `compile.warm`), that compiled only a program of Aurea's own, with
 * the same messages, files and exit status.
 *
 * The program runs only when the compiler exits 0 within its limits; otherwise the run's verdict
 * is "compile_error" (the compile phase's own verdict says which limit, if any) and only the
 * compile phase's output is returned. A cancellation or an internal failure during the compile is
 * the run's.
 */
export async function runCompiledOrNot(
  runner: Runner,
  spec: RunSpec,
  options: { signal?: AbortSignal | undefined; observer?: RunObserver | undefined } = {},
): Promise<RunOutcome> {
  const step = spec.language.compile;
  if (!step || !spec.compile) return runProgram(runner, spec, options);
  const { timeoutMs, limits } = spec.compile;
  const { observer } = options;

  const compile = () =>
    runner.run(
      {
        ...spec,
        phase: "compile",
        // The compiler's command line in place of the program's, from the same workspace. Warm,
        // its container's loader keeps the compiler loaded (the language's compile.warm), or
        // starts the compile command itself (exec) when the run arrives; the pool decides when a
        // loaded compiler cannot serve the run (warm-shape.ts, warmLoaderFor).
        language: { ...spec.language, command: step.command, warmLoader: step.warm ?? "exec" },
        stdin: new Uint8Array(),
        args: [],
        timeoutMs,
        limits,
        // Everything the compiler made comes back, bounded by what the workspace can hold anyway.
        artifacts: { maxFiles: limits.workspaceFiles, maxFileBytes: limits.workspaceBytes, maxTotalBytes: limits.workspaceBytes },
      },
      { signal: options.signal, observer: { onStarted: observer?.onStarted, onState: observer?.onState } },
    );
  return compileThenRun({
    runId: spec.runId,
    timeoutMs,
    limits,
    compile,
    productsProblem: (compiled) => {
      if (!compiled.artifacts) return "the compiler's files could not be collected";
      if (compiled.artifacts.truncated) return "the compiler made more files, or larger ones, than the workspace holds";
      return undefined;
    },
    neverRan: { tests: spec.tests?.cases.map((testCase) => notRunCase(testCase)) },
    run: (compiled) => {
      const products: WorkspaceFile[] = [...(compiled.artifacts?.files ?? [])].map(([name, content]) => ({
        name,
        content,
        executable: compiled.artifacts?.executables.has(name) ?? false,
      }));
      const made = new Set(products.map((file) => file.name));
      return runProgram(
        runner,
        { ...spec, phase: "run", files: [...spec.files.filter((file) => !made.has(file.name)), ...products] },
        // The run started with the compile; `started` is not sent twice.
        { signal: options.signal, observer: { ...observer, onStarted: undefined } },
      );
    },
  });
}

/**
 * The two steps of a compiled language's run, wherever they happen: two sandboxes for a Run
 * (above), one session's container for an Exec (session.ts).
 */
export interface CompileThenRunSteps {
  readonly runId: string;
  /** The compile's wall-time limit and limits, reported with its outcome. */
  readonly timeoutMs: number;
  readonly limits: CompileOutcome["limits"];
  compile(): Promise<RunOutcome>;
  /** Why the compiler's products cannot be run though it succeeded, if they cannot. */
  productsProblem?(compiled: RunOutcome): string | undefined;
  /** Runs the program, once compileGate (verdict.ts) let it. */
  run(compiled: RunOutcome): Promise<RunOutcome>;
  /** More of the outcome of a run whose program never ran (its test cases, skipped). */
  readonly neverRan?: Partial<RunOutcome>;
}

/** Compile, let compileGate decide, then run: the one compile-then-run of Run and Exec. */
export async function compileThenRun(steps: CompileThenRunSteps): Promise<RunOutcome> {
  const compiled = await steps.compile();
  const compile = compileOutcomeOf(compiled, steps.timeoutMs, steps.limits);
  const problem = compiled.verdict === "ok" && compiled.exitCode === 0 ? steps.productsProblem?.(compiled) : undefined;
  const stopped = compileGate(compiled, problem === undefined);
  if (stopped !== undefined) {
    // A cancellation or Aurea's own failure says what failed; a compile error is in compile.stderr.
    const error = stopped === "cancelled" || stopped === "internal" ? compiled.error : problem;
    return { ...programNeverRan(steps.runId, stopped), ...steps.neverRan, compile, error };
  }
  return { ...(await steps.run(compiled)), compile };
}

/** The program's own run: once, or once per test case. */
function runProgram(
  runner: Runner,
  spec: RunSpec,
  options: { signal?: AbortSignal | undefined; observer?: RunObserver | undefined },
): Promise<RunOutcome> {
  const { tests } = spec;
  return tests ? judgeCases(runner, { ...spec, tests }, options) : runner.run(spec, options);
}

/** A compiler's ending as the compile result of a run or an exec. Pure. */
function compileOutcomeOf(compiled: ProcessEnding, timeoutMs: number, limits: CompileOutcome["limits"]): CompileOutcome {
  return {
    verdict: compiled.verdict,
    exitCode: compiled.exitCode,
    signal: compiled.signal,
    stdout: compiled.stdout,
    stderr: compiled.stderr,
    executionTimeMs: compiled.executionTimeMs,
    usage: compiled.usage,
    timeoutMs,
    limits,
  };
}
