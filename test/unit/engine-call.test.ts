import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { engineCall } from "../../src/docker/engine-call.js";
import { EngineUnavailableError } from "../../src/docker/engine-errors.js";

const logger = pino({ level: "silent" });

describe("engineCall", () => {
  it("answers at its deadline even when the call ignores its AbortSignal", async () => {
    let signalled: AbortSignal | undefined;
    const started = performance.now();
    const hung = engineCall(
      logger,
      "attach container",
      {},
      (signal) => {
        signalled = signal;
        return new Promise<never>(() => undefined);
      },
      { timeoutMs: 50 },
    );
    await expect(hung).rejects.toThrow(EngineUnavailableError);
    await expect(hung).rejects.toThrow(/^attach container: container engine did not answer within 50 ms$/);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(signalled?.aborted).toBe(true);
  });

  it("releases a result that arrives after the deadline", async () => {
    let resolveLate: (value: { closed: boolean }) => void = () => undefined;
    const late = { closed: false };
    const call = engineCall(
      logger,
      "attach container",
      {},
      () => new Promise<{ closed: boolean }>((resolve) => (resolveLate = resolve)),
      {
        timeoutMs: 20,
        discardLate: (result) => {
          result.closed = true;
        },
      },
    );
    await expect(call).rejects.toThrow(EngineUnavailableError);
    resolveLate(late);
    await new Promise((resolve) => setImmediate(resolve));
    expect(late.closed).toBe(true);
  });

  it("passes a result through, and classifies a failure", async () => {
    expect(await engineCall(logger, "ping engine", {}, async () => "pong")).toBe("pong");
    const refused = Object.assign(new Error("connect ECONNREFUSED /var/run/docker.sock"), { code: "ECONNREFUSED" });
    await expect(engineCall(logger, "ping engine", {}, () => Promise.reject(refused))).rejects.toThrow(
      /^ping engine: container engine unreachable \(ECONNREFUSED\)$/,
    );
  });
});
