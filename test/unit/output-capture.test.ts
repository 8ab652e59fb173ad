import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { AttachStreamDemuxer, CappedBuffer, type OutputStreamName } from "../../src/runner/output-capture.js";
import { RunOutput } from "../../src/runner/run-output.js";

function frame(type: number, payload: string | Buffer): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

function collect(input: Buffer[]) {
  const seen: [OutputStreamName, string][] = [];
  const demuxer = new AttachStreamDemuxer((stream, chunk) => seen.push([stream, chunk.toString()]));
  for (const chunk of input) demuxer.push(chunk);
  return seen;
}

describe("AttachStreamDemuxer", () => {
  it("splits frames into stdout and stderr in order", () => {
    const seen = collect([Buffer.concat([frame(1, "out1"), frame(2, "err1"), frame(1, "out2")])]);
    expect(seen).toEqual([
      ["stdout", "out1"],
      ["stderr", "err1"],
      ["stdout", "out2"],
    ]);
  });

  it("handles headers and payloads split at every byte", () => {
    const whole = Buffer.concat([frame(1, "hello"), frame(2, "world")]);
    const bytes = [...whole].map((byte) => Buffer.from([byte]));
    const seen = collect(bytes);
    expect(
      seen
        .filter(([s]) => s === "stdout")
        .map(([, c]) => c)
        .join(""),
    ).toBe("hello");
    expect(
      seen
        .filter(([s]) => s === "stderr")
        .map(([, c]) => c)
        .join(""),
    ).toBe("world");
  });

  it("hands on a huge frame's payload as it arrives instead of buffering it", () => {
    const header = Buffer.alloc(8);
    header[0] = 1;
    header.writeUInt32BE(100 * 1024 * 1024, 4);
    const seen: number[] = [];
    const demuxer = new AttachStreamDemuxer((_stream, chunk) => seen.push(chunk.length));
    demuxer.push(header);
    demuxer.push(Buffer.alloc(1000));
    expect(seen).toEqual([1000]);
  });

  it("drops frames that are not program output", () => {
    expect(collect([Buffer.concat([frame(0, "stdin"), frame(3, "engine"), frame(1, "ok")])])).toEqual([["stdout", "ok"]]);
  });
});

describe("CappedBuffer", () => {
  it("keeps the first bytes up to the limit and counts the rest", () => {
    const buffer = new CappedBuffer(5);
    expect(buffer.append(Buffer.from("abc")).toString()).toBe("abc");
    expect(buffer.overflowed).toBe(false);
    expect(buffer.append(Buffer.from("defg")).toString()).toBe("de");
    expect(buffer.append(Buffer.from("h")).length).toBe(0);
    expect(buffer.toBuffer().toString()).toBe("abcde");
    expect(buffer.overflowed).toBe(true);
    expect(buffer.totalBytes).toBe(8);
  });

  it("is not overflowed at exactly the limit", () => {
    const buffer = new CappedBuffer(3);
    buffer.append(Buffer.from("abc"));
    expect(buffer.overflowed).toBe(false);
  });
});

describe("RunOutput on a stream that outlives the run (a recycled container's)", () => {
  it("takes every listener it added off again, leaving the stream paused", () => {
    const stream = new PassThrough();
    const before = ["data", "end", "close", "error"].map((event) => stream.listenerCount(event));
    for (let run = 0; run < 20; run++) {
      const output = new RunOutput({ nonce: "n", limitBytes: 1024, artifacts: undefined, onOverflow: () => undefined });
      output.listen(stream);
      output.stopListening(stream);
    }
    expect(["data", "end", "close", "error"].map((event) => stream.listenerCount(event))).toEqual(before);
    expect(stream.isPaused()).toBe(true);
  });
});
