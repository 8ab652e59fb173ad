import * as grpc from "@grpc/grpc-js";
import { describe, expect, it, vi } from "vitest";
import { useAurea } from "../support/aurea-server.js";
import { aureaContainers, noContainersWithin } from "../support/containers.js";
import type { GrpcResponse } from "../support/grpc-js-client.js";

const server = useAurea({ SANDBOX_OUTPUT_LIMIT: "64k" });

const isOutput = (message: GrpcResponse) => message.event === "stdout" || message.event === "stderr";

function runLogLine(runId: string) {
  return server.current.logs().find((line) => line.run_id === runId && line.msg === "run finished");
}

async function waitForLog(runId: string, timeoutMs = 2000) {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    const line = runLogLine(runId);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no "run finished" log line for ${runId}`);
}

describe("RunStream", () => {
  it("sends started, then output while the program runs, then the result", async () => {
    const stream = server.client.runStream({
      language: "python",
      code: "import time, sys\nprint('first')\nprint('err', file=sys.stderr)\ntime.sleep(1.5)\nprint('second')",
    });
    await stream.done;
    const events = stream.messages.map(({ message }) => message.event);
    expect(events[0]).toBe("started");
    expect(events.at(-1)).toBe("result");
    expect(events.filter((event) => event === "result")).toHaveLength(1);

    const startedAt = stream.messages[0]!.at;
    const stdoutChunks = stream.messages.filter(({ message }) => message.event === "stdout");
    const text = stdoutChunks.map(({ message }) => Buffer.from(message.stdout as Buffer).toString()).join("");
    expect(text).toBe("first\nsecond\n");
    // Unbuffered Python writes "first" and its newline separately; both arrive long before the
    // 1.5 s sleep ends (Python starts and writes them within a few tens of milliseconds).
    const early = stdoutChunks.filter(({ at }) => at - startedAt < 500);
    expect(early.map(({ message }) => Buffer.from(message.stdout as Buffer).toString()).join("")).toBe("first\n");
    const last = stdoutChunks.at(-1)!;
    expect(last.at - early.at(-1)!.at).toBeGreaterThanOrEqual(1400);

    const result = stream.messages.at(-1)!.message.result as GrpcResponse;
    expect(result).toMatchObject({ status: "RUN_STATUS_OK", stdout: "first\nsecond\n", stderr: "err\n" });
    expect(result.run_id).toBe((stream.messages[0]!.message.started as GrpcResponse).run_id);
  });

  it("delivers each chunk within 100 ms of the previous write", async () => {
    const stream = server.client.runStream({
      language: "bash",
      code: "for i in 1 2 3 4 5; do echo tick $i; sleep 0.3; done",
    });
    await stream.done;
    const ticks = stream.messages.filter(({ message }) => message.event === "stdout").map(({ at }) => at);
    expect(ticks).toHaveLength(5);
    for (let i = 1; i < ticks.length; i++) {
      const gap = ticks[i]! - ticks[i - 1]!;
      expect(gap).toBeGreaterThan(200);
      expect(gap).toBeLessThan(400);
    }
  });

  it("carries exact bytes, invalid UTF-8 included", async () => {
    const stream = server.client.runStream({ language: "bash", code: "printf 'a\\377b'" });
    await stream.done;
    const bytes = Buffer.concat(
      stream.messages
        .filter(({ message }) => message.event === "stdout")
        .map(({ message }) => Buffer.from(message.stdout as Buffer)),
    );
    expect([...bytes]).toEqual([0x61, 0xff, 0x62]);
    expect((stream.messages.at(-1)!.message.result as GrpcResponse).stdout).toBe("a\uFFFDb");
  });

  it("stops streaming at the output cap and ends with OUTPUT_LIMIT", async () => {
    const stream = server.client.runStream({ language: "bash", code: "yes flood", timeout: 30 });
    await stream.done;
    const streamed = stream.messages
      .filter(({ message }) => message.event === "stdout")
      .reduce((total, { message }) => total + Buffer.from(message.stdout as Buffer).length, 0);
    expect(streamed).toBe(64 * 1024);
    expect(stream.messages.at(-1)!.message.result).toMatchObject({ status: "RUN_STATUS_OUTPUT_LIMIT", stdout_truncated: true });
  });

  it("answers INVALID_ARGUMENT before streaming anything", async () => {
    const stream = server.client.runStream({ language: "klingon", code: "say 1" });
    await expect(stream.done).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(stream.messages).toEqual([]);
  });
});

describe("cancellation and deadlines", () => {
  it("a cancelled RunStream gets its container killed and removed within a second", async () => {
    const stream = server.client.runStream({ language: "bash", code: "echo running; sleep 30", timeout: 60 });
    const started = (await stream.waitFor((message) => message.event === "started")).started as GrpcResponse;
    await stream.waitFor(isOutput);
    expect(await aureaContainers()).toHaveLength(1);
    stream.cancel();
    await expect(stream.done).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    expect(await noContainersWithin(1000)).toBeLessThan(1000);
    expect(await waitForLog(started.run_id as string)).toMatchObject({ status: "cancelled" });
  });

  it("a cancelled Run gets its container killed and removed within a second", async () => {
    const call = server.client.startRun({ language: "bash", code: "sleep 30", timeout: 60 });
    call.response.catch(() => undefined);
    await vi.waitFor(() => expect(server.current.load().started).toBe(1), { timeout: 5000 });
    expect(await aureaContainers()).toHaveLength(1);
    call.cancel();
    await expect(call.response).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    expect(await noContainersWithin(1000)).toBeLessThan(1000);
    const cancelled = server.current.logs().filter((line) => line.msg === "run finished" && line.status === "cancelled");
    expect(cancelled.length).toBeGreaterThanOrEqual(2);
  });

  it("a client deadline ends the run and removes its container", async () => {
    const started = performance.now();
    const error = await server.client.run({ language: "bash", code: "sleep 30", timeout: 60 }, 1000).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    expect(performance.now() - started).toBeLessThan(1500);
    expect(await noContainersWithin(1000)).toBeLessThan(1000);
  });

  it("a RunStream deadline ends the run and removes its container", async () => {
    const stream = server.client.runStream({ language: "bash", code: "echo hi; sleep 30", timeout: 60 }, 1000);
    await expect(stream.done).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    expect(stream.messages.some(({ message }) => message.event === "stdout")).toBe(true);
    expect(await noContainersWithin(1000)).toBeLessThan(1000);
  });
});
