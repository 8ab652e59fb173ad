import { describe, expect, it } from "vitest";
import { runCompiledOrNot } from "../../src/runner/compile-phase.js";
import { judgeCases } from "../../src/runner/judge.js";
import type { RunObserver } from "../../src/runner/run-lifecycle.js";
import { type JudgeCase, type JudgePlan, programNeverRan, type RunOutcome, type RunSpec } from "../../src/runner/run-spec.js";
import type { Runner } from "../../src/runner/runner.js";
import { testLimits } from "../support/fixtures.js";
import { repositoryLanguages } from "../support/languages.js";

/**
 * Compile-then-run and judging, the two paths above one run of the runner, against a scripted
 * runner: what each sends to the runner, in what order, and what it makes of the answers.
 * (The runner itself is tested against the in-memory engine in run-lifecycle.test.ts, and all of
 * it against a real engine in the integration tests.)
 */

type RunCall = { spec: RunSpec; observer: RunObserver | undefined; signal: AbortSignal | undefined };

/** A runner whose runs are answered by `answer`, each call recorded. */
function scriptedRunner(answer: (call: RunCall, index: number) => Promise<RunOutcome>): Runner & { calls: RunCall[] } {
  const calls: RunCall[] = [];
  return {
    calls,
    liveContainers: () => new Set(),
    settled: async () => undefined,
    programsRunning: () => 0,
    run(spec, options) {
      const call = { spec, observer: options?.observer, signal: options?.signal };
      calls.push(call);
      return answer(call, calls.length - 1);
    },
  };
}

const outcome = (runId: string, overrides: Partial<RunOutcome> = {}): RunOutcome => ({
  ...programNeverRan(runId, "ok"),
  exitCode: 0,
  ...overrides,
});

const c = repositoryLanguages.find("c")!;
const spec = (overrides: Partial<RunSpec> = {}): RunSpec => ({
  runId: "run-1",
  language: c,
  code: "int main(void) { return 0; }",
  files: [{ name: "data.txt", content: Buffer.from("42") }],
  stdin: Buffer.from("in"),
  args: ["a"],
  env: [],
  timeoutMs: 5000,
  readonlyRootfs: true,
  runtime: "runc",
  limits: testLimits,
  artifacts: undefined,
  compile: { timeoutMs: 30_000, limits: { ...testLimits, memoryBytes: 1 << 30 } },
  ...overrides,
});

const compiled = (files: Record<string, string>, truncated = false): Partial<RunOutcome> => ({
  artifacts: {
    files: new Map(Object.entries(files).map(([name, text]) => [name, Buffer.from(text)])),
    skipped: [],
    truncated,
    executables: new Set(["main"]),
  },
});

