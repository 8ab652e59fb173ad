import { describe, expect, it } from "vitest";
import type { Runtime } from "../../src/sandbox/runtimes.js";
import type { SupervisorReport } from "../../src/sandbox/supervisor-protocol.js";
import { reconcile, type RunEvidence, sandboxDiedOfMemory, type StopReason } from "../../src/runner/verdict.js";

const finished = (status: number, oomKills = 0): SupervisorReport => ({
  kind: "finished",
  status,
  peakMemoryBytes: 4096,
  cpuTimeNs: 1000,
  oomKills,
});

function evidence(overrides: Partial<Omit<RunEvidence, "stoppedBy">> & { stoppedBy?: StopReason[] } = {}): RunEvidence {
  const { stoppedBy = [], ...rest } = overrides;
  return {
    runtime: "runc",
    stoppedBy: new Set(stoppedBy),
    report: finished(0),
    engineExitCode: undefined,
    engineOomKilled: false,
    lostTrack: undefined,
    usageAtKill: undefined,
    serverMs: 12,
    engineMs: undefined,
    outputTruncated: false,
    ...rest,
  };
}

type Row = [
  string,
  Runtime,
  Parameters<typeof evidence>[0],
  { verdict: string; exitCode: number | undefined; signal?: string; error?: RegExp },
];

