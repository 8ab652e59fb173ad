import { workspaceFiles } from "./container-source.js";
import { compareOutput } from "./output-comparison.js";
import type { RunObserver, RunOutcome, Runner, RunSpec } from "./runner.js";
import { neverStarted, type JudgeCase, type JudgePlan, type TestOutcome } from "./run-spec.js";
import { CaseFrameParser, encodeCaseInput, type CaseFrame } from "../sandbox/supervisor-protocol.js";
import { decideCaseVerdict, interruptedCaseVerdict, judgedVerdict, type RunVerdict } from "./verdict.js";
import { buildWorkspaceArchive } from "./workspace-archive.js";

/**
 * Judging a program against test cases in one sandbox: the case runner (images/helper/aurea-cases.c) runs
 * it once per case as a fresh process in a fresh copy of the workspace. Each case's input is
 * written to the sandbox only after the previous case was reported and judged, so no case can
 * read another's input, and `stop_on_first_failure` stops before the next case's input exists.
 * Expected outputs stay here: the comparison is the server's.
 */
export async function judgeCases(
  runner: Runner,
  spec: RunSpec & { tests: JudgePlan },
  options: { signal?: AbortSignal | undefined; observer?: RunObserver | undefined } = {},
): Promise<RunOutcome> {
  const plan = spec.tests;
  const archive = await buildWorkspaceArchive(workspaceFiles(spec));
  const results: TestOutcome[] = [];
  const turns = plan.cases.map(() => deferred());
  let stopped = false;
  let malformed = false;

  // A report that cannot be read is Aurea's failure, never a result: the sandbox is stopped at
  // once (else it would wait for input that never comes) and the case says INTERNAL.
  const unreadable = new AbortController();
  const parser = new CaseFrameParser((frame) => {
    const testCase = plan.cases[results.length];
    if (!testCase || frame.index !== results.length) {
      malformed = true;
      unreadable.abort();
      return;
    }
    const outcome = judgeFrame(testCase, frame, plan);
    results.push(outcome);
    options.observer?.onTestResult?.(outcome);
    if (plan.stopOnFirstFailure && outcome.verdict !== "ok") stopped = true;
    turns[frame.index]?.resolve();
  });

  async function* caseInputs(): AsyncGenerator<Uint8Array> {
    for (const [index, testCase] of plan.cases.entries()) {
      if (index > 0) await turns[index - 1]?.promise;
      if (stopped || malformed) return;
      yield encodeCaseInput({
        archive,
        args: testCase.args,
        stdin: testCase.stdin,
        timeoutSeconds: testCase.timeoutMs / 1000,
        cpuSeconds: testCase.cpuSeconds,
        outputCap: plan.caseOutputLimitBytes,
      });
    }
  }

  const frameBytes = 2 * (plan.caseOutputLimitBytes + 1) + 256;
  let outcome: RunOutcome;
  try {
    outcome = await runner.run(
      {
        ...spec,
        // The case runner is the program of this container (never a warm one: warm-pool.ts);
        // every case gets its own input.
        judged: true,
        stdin: new Uint8Array(),
        args: [],
        moreInput: caseInputs(),
        outputLimitBytes: plan.cases.length * frameBytes,
      },
      {
        signal: options.signal ? AbortSignal.any([options.signal, unreadable.signal]) : unreadable.signal,
        observer: {
          onStarted: options.observer?.onStarted,
          onState: options.observer?.onState,
          onOutput: (stream, chunk) => {
            if (stream !== "stdout") return;
            parser.push(chunk);
            if (parser.malformed) unreadable.abort();
          },
        },
      },
    );
  } finally {
    // The run is over, however it ended: nothing more is sent.
    stopped = true;
    for (const turn of turns) turn.resolve();
  }
  if (parser.malformed) malformed = true;

  return summarize(spec.runId, plan, results, outcome, malformed);
}

/** One case's outcome from its frame: the runner's facts, the comparison, the verdict rules. */
function judgeFrame(testCase: JudgeCase, frame: CaseFrame, plan: JudgePlan): TestOutcome {
  const cap = plan.caseOutputLimitBytes;
  const stdout = frame.stdout.subarray(0, cap);
  const outputMatched =
    testCase.expectedStdout === undefined
      ? undefined
      : compareOutput(stdout.toString("utf8"), testCase.expectedStdout, testCase.comparison ?? plan.comparison, {
          absolute: plan.absoluteTolerance,
          relative: plan.relativeTolerance,
        });
  const peakMemoryBytes = frame.maxRssKilobytes === undefined ? undefined : frame.maxRssKilobytes * 1024;
  const cpu =
    frame.userSeconds !== undefined && frame.systemSeconds !== undefined ? frame.userSeconds + frame.systemSeconds : undefined;
  const { verdict, exitCode, signal } = decideCaseVerdict({
    status: frame.status,
    timedOut: frame.timedOut,
    outputOverCap: frame.stdout.length > cap || frame.stderr.length > cap,
    oomKills: frame.oomKills,
    peakMemoryBytes,
    memoryLimitBytes: testCase.memoryBytes,
    cpuSeconds: testCase.cpuSeconds,
    cpuUsedSeconds: cpu,
    outputMatched: outputMatched?.equal,
  });
  const shown = plan.caseOutputShownBytes;
  return {
    name: testCase.name,
    verdict,
    exitCode,
    signal,
    stdout: stdout.subarray(0, shown),
    stderr: frame.stderr.subarray(0, Math.min(cap, shown)),
    stdoutTruncated: frame.stdout.length > shown,
    stderrTruncated: frame.stderr.length > shown,
    executionTimeMs: frame.wallMicroseconds / 1000,
    usage:
      cpu === undefined && peakMemoryBytes === undefined
        ? undefined
        : { cpuTimeNs: cpu === undefined ? undefined : Math.round(cpu * 1e9), peakMemoryBytes },
    difference: verdict === "wrong_answer" ? (outputMatched?.difference ?? "") : "",
    timeoutMs: testCase.timeoutMs,
  };
}

/** A case that never ran, with `verdict` (skipped, or the whole run's ending). */
export function notRunCase(testCase: JudgeCase, verdict: RunVerdict = "skipped"): TestOutcome {
  return { ...neverStarted(verdict), name: testCase.name, difference: "", timeoutMs: testCase.timeoutMs };
}

/**
 * The run's outcome from its cases: OK only when every case passed, otherwise the first failing
 * case's verdict. A case running when the whole sandbox ended (its time, a memory kill under
 * gVisor, a cancellation, Aurea losing it) takes that ending; every case after it is skipped.
 */
function summarize(runId: string, plan: JudgePlan, results: TestOutcome[], run: RunOutcome, malformed: boolean): RunOutcome {
  const tests = [...results];
  if (tests.length < plan.cases.length) {
    const cutShort = !(plan.stopOnFirstFailure && results.some((result) => result.verdict !== "ok"));
    for (const testCase of plan.cases.slice(tests.length)) {
      const interrupted = cutShort && tests.length === results.length;
      tests.push(notRunCase(testCase, interrupted ? interruptedCaseVerdict(run.verdict, malformed) : "skipped"));
    }
  }
  const { verdict, failed } = judgedVerdict(tests);
  const error =
    failed?.verdict === "internal"
      ? (run.error ??
        (malformed ? "the case runner's report could not be read" : "the case runner ended before every case was reported"))
      : undefined;
  return {
    ...run,
    runId,
    verdict,
    exitCode: failed ? failed.exitCode : 0,
    signal: failed ? failed.signal : "",
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    stdoutTruncated: false,
    stderrTruncated: false,
    error,
    tests,
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}
