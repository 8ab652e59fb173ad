import { describe, expect, it } from "vitest";
import { maxArtifactTarBytes, supervisorHeader, trailerMarker, stderrEndMarker } from "../../src/sandbox/supervisor-protocol.js";
import { warmRunMessage } from "../../src/sandbox/supervisor-protocol.js";

describe("supervisorHeader", () => {
  it("names the archive size, the nonce, and what to collect", () => {
    expect(supervisorHeader(2048, "abc", undefined).toString()).toBe("2048 abc 0 0 0 0\n");
    const caps = { maxFiles: 5, maxFileBytes: 100, maxTotalBytes: 1000 };
    expect(supervisorHeader(0, "abc", caps).toString()).toBe(`0 abc 1 5 100 ${maxArtifactTarBytes(caps)}\n`);
  });

  it("bounds the artifact tar by the total plus tar's own overhead per file", () => {
    expect(maxArtifactTarBytes({ maxFiles: 1, maxFileBytes: 1, maxTotalBytes: 1000 })).toBe(1000 + 3 * 6 * 1024);
  });
});

describe("markers", () => {
  it("carry the nonce and start with NUL, which text output rarely does", () => {
    expect(trailerMarker("n1").toString("latin1")).toBe("\0aurea-usage:n1 ");
    expect(stderrEndMarker("n1").toString("latin1")).toBe("\0aurea-end:n1");
  });
});

describe("warmRunMessage", () => {
  const decode = (message: Buffer) => {
    const text = message.toString("utf8");
    const newline = text.indexOf("\n");
    return { length: Number(text.slice(0, newline)), fields: text.slice(newline + 1).split("\0") };
  };

  it("length-prefixes NUL-terminated fields: args, env, and no inline code", () => {
    const message = warmRunMessage(["a b", "ü"], ["X=1"]);
    const { length, fields } = decode(message);
    expect(length).toBe(message.length - message.indexOf(0x0a) - 1);
    expect(fields).toEqual(["2", "a b", "ü", "1", "X=1", "0", ""]);
  });

  it("carries the code when given", () => {
    const { fields } = decode(warmRunMessage([], [], "print(1)\n"));
    expect(fields).toEqual(["0", "0", "1", "print(1)\n", ""]);
  });
});
