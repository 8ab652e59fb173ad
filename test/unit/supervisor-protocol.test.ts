import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TrailerSplitter } from "../../src/runner/output-capture.js";
import {
  parseSupervisorReport,
  programUserSetprivFlags,
  sandboxCounterFiles,
  splitTrailer,
  trailerMarker,
} from "../../src/sandbox/supervisor-protocol.js";

const marker = trailerMarker("0123abcd");

function split(chunks: (string | Buffer)[]) {
  const program: Buffer[] = [];
  const splitter = new TrailerSplitter(marker, (chunk) => program.push(Buffer.from(chunk)), 4096);
  for (const chunk of chunks) splitter.push(Buffer.from(chunk));
  const trailer = splitter.end()?.toString("latin1");
  return { output: Buffer.concat(program).toString("latin1"), trailer, overflowed: splitter.regionOverflowed };
}

describe("TrailerSplitter", () => {
  const real = Buffer.concat([marker, Buffer.from("ok 0 4096 1000 0\n")]);

  it("separates program output from the trailer", () => {
    expect(split(["hello\n", real])).toEqual({ output: "hello\n", trailer: "ok 0 4096 1000 0\n", overflowed: false });
  });

  it("finds a marker split across chunks, one byte at a time", () => {
    const whole = Buffer.concat([Buffer.from("out"), real]);
    const result = split([...whole].map((byte) => Buffer.from([byte])));
    expect(result.output).toBe("out");
    expect(result.trailer).toBe("ok 0 4096 1000 0\n");
  });

  it("hands on bytes that only looked like the start of a marker", () => {
    expect(split(["a\u0000aur", "ora\n"])).toEqual({ output: "a\u0000aurora\n", trailer: undefined, overflowed: false });
    expect(split(["ends with \u0000aurea-usa"]).output).toBe("ends with \u0000aurea-usa");
  });

  it("treats a marker with another nonce as program output", () => {
    const other = Buffer.concat([trailerMarker("ffffffff"), Buffer.from("ok 0 1 1 0\n")]);
    const result = split([other, real]);
    expect(result.output).toBe(other.toString("latin1"));
    expect(result.trailer).toBe("ok 0 4096 1000 0\n");
  });

  it("keeps everything after the marker, binary included", () => {
    const payload = Buffer.from([0x0a, 0x00, 0xff, 0x00]);
    expect(split([real, payload]).trailer).toBe(`ok 0 4096 1000 0\n${payload.toString("latin1")}`);
  });

  it("bounds what follows a marker", () => {
    expect(split([marker, "x".repeat(5000)]).overflowed).toBe(true);
  });
});

describe("splitTrailer", () => {
  it("splits the report line from what follows", () => {
    const { reportText, rest } = splitTrailer(Buffer.from("ok 0 1 2 3\nf 3 a.txt\0\0tar"));
    expect(reportText).toBe("ok 0 1 2 3");
    expect(rest.toString("latin1")).toBe("f 3 a.txt\0\0tar");
  });
});

describe("parseSupervisorReport", () => {
  it("reads a finished run's status and usage", () => {
    expect(parseSupervisorReport("ok 3 1048576 25000000 1")).toEqual({
      kind: "finished",
      status: 3,
      peakMemoryBytes: 1048576,
      cpuTimeNs: 25000000,
      oomKills: 1,
    });
  });

  it("reads the limits the program ran into, when the report carries them", () => {
    expect(parseSupervisorReport("ok 0 1 2 0 5 7 0 12")).toEqual({
      kind: "finished",
      status: 0,
      peakMemoryBytes: 1,
      cpuTimeNs: 2,
      oomKills: 0,
      pidsRefused: 5,
      memoryAtLimit: 7,
      workspaceFreeBlocks: 0,
      workspaceFreeFiles: 12,
    });
    expect(parseSupervisorReport("ok 0 - - - - - - -")).toMatchObject({ pidsRefused: undefined, workspaceFreeFiles: undefined });
  });

  it("treats unreadable cgroup values as unknown", () => {
    expect(parseSupervisorReport("ok 0 - - -")).toEqual({
      kind: "finished",
      status: 0,
      peakMemoryBytes: undefined,
      cpuTimeNs: undefined,
      oomKills: undefined,
    });
  });

  it("knows a failed workspace setup", () => {
    expect(parseSupervisorReport("setup-failed")).toEqual({ kind: "setup-failed" });
  });

  it.each(["", "ok", "ok x 1 2 3", "ok 0 1 2", "setup-failed extra", "bogus 0 1 2 3"])("refuses %j", (text) => {
    expect(parseSupervisorReport(text)).toBeUndefined();
  });
});