describe("runCompiledOrNot", () => {
  it("compiles with the compile limits and no stdin, then runs what the compiler made with the run's", async () => {
    let started = 0;
    const runner = scriptedRunner(async (call, index) => {
      call.observer?.onStarted?.();
      return index === 0
        ? outcome("run-1", { ...compiled({ main: "ELF", "main.o": "obj" }), stderr: Buffer.from("warning") })
        : outcome("run-1", { stdout: Buffer.from("ran") });
    });
    const result = await runCompiledOrNot(runner, spec(), { observer: { onStarted: () => started++ } });

    const [compile, run] = runner.calls;
    expect(compile?.spec).toMatchObject({ phase: "compile", timeoutMs: 30_000, args: [], stdin: new Uint8Array() });
    expect(compile?.spec.language.command).toEqual(c.compile?.command);
    expect(compile?.spec.limits.memoryBytes).toBe(1 << 30);
    expect(run?.spec).toMatchObject({ phase: "run", timeoutMs: 5000, args: ["a"], limits: testLimits });
    expect(run?.spec.files.map((file) => [file.name, file.executable ?? false])).toEqual([
      ["data.txt", false],
      ["main", true],
      ["main.o", false],
    ]);
    expect(result).toMatchObject({ verdict: "ok", stdout: Buffer.from("ran"), compile: { verdict: "ok", timeoutMs: 30_000 } });
    expect(result.compile?.stderr.toString()).toBe("warning");
    // The run started with its compile: `started` once.
    expect(started).toBe(1);
  });

  it("never runs a program that did not compile, and says why in the compile result", async () => {
    const runner = scriptedRunner(async () =>
      outcome("run-1", { verdict: "runtime_error", exitCode: 1, stderr: Buffer.from("main.c:1: error") }),
    );
    const result = await runCompiledOrNot(runner, spec());
    expect(runner.calls).toHaveLength(1);
    expect(result).toMatchObject({ verdict: "compile_error", exitCode: -1, compile: { verdict: "runtime_error", exitCode: 1 } });
    expect(result.compile?.stderr.toString()).toBe("main.c:1: error");
  });

  it("reads a compiler past its time as the run's compile error, and skips every test case", async () => {
    const cases = [judgeCase("one"), judgeCase("two")];
    const runner = scriptedRunner(async () => outcome("run-1", { verdict: "timeout", exitCode: 137, timedOut: true }));
    const result = await runCompiledOrNot(runner, spec({ tests: plan(cases) }));
    expect(result).toMatchObject({ verdict: "compile_error", compile: { verdict: "timeout" } });
    expect(result.tests?.map((test) => test.verdict)).toEqual(["skipped", "skipped"]);
  });

  it("keeps a cancellation or Aurea's own failure during the compile as the run's, with what failed", async () => {
    const cancelled = await runCompiledOrNot(
      scriptedRunner(async () => outcome("run-1", { verdict: "cancelled", exitCode: 137 })),
      spec(),
    );
    expect(cancelled.verdict).toBe("cancelled");
    const lost = await runCompiledOrNot(
      scriptedRunner(async () => outcome("run-1", { verdict: "internal", exitCode: -1, error: "engine went away" })),
      spec(),
    );
    expect(lost).toMatchObject({ verdict: "internal", error: "engine went away" });
  });

  it("refuses products that did not fit the workspace, as a compile error naming it", async () => {
    const runner = scriptedRunner(async () => outcome("run-1", compiled({ main: "ELF" }, true)));
    const result = await runCompiledOrNot(runner, spec());
    expect(runner.calls).toHaveLength(1);
    expect(result).toMatchObject({
      verdict: "compile_error",
      error: "the compiler made more files, or larger ones, than the workspace holds",
    });
  });

  it("runs an interpreted language once, as it is", async () => {
    const runner = scriptedRunner(async () => outcome("run-1"));
    const python = repositoryLanguages.find("python")!;
    await runCompiledOrNot(runner, spec({ language: python, compile: undefined }));
    expect(runner.calls.map((call) => call.spec.phase)).toEqual([undefined]);
  });
});

function judgeCase(name: string, stdin = "", expectedStdout?: string): JudgeCase {
  return {
    name,
    stdin: Buffer.from(stdin),
    args: [],
    expectedStdout,
    timeoutMs: 2000,
    cpuSeconds: 0,
    memoryBytes: undefined,
    comparison: undefined,
  };
}

function plan(cases: JudgeCase[], stopOnFirstFailure = false): JudgePlan {
  return {
    cases,
    comparison: "trailing_whitespace",
    absoluteTolerance: 0,
    relativeTolerance: 0,
    stopOnFirstFailure,
    caseOutputLimitBytes: 1024,
    caseOutputShownBytes: 1024,
  };
}

/** One frame of the case runner (images/helper/aurea-cases.c), as it writes them. */
function frame(index: number, status: number, stdout: string, options: { timedOut?: boolean } = {}): Buffer {
  const out = Buffer.from(stdout);
  const fields = [index, status, 1000, "0.00", "0.00", 1024, options.timedOut ? 1 : 0, 0, out.length, 0];
  return Buffer.concat([Buffer.from(`\0aurea-case ${fields.join(" ")}\n`), out]);
}

/** The stdin of each case input (after the header line, the archive and the NUL-ended args). */
function caseStdin(input: Uint8Array): string {
  const text = Buffer.from(input);
  const header = text.subarray(0, text.indexOf(0x0a)).toString().split(" ").map(Number);
  const [archiveBytes = 0, argsBytes = 0, stdinBytes = 0] = header;
  const start = text.indexOf(0x0a) + 1 + archiveBytes + argsBytes;
  return text.subarray(start, start + stdinBytes).toString();
}

