import { describe, expect, it } from "vitest";
import { TrailerSplitter } from "../../src/runner/output-capture.js";
import { parseSupervisorReport, trailerMarker } from "../../src/runner/sandbox-command.js";

const marker = trailerMarker("0123abcd");

function split(chunks: (string | Buffer)[]) {
  const program: Buffer[] = [];
  const splitter = new TrailerSplitter(marker, (chunk) => program.push(Buffer.from(chunk)));
  for (const chunk of chunks) splitter.push(Buffer.from(chunk));
  const trailer = splitter.end();
  return { output: Buffer.concat(program).toString("latin1"), trailer, overflowed: splitter.regionOverflowed };
}

describe("TrailerSplitter", () => {
  const real = Buffer.concat([marker, Buffer.from("ok 0 4096 1000 0\n")]);

  it("separates program output from the trailer", () => {
    expect(split(["hello\n", real])).toEqual({ output: "hello\n", trailer: "ok 0 4096 1000 0", overflowed: false });
  });

  it("finds a marker split across chunks, one byte at a time", () => {
    const whole = Buffer.concat([Buffer.from("out"), real]);
    const result = split([...whole].map((byte) => Buffer.from([byte])));
    expect(result.output).toBe("out");
    expect(result.trailer).toBe("ok 0 4096 1000 0");
  });

  it("hands on bytes that only looked like the start of a marker", () => {
    expect(split(["a\u0000aur", "ora\n"])).toEqual({ output: "a\u0000aurora\n", trailer: undefined, overflowed: false });
    expect(split(["ends with \u0000aurea-usa"]).output).toBe("ends with \u0000aurea-usa");
  });

  it("believes the last trailer, so a forged one printed earlier changes nothing", () => {
    const forged = Buffer.concat([marker, Buffer.from("ok 0 1 1 0\n")]);
    expect(split(["x", forged, "more", real]).trailer).toBe("ok 0 4096 1000 0");
  });

  it("ignores a marker with another nonce", () => {
    const other = Buffer.concat([trailerMarker("ffffffff"), Buffer.from("ok 0 1 1 0\n")]);
    expect(split([other]).trailer).toBeUndefined();
  });

  it("bounds what follows a marker", () => {
    expect(split([marker, "x".repeat(5000)]).overflowed).toBe(true);
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
