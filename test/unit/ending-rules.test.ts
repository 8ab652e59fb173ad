import { describe, expect, it } from "vitest";
import {
  compileGate,
  type ExecEvidence,
  interruptedCaseVerdict,
  judgedVerdict,
  limitsHitBy,
  memoryKillExitCode,
  type RunVerdict,
  settleExec,
} from "../../src/runner/verdict.js";

/** The ending rules besides reconcile (reconcile.test.ts): execs, compiles, judged runs. */

const exec = (overrides: Partial<ExecEvidence> = {}): ExecEvidence => ({
  status: 0,
  stoppedBy: undefined,
  notStarted: undefined,
  outputTruncated: false,
  ...overrides,
});

describe("settleExec: an exec's or a cell's ending", () => {
  it("takes Aurea's own stops first, then the program's status, as a run does", () => {
    expect(settleExec(exec())).toMatchObject({ verdict: "ok", exitCode: 0, signal: "", limitsHit: [] });
    expect(settleExec(exec({ status: 3 }))).toMatchObject({ verdict: "runtime_error", exitCode: 3 });
    expect(settleExec(exec({ status: 137, stoppedBy: "timeout" }))).toMatchObject({
      verdict: "timeout",
      signal: "SIGKILL",
      limitsHit: ["time"],
    });
    expect(settleExec(exec({ status: 137, stoppedBy: "closed" })).verdict).toBe("cancelled");
    expect(settleExec(exec({ status: 137, stoppedBy: "cancelled" })).verdict).toBe("cancelled");
    expect(settleExec(exec({ status: 0, stoppedBy: "output_limit" }))).toMatchObject({
      verdict: "output_limit",
      limitsHit: ["output"],
    });
  });

  it("reads a failure after an OOM kill as the memory limit, and an OOM kill of a helper as nothing", () => {
    expect(settleExec(exec({ status: 137, oomKills: 1 }))).toMatchObject({ verdict: "memory_limit", limitsHit: ["memory"] });
    // The exec still succeeded: its verdict is OK, but the limit was touched.
    expect(settleExec(exec({ status: 0, oomKills: 1 }))).toMatchObject({ verdict: "ok", limitsHit: ["memory"] });
    expect(settleExec(exec({ status: memoryKillExitCode, oomKills: 1 })).signal).toBe("SIGKILL");
  });

  it("is internal, with the reason, when the exec never started", () => {
    expect(settleExec(exec({ status: undefined, notStarted: "fork failed" }))).toMatchObject({
      verdict: "internal",
      exitCode: undefined,
      error: "fork failed",
    });
    expect(settleExec(exec({ status: undefined })).error).toBe("the exec did not start");
  });
});

describe("limitsHitBy: the one mapping of counters to limits", () => {
  it("maps every counter and stop, in the order of aurea.sandbox.v1.Limit", () => {
    const counters = { pidsRefused: 2, memoryAtLimit: 1, workspaceFreeBlocks: 0, workspaceFreeFiles: 0 };
    expect(limitsHitBy(counters, { oomKilled: false, signal: "SIGXFSZ", output: true, time: true })).toEqual([
      "pids",
      "memory",
      "file_size",
      "workspace_bytes",
      "workspace_files",
      "output",
      "time",
    ]);
    expect(limitsHitBy({ workspaceFreeBlocks: 5 }, { oomKilled: false, signal: "SIGKILL", output: false, time: false })).toEqual(
      [],
    );
    expect(limitsHitBy({}, { oomKilled: true, signal: "", output: false, time: false })).toEqual(["memory"]);
  });
});

describe("compileGate: whether the program runs after its compile", () => {
  it("runs it only after a clean compile whose products fit", () => {
    expect(compileGate({ verdict: "ok", exitCode: 0 })).toBeUndefined();
    expect(compileGate({ verdict: "ok", exitCode: 0 }, false)).toBe("compile_error");
    expect(compileGate({ verdict: "runtime_error", exitCode: 1 })).toBe("compile_error");
    // A compiler out of time or memory is still the run's compile error (compile.status says which).
    expect(compileGate({ verdict: "timeout", exitCode: 137 })).toBe("compile_error");
    expect(compileGate({ verdict: "memory_limit", exitCode: 137 })).toBe("compile_error");
    expect(compileGate({ verdict: "cancelled", exitCode: 137 })).toBe("cancelled");
    expect(compileGate({ verdict: "internal", exitCode: undefined })).toBe("internal");
  });
});

describe("judged runs", () => {
  it("take the first failing case's verdict, or OK", () => {
    const cases = (...verdicts: RunVerdict[]) => verdicts.map((verdict, index) => ({ verdict, index }));
    expect(judgedVerdict(cases("ok", "ok"))).toEqual({ verdict: "ok", failed: undefined });
    expect(judgedVerdict(cases("ok", "wrong_answer", "timeout"))).toEqual({
      verdict: "wrong_answer",
      failed: { verdict: "wrong_answer", index: 1 },
    });
  });

  it("give a case cut short by its sandbox's end that ending, unless it explains nothing", () => {
    expect(interruptedCaseVerdict("timeout", false)).toBe("timeout");
    expect(interruptedCaseVerdict("memory_limit", false)).toBe("memory_limit");
    expect(interruptedCaseVerdict("cancelled", false)).toBe("cancelled");
    expect(interruptedCaseVerdict("ok", false)).toBe("internal");
    expect(interruptedCaseVerdict("runtime_error", false)).toBe("internal");
    expect(interruptedCaseVerdict("timeout", true)).toBe("internal");
  });
});