/**
 * A runner whose one run is the case runner: it reads each case's input as the judge writes it,
 * and answers with `program`'s frame, or ends the whole sandbox when `program` says so.
 */
function caseRunner(program: (stdin: string, index: number) => { status: number; stdout: string } | "sandbox ends") {
  const events: string[] = [];
  const runner = scriptedRunner(async ({ spec: judged, observer }) => {
    let index = 0;
    for await (const input of judged.moreInput ?? []) {
      events.push(`input ${index}`);
      const answer = program(caseStdin(input), index);
      if (answer === "sandbox ends") return outcome(judged.runId, { verdict: "timeout", exitCode: 137, timedOut: true });
      observer?.onOutput?.("stdout", frame(index, answer.status, answer.stdout));
      events.push(`frame ${index}`);
      index += 1;
    }
    return outcome(judged.runId);
  });
  return { runner, events };
}

const doubler = (stdin: string) => ({ status: 0, stdout: `${Number(stdin) * 2}\n` });
const cased = (overrides: Partial<RunSpec> & { tests: JudgePlan }) => ({ ...spec({ compile: undefined }), ...overrides });

describe("judgeCases", () => {
  it("writes each case's input only after the previous case was judged, and judges every case", async () => {
    const { runner, events } = caseRunner(doubler);
    const seen: string[] = [];
    const tests = plan([judgeCase("a", "1", "2"), judgeCase("b", "2", "5"), judgeCase("c", "3", "6")]);
    const result = await judgeCases(runner, cased({ tests }), { observer: { onTestResult: (test) => seen.push(test.name) } });
    expect(events).toEqual(["input 0", "frame 0", "input 1", "frame 1", "input 2", "frame 2"]);
    expect(seen).toEqual(["a", "b", "c"]);
    expect(result.tests?.map((test) => test.verdict)).toEqual(["ok", "wrong_answer", "ok"]);
    expect(result.tests?.[1]?.difference).toBe('line 1: expected "5", received "4"');
    expect(result).toMatchObject({ verdict: "wrong_answer", exitCode: 0 });
    expect(runner.calls[0]?.spec).toMatchObject({ judged: true, args: [], stdin: new Uint8Array() });
  });

  it("stops at the first failure when asked: the next case's input is never written", async () => {
    const { runner, events } = caseRunner((stdin) => (stdin === "2" ? { status: 3, stdout: "" } : doubler(stdin)));
    const tests = plan([judgeCase("a", "1", "2"), judgeCase("b", "2", "4"), judgeCase("c", "3", "6")], true);
    const result = await judgeCases(runner, cased({ tests }));
    expect(events).toEqual(["input 0", "frame 0", "input 1", "frame 1"]);
    expect(result.tests?.map((test) => test.verdict)).toEqual(["ok", "runtime_error", "skipped"]);
    expect(result).toMatchObject({ verdict: "runtime_error", exitCode: 3 });
  });

  it("gives the case running when the sandbox ended that ending, and skips the rest", async () => {
    const { runner } = caseRunner((stdin, index) => (index === 1 ? "sandbox ends" : doubler(stdin)));
    const tests = plan([judgeCase("a", "1", "2"), judgeCase("b", "2", "4"), judgeCase("c", "3", "6")]);
    const result = await judgeCases(runner, cased({ tests }));
    expect(result.tests?.map((test) => test.verdict)).toEqual(["ok", "timeout", "skipped"]);
    expect(result.verdict).toBe("timeout");
  });

  it("stops the sandbox and says INTERNAL when a frame cannot be read, never a result", async () => {
    let aborted = false;
    const runner = scriptedRunner(async ({ spec: judged, observer, signal }) => {
      signal?.addEventListener("abort", () => (aborted = true));
      for await (const _input of judged.moreInput ?? []) {
        observer?.onOutput?.("stdout", Buffer.from("not a frame\n"));
        break;
      }
      return outcome(judged.runId, { verdict: "cancelled", exitCode: 137 });
    });
    const result = await judgeCases(runner, cased({ tests: plan([judgeCase("a", "1", "2"), judgeCase("b")]) }));
    expect(aborted).toBe(true);
    expect(result.tests?.map((test) => test.verdict)).toEqual(["internal", "skipped"]);
    expect(result).toMatchObject({ verdict: "internal", error: "the case runner's report could not be read" });
  });
});
