import { describe, expect, it } from "vitest";
import { decideVerdict, signalFromExitCode, type VerdictFacts } from "../../src/runner/verdict.js";

const exitedNormally: VerdictFacts = {
  exitCode: 0,
  oomKilled: false,
  timedOut: false,
  cancelled: false,
  outputLimited: false,
  internalError: undefined,
};

describe("decideVerdict", () => {
  it("is ok only for exit code 0 with nothing else going on", () => {
    expect(decideVerdict(exitedNormally)).toBe("ok");
    expect(decideVerdict({ ...exitedNormally, exitCode: 3 })).toBe("runtime_error");
    expect(decideVerdict({ ...exitedNormally, exitCode: 139 })).toBe("runtime_error");
  });

  it("puts Aurea's own reasons for a kill before the exit code they cause", () => {
    const killed = { ...exitedNormally, exitCode: 137 };
    expect(decideVerdict({ ...killed, timedOut: true })).toBe("timeout");
    expect(decideVerdict({ ...killed, cancelled: true, timedOut: true })).toBe("cancelled");
    expect(decideVerdict({ ...killed, outputLimited: true })).toBe("output_limit");
    expect(decideVerdict({ ...killed, oomKilled: true })).toBe("memory_limit");
  });

  it("does not blame memory when the program still exited 0", () => {
    expect(decideVerdict({ ...exitedNormally, oomKilled: true })).toBe("ok");
    expect(decideVerdict({ ...exitedNormally, exitCode: 1, oomKilled: true })).toBe("memory_limit");
  });

  it("never reports a run it lost track of as anything but internal", () => {
    expect(decideVerdict({ ...exitedNormally, exitCode: undefined })).toBe("internal");
    expect(decideVerdict({ ...exitedNormally, internalError: "engine gone" })).toBe("internal");
  });
});

describe("signalFromExitCode", () => {
  it("names the signal behind 128 + N", () => {
    expect(signalFromExitCode(137)).toBe("SIGKILL");
    expect(signalFromExitCode(139)).toBe("SIGSEGV");
    expect(signalFromExitCode(143)).toBe("SIGTERM");
  });

  it("is empty for ordinary exits", () => {
    expect(signalFromExitCode(0)).toBe("");
    expect(signalFromExitCode(1)).toBe("");
    expect(signalFromExitCode(128)).toBe("");
    expect(signalFromExitCode(255)).toBe("");
    expect(signalFromExitCode(undefined)).toBe("");
  });
});
