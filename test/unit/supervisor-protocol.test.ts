import { describe, expect, it } from "vitest";
import { TrailerSplitter } from "../../src/runner/output-capture.js";
import { parseSupervisorReport, splitTrailer, trailerMarker } from "../../src/sandbox/supervisor-protocol.js";

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