// Every verdict rule, under both runtimes where they differ.
const rows: Row[] = [
  ["exit 0 with a report", "runc", {}, { verdict: "ok", exitCode: 0 }],
  ["exit 3 with a report", "runc", { report: finished(3) }, { verdict: "runtime_error", exitCode: 3 }],
  [
    "killed by a signal it raised itself (139)",
    "runc",
    { report: finished(139) },
    { verdict: "runtime_error", exitCode: 139, signal: "SIGSEGV" },
  ],
  [
    "failed after an OOM kill in the cgroup",
    "runc",
    { report: finished(137, 1) },
    { verdict: "memory_limit", exitCode: 137, signal: "SIGKILL" },
  ],
  ["exited 0 although a helper was OOM-killed", "runc", { report: finished(0, 1) }, { verdict: "ok", exitCode: 0 }],
  [
    "failed, and the engine flagged an OOM kill",
    "runc",
    { report: finished(1), engineOomKilled: true },
    { verdict: "memory_limit", exitCode: 1 },
  ],
  [
    "timed out (killed by Aurea)",
    "runc",
    { report: undefined, engineExitCode: 137, stoppedBy: ["timeout"] },
    { verdict: "timeout", exitCode: 137, signal: "SIGKILL" },
  ],
  [
    "output over the cap",
    "runc",
    { report: undefined, engineExitCode: 137, stoppedBy: ["output_limit"] },
    { verdict: "output_limit", exitCode: 137, signal: "SIGKILL" },
  ],
  [
    "cancelled while running",
    "runc",
    { report: undefined, engineExitCode: 137, stoppedBy: ["cancelled"] },
    { verdict: "cancelled", exitCode: 137, signal: "SIGKILL" },
  ],
  [
    "cancelled beats timeout",
    "runc",
    { report: undefined, engineExitCode: 137, stoppedBy: ["timeout", "cancelled"] },
    { verdict: "cancelled", exitCode: 137, signal: "SIGKILL" },
  ],
  [
    "timeout beats output limit",
    "runc",
    { report: undefined, engineExitCode: 137, stoppedBy: ["output_limit", "timeout"] },
    { verdict: "timeout", exitCode: 137, signal: "SIGKILL" },
  ],
  [
    "no report, not killed by Aurea: output lost",
    "runc",
    { report: undefined, engineExitCode: 0 },
    { verdict: "internal", exitCode: undefined, error: /without the supervisor's final report/ },
  ],
  [
    "no report and exit 137 under runc is not a memory kill",
    "runc",
    { report: undefined, engineExitCode: 137 },
    { verdict: "internal", exitCode: undefined, error: /final report/ },
  ],
  [
    "no report and exit 137 under runsc: the sandbox died for memory",
    "runsc",
    { report: undefined, engineExitCode: 137 },
    { verdict: "memory_limit", exitCode: 137, signal: "SIGKILL" },
  ],
  [
    "no report, runsc's own exit 2 and the engine's OOM flag under runsc: the sandbox died for memory",
    "runsc",
    { report: undefined, engineExitCode: 2, engineOomKilled: true },
    { verdict: "memory_limit", exitCode: 137, signal: "SIGKILL" },
  ],
  [
    "no report and the engine's OOM flag under runc: output lost (the supervisor outlives a memory kill there)",
    "runc",
    { report: undefined, engineExitCode: 2, engineOomKilled: true },
    { verdict: "internal", exitCode: undefined, error: /exit code 2, OOM-killed/ },
  ],
  [
    "no report and exit 1 under runsc: output lost",
    "runsc",
    { report: undefined, engineExitCode: 1 },
    { verdict: "internal", exitCode: undefined, error: /final report/ },
  ],
  ["runsc with a report reads as runc does", "runsc", { report: finished(2) }, { verdict: "runtime_error", exitCode: 2 }],
  [
    "runsc with a report of status 1 and the engine's OOM flag: the host killed the program alone (systrap's stub)",
    "runsc",
    { report: finished(1), engineOomKilled: true },
    { verdict: "memory_limit", exitCode: 137, signal: "SIGKILL" },
  ],
  [
    "timed out under runsc after the engine flagged an OOM kill: the program hung on the memory kill",
    "runsc",
    { report: undefined, engineExitCode: 137, engineOomKilled: true, stoppedBy: ["timeout"] },
    { verdict: "memory_limit", exitCode: 137, signal: "SIGKILL" },
  ],
  [
    "timed out under runc after an OOM kill of a helper: still a timeout (the program lived on)",
    "runc",
    { report: undefined, engineExitCode: 137, engineOomKilled: true, stoppedBy: ["timeout"] },
    { verdict: "timeout", exitCode: 137, signal: "SIGKILL" },
  ],
  [
    "runsc with a report of status 0 and the engine's OOM flag: the program did its job",
    "runsc",
    { report: finished(0), engineOomKilled: true },
    { verdict: "ok", exitCode: 0 },
  ],
  [
    "workspace not extracted",
    "runc",
    { report: { kind: "setup-failed" }, engineExitCode: 125 },
    { verdict: "internal", exitCode: undefined, error: /could not be extracted/ },
  ],
  [
    "engine lost mid-run",
    "runsc",
    { report: undefined, lostTrack: "lost track of the running container: gone" },
    { verdict: "internal", exitCode: undefined, error: /lost track/ },
  ],
  [
    "the report's status beats the supervisor's own exit",
    "runc",
    { report: finished(0), engineExitCode: 2 },
    { verdict: "ok", exitCode: 0 },
  ],
];

describe("reconcile", () => {
  it.each(rows)("%s (%s)", (_name, runtime, overrides, expected) => {
    const ending = reconcile(evidence({ runtime, ...overrides }));
    expect(ending.verdict).toBe(expected.verdict);
    expect(ending.exitCode).toBe(expected.exitCode);
    expect(ending.signal).toBe(expected.signal ?? "");
    if (expected.error) expect(ending.error).toMatch(expected.error);
    else expect(ending.error).toBeUndefined();
  });

  it("takes usage from the report, else from the sample taken before a kill", () => {
    expect(reconcile(evidence()).usage).toEqual({ cpuTimeNs: 1000, peakMemoryBytes: 4096 });
    const sampled = { cpuTimeNs: 5, peakMemoryBytes: 6 };
    expect(
      reconcile(evidence({ report: undefined, engineExitCode: 137, stoppedBy: ["timeout"], usageAtKill: sampled })).usage,
    ).toEqual(sampled);
    const blank: SupervisorReport = {
      kind: "finished",
      status: 0,
      peakMemoryBytes: undefined,
      cpuTimeNs: undefined,
      oomKills: undefined,
    };
    expect(reconcile(evidence({ report: blank })).usage).toBeUndefined();
  });

  it("times the run by the engine's clock when it has one, else the server's", () => {
    expect(reconcile(evidence({ engineMs: 40 })).executionTimeMs).toBe(40);
    expect(reconcile(evidence({ engineMs: undefined })).executionTimeMs).toBe(12);
    expect(reconcile(evidence({ engineMs: -5 })).executionTimeMs).toBe(12);
  });

  it("lists the limits the program ran into, whatever its verdict", () => {
    const report = (extra: Partial<Extract<SupervisorReport, { kind: "finished" }>>): SupervisorReport => ({
      ...(finished(0) as Extract<SupervisorReport, { kind: "finished" }>),
      pidsRefused: 0,
      memoryAtLimit: 0,
      workspaceFreeBlocks: 100,
      workspaceFreeFiles: 100,
      ...extra,
    });
    const hit = (overrides: Parameters<typeof evidence>[0]) => reconcile(evidence(overrides)).limitsHit;
    expect(hit({ report: report({}) })).toEqual([]);
    // A fork bomb whose script exits 0 at once is still OK, and says what it ran into.
    const bomb = reconcile(evidence({ report: report({ pidsRefused: 3 }) }));
    expect([bomb.verdict, bomb.limitsHit]).toEqual(["ok", ["pids"]]);
    expect(hit({ report: report({ memoryAtLimit: 12 }) })).toEqual(["memory"]);
    expect(hit({ report: { ...(finished(137, 1) as object), kind: "finished" } as SupervisorReport })).toEqual(["memory"]);
    expect(hit({ runtime: "runsc", report: undefined, engineExitCode: 137 })).toEqual(["memory"]);
    expect(hit({ report: report({ status: 153 }) })).toEqual(["file_size"]);
    expect(hit({ report: report({ workspaceFreeBlocks: 0, workspaceFreeFiles: 0 }) })).toEqual([
      "workspace_bytes",
      "workspace_files",
    ]);
    expect(hit({ report: undefined, engineExitCode: 137, stoppedBy: ["output_limit"], outputTruncated: true })).toEqual([
      "output",
    ]);
    expect(hit({ report: report({}), outputTruncated: true })).toEqual(["output"]);
    expect(hit({ report: undefined, engineExitCode: 137, stoppedBy: ["timeout"] })).toEqual(["time"]);
    // Unknown ("-") is not a hit.
    expect(hit({ report: finished(0) })).toEqual([]);
  });

  it("says when the supervisor's exit differed from the program's status", () => {
    expect(reconcile(evidence({ engineExitCode: 2 })).supervisorExitDiffered).toBe(true);
    expect(reconcile(evidence({ engineExitCode: 0 })).supervisorExitDiffered).toBe(false);
    expect(reconcile(evidence()).supervisorExitDiffered).toBe(false);
  });
});

describe("sandboxDiedOfMemory, the engine's word runs and sessions both read", () => {
  it("reads exit 137 or the OOM flag as the sandbox's memory kill under runsc only", () => {
    expect(sandboxDiedOfMemory("runsc", 137, false)).toBe(true);
    expect(sandboxDiedOfMemory("runsc", 2, true)).toBe(true);
    expect(sandboxDiedOfMemory("runsc", 1, false)).toBe(false);
    expect(sandboxDiedOfMemory("runsc", undefined, false)).toBe(false);
    // Under runc the supervisor (or the session's agent) outlives a memory kill and says so itself.
    expect(sandboxDiedOfMemory("runc", 137, false)).toBe(false);
    expect(sandboxDiedOfMemory("runc", 2, true)).toBe(false);
  });
});

describe("reconcile with a network policy", () => {
  it("reads a kill at a network cap as NETWORK_LIMIT with LIMIT_NETWORK, under either runtime", () => {
    for (const runtime of ["runc", "runsc"] as const) {
      const ending = reconcile(evidence({ runtime, stoppedBy: ["network_limit"], report: undefined, engineExitCode: 137 }));
      expect(ending.verdict).toBe("network_limit");
      expect(ending.limitsHit).toEqual(["network"]);
    }
  });

  it("puts a timeout or a cancellation before the network cap that came with it", () => {
    expect(reconcile(evidence({ stoppedBy: ["timeout", "network_limit"], report: undefined, engineExitCode: 137 })).verdict).toBe(
      "timeout",
    );
    expect(
      reconcile(evidence({ stoppedBy: ["cancelled", "network_limit"], report: undefined, engineExitCode: 137 })).verdict,
    ).toBe("cancelled");
  });

  it("fails a run whose egress gateway was lost, saying so, whatever the program did", () => {
    const ending = reconcile(evidence({ stoppedBy: ["network_lost"], report: finished(0) }));
    expect(ending.verdict).toBe("internal");
    expect(ending.exitCode).toBeUndefined();
    expect(ending.error).toMatch(/egress gateway stopped/);
  });
});
