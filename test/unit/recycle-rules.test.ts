import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPeakMemoryReset, peakMemoryFile } from "../../src/docker/peak-memory-reset.js";
import { recycleRefusal, recyclingRefusal, type RecycleFacts } from "../../src/runner/recycle-rules.js";
import { fitsRecycledContainer } from "../../src/runner/warm-shape.js";
import {
  cleanScrubAnswer,
  nextRunCommand,
  recycledInputLimitBytes,
  supervisorHeader,
} from "../../src/sandbox/supervisor-protocol.js";
import { runcShape, silentLogger } from "../support/fixtures.js";
import { repositoryLanguages } from "../support/languages.js";

const python = repositoryLanguages.find("python")!;

const clean: RecycleFacts = {
  reportedFirst: true,
  report: { kind: "finished", status: 0, peakMemoryBytes: 1, cpuTimeNs: 1, oomKills: 0 },
  stoppedBy: new Set(),
  outcome: { limitsHit: [], stdoutTruncated: false, stderrTruncated: false, error: undefined },
  artifactsWanted: false,
  inputWritten: true,
};

describe("when a container may serve its caller's next run (recycleRefusal)", () => {
  it("after a run that ended on its own, whatever its status", () => {
    expect(recycleRefusal(clean)).toBeUndefined();
    expect(
      recycleRefusal({ ...clean, report: { ...clean.report, kind: "finished", status: 139 } as RecycleFacts["report"] }),
    ).toBeUndefined();
  });

  it.each<[string, Partial<RecycleFacts>, string]>([
    ["the container exited first", { reportedFirst: false }, "the container ended"],
    ["Aurea stopped the run", { stoppedBy: new Set(["timeout"]) }, "the run was stopped (timeout)"],
    ["no report came", { report: undefined }, "no report from the supervisor"],
    ["the workspace could not be set up", { report: { kind: "setup-failed" } }, "no report from the supervisor"],
    ["artifacts ended its output", { artifactsWanted: true }, "artifacts were collected"],
    [
      "a limit was reached",
      { outcome: { ...clean.outcome, limitsHit: ["pids", "memory"] } },
      "the run reached a limit (pids, memory)",
    ],
    ["output was cut", { outcome: { ...clean.outcome, stderrTruncated: true } }, "output was cut"],
    ["the run ended in an error", { outcome: { ...clean.outcome, error: "lost track" } }, "the run ended in an error"],
    ["its input was not all written", { inputWritten: false }, "the input was not all written"],
  ])("never when %s", (_when, facts, reason) => {
    expect(recycleRefusal({ ...clean, ...facts })).toBe(reason);
  });
});

describe("which shapes recycle at all (recyclingRefusal)", () => {
  it("runc always; runsc on ptrace only with POSIX message queues denied", () => {
    expect(recyclingRefusal(runcShape)).toBeUndefined();
    const runsc = { ...runcShape, runtime: "runsc" as const };
    expect(recyclingRefusal({ ...runsc, denyMessageQueues: true })).toBeUndefined();
    expect(recyclingRefusal(runsc)).toMatch(/POSIX message queues where no scrub can list them/);
    expect(recyclingRefusal({ ...runsc, runscPlatform: "systrap", denyMessageQueues: true })).toMatch(/systrap platform/);
  });
});

describe("the recycle protocol's bytes", () => {
  it("counts the run's input in the header only in recycle mode", () => {
    expect(supervisorHeader(10, "n", undefined).toString()).toBe("10 n 0 0 0 0\n");
    expect(supervisorHeader(10, "n", undefined, 25).toString()).toBe("10 n 0 0 0 0 25\n");
    expect(nextRunCommand("abc").toString()).toBe("next abc\n");
    expect(cleanScrubAnswer("abc").toString("latin1")).toBe("\0aurea-usage:abc scrub clean\n\0aurea-ready\n");
  });

  it("takes a program into a recycled container only when its input fits the supervisor's pipe", () => {
    const program = {
      language: python,
      code: "x".repeat(100_000),
      files: [],
      args: ["a"],
      env: ["A=1"],
      stdin: new Uint8Array(),
    };
    expect(fitsRecycledContainer(program)).toBe(true);
    expect(fitsRecycledContainer(program, program.code)).toBe(false);
    expect(fitsRecycledContainer({ ...program, stdin: new Uint8Array(recycledInputLimitBytes) })).toBe(false);
    expect(fitsRecycledContainer({ ...program, stdin: new Uint8Array(recycledInputLimitBytes - 100) })).toBe(true);
  });
});

describe("peakMemoryFile", () => {
  it("finds the cgroup v1 memory controller's peak file of a process, and nothing on cgroup v2", () => {
    const v1 = "12:pids:/docker/abc\n9:memory:/docker/abc\n1:name=systemd:/docker/abc\n";
    expect(peakMemoryFile(v1)).toBe("/sys/fs/cgroup/memory/docker/abc/memory.max_usage_in_bytes");
    expect(peakMemoryFile("4:cpu,memory:/a:b\n")).toBe("/sys/fs/cgroup/memory/a:b/memory.max_usage_in_bytes");
    expect(peakMemoryFile("0::/system.slice/docker-abc.scope\n")).toBeUndefined();
  });
});

describe("createPeakMemoryReset", () => {
  it("writes 0 to the container's peak file under the host's root, finding it once per container", async () => {
    const root = mkdtempSync(join(tmpdir(), "aurea-peak-"));
    try {
      mkdirSync(join(root, "proc", "4242"), { recursive: true });
      writeFileSync(join(root, "proc", "4242", "cgroup"), "9:memory:/docker/abc\n");
      const peak = join(root, "sys/fs/cgroup/memory/docker/abc/memory.max_usage_in_bytes");
      mkdirSync(join(peak, ".."), { recursive: true });
      writeFileSync(peak, "123456");
      const asked: string[] = [];
      const reset = createPeakMemoryReset({
        containers: {
          mainPid: async (id) => {
            asked.push(id);
            return id === "abc" ? 4242 : 9999;
          },
        },
        logger: silentLogger,
        hostRoot: root,
      });
      await reset("abc");
      expect(readFileSync(peak, "utf8")).toBe("0");
      writeFileSync(peak, "999");
      await reset("abc");
      expect(readFileSync(peak, "utf8")).toBe("0");
      expect(asked).toEqual(["abc"]);
      // A container whose process the host's /proc does not show (a server in a container without it).
      await expect(reset("gone")).rejects.toThrow(/ENOENT/);
      expect(asked).toEqual(["abc", "gone"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