describe("what every program inside reads and does alike (described once in supervisor-protocol.ts)", () => {
  const program = (name: string) => readFileSync(new URL(`../../src/sandbox/programs/${name}`, import.meta.url), "utf8");
  const supervisor = program("supervisor.sh");
  const cases = readFileSync(new URL("../../images/helper/aurea-cases.c", import.meta.url), "utf8");
  const programUser = readFileSync(new URL("../../images/helper/program-user.h", import.meta.url), "utf8");
  const agentCounters = program("session-agent/agent_counters.py");
  const agentProcesses = program("session-agent/agent_processes.py");
  /** A shell script's paths may be written as $cg/... with cg=/sys/fs/cgroup. */
  const inShell = (text: string, path: string) => text.includes(path) || text.includes(path.replace("/sys/fs/cgroup", "$cg"));

  it("reads the sandbox's counters from the same files, in the same order, with the same keys", () => {
    for (const files of Object.values(sandboxCounterFiles)) {
      for (const { path, key } of files) {
        expect(inShell(supervisor, path), `supervisor.sh reads ${path}`).toBe(true);
        expect(agentCounters, `agent_counters.py reads ${path}`).toContain(`"${path}"`);
        if (key !== undefined) expect(supervisor).toContain(key);
      }
    }
    // The agent's table names each counter's files and keys in the same order.
    const snake = { oomKills: "oom_kills", pidsRefused: "pids_refused", memoryAtLimit: "memory_at_limit" } as const;
    for (const [counter, files] of Object.entries(sandboxCounterFiles)) {
      const line = agentCounters
        .split("\n")
        .find((text) => text.trimStart().startsWith(`"${snake[counter as keyof typeof snake]}":`));
      const pairs = files.map(({ path, key }) => `("${path}", ${key === undefined ? "None" : `"${key}"`})`).join(", ");
      expect(line, counter).toContain(pairs);
    }
    for (const { path } of sandboxCounterFiles.oomKills) expect(cases).toContain(path);
    // The agent reads no counter file but these (the supervisor reads usage files besides).
    const known = Object.values(sandboxCounterFiles).flatMap((files) => files.map((file) => file.path));
    const named = (text: string) => [...text.matchAll(/\/sys\/fs\/cgroup\/[a-z./_]+[a-z_]/g)].map((match) => match[0]);
    for (const path of named(agentCounters)) expect(known).toContain(path);
  });

  it("starts the program as the sandbox user the same way", () => {
    for (const flag of programUserSetprivFlags) expect(supervisor).toContain(flag);
    // The case runner's steps in C, in the same order as the agent's: no groups, the gid, the
    // bounding set emptied, the uid, then no inheritable capability.
    expect(programUser).toMatch(
      /static void become_program_user\(uid_t uid, gid_t gid\) \{[\s\S]*setgroups\(0, NULL\)[\s\S]*setresgid[\s\S]*PR_CAPBSET_DROP[\s\S]*setresuid[\s\S]*SYS_capset/,
    );
    // In-process, the agent's three steps: no groups, the gid and uid, the bounding set emptied.
    expect(agentProcesses).toMatch(
      /def drop_to_program_user\(program\):[\s\S]*os\.setgroups\(\[\]\)[\s\S]*os\.setresgid[\s\S]*PR_CAPBSET_DROP[\s\S]*os\.setresuid/,
    );
  });
});
