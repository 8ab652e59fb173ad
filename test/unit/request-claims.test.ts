import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { claimLabel, createRequestClaims } from "../../src/service/request-claims.js";
import { connectErrorDetails } from "../support/error-details.js";
import { FakeEngine } from "../support/fake-engine.js";

/** request_id claims against the in-memory engine, whose container names are unique as the real one's. */

const logger = pino({ level: "silent" });
const claimsOn = (engine: FakeEngine, instanceId: string, windowMs = 60_000) =>
  createRequestClaims({ containers: engine, instanceId, image: () => "aurea-sandbox:latest", windowMs, logger });
const claimCount = async (engine: FakeEngine) => (await engine.listByLabels({ [claimLabel]: "true" })).length;

afterEach(() => vi.useRealTimers());

describe("request_id claims", () => {
  it("run the work once: a repeat joins it while it runs, and gets its result afterwards", async () => {
    const engine = new FakeEngine();
    const claims = claimsOn(engine, "a");
    let runs = 0;
    let finish: (value: string) => void = () => undefined;
    const work = () => {
      runs += 1;
      return new Promise<string>((resolve) => (finish = resolve));
    };
    const first = claims.once("alice", "job", "run-1", work);
    const joined = claims.once("alice", "job", "run-2", work);
    await new Promise((resolve) => setTimeout(resolve, 10));
    finish("result");
    expect(await first).toBe("result");
    expect(await joined).toBe("result");
    expect(await claims.once("alice", "job", "run-3", work)).toBe("result");
    expect(runs).toBe(1);
    // Another caller's id is its own.
    const bobs = claims.once("bob", "job", "run-4", async () => "bob's");
    expect(await bobs).toBe("bob's");
    expect(await claimCount(engine)).toBe(2);
    await claims.releaseAll();
    expect(await claimCount(engine)).toBe(0);
  });

  it("refuse a request another server holds as ALREADY_EXISTS, without running it", async () => {
    const engine = new FakeEngine();
    const [here, there] = [claimsOn(engine, "a"), claimsOn(engine, "b")];
    await here.once("alice", "job", "run-1", async () => "done here");
    let ran = false;
    const refused = await there
      .once("alice", "job", "run-2", async () => {
        ran = true;
        return "twice";
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.AlreadyExists);
    expect(connectErrorDetails(refused as ConnectError).info).toEqual({
      reason: "REQUEST_ID_HELD",
      domain: "aurea.dev",
      metadata: {},
    });
    expect(ran).toBe(false);
    await here.releaseAll();
    await there.releaseAll();
  });

  it("send a retry to the replica whose address the claim carries, and ALREADY_EXISTS when it does not answer", async () => {
    const engine = new FakeEngine();
    const claimsAt = (instanceId: string, address: string) =>
      createRequestClaims({
        containers: engine,
        instanceId,
        image: () => "aurea-sandbox:latest",
        windowMs: 60_000,
        address,
        logger,
      });
    const [here, there] = [claimsAt("a", "10.0.0.1:8000"), claimsAt("b", "10.0.0.2:8000")];
    await here.once("alice", "job", "run-1", async () => "done here");
    let ran = false;
    const work = async () => {
      ran = true;
      return "twice";
    };
    const asked: string[] = [];
    const joined = await there.once("alice", "job", "run-2", work, async (holder) => {
      asked.push(holder);
      return `the answer from ${holder}`;
    });
    expect(joined).toBe("the answer from 10.0.0.1:8000");
    expect(asked).toEqual(["10.0.0.1:8000"]);
    // The holder does not answer: the retry is refused as before, and nothing ran here.
    const refused = await there
      .once("alice", "job2", "run-3", async () => "first", undefined)
      .then(async () =>
        claimsAt("c", "10.0.0.3:8000")
          .once("alice", "job2", "run-4", work, async () => undefined)
          .catch((error: unknown) => error),
      );
    expect((refused as ConnectError).code).toBe(Code.AlreadyExists);
    expect(ran).toBe(false);
    await here.releaseAll();
    await there.releaseAll();
  });

  it("let a request whose program never started be retried, and release claims after the window", async () => {
    // The window is the server's own clock: faked, so the test waits on nothing real.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const engine = new FakeEngine();
    const claims = claimsOn(engine, "a", 60_000);
    await expect(claims.once("alice", "job", "run-1", () => Promise.reject(new Error("queue full")))).rejects.toThrow(
      "queue full",
    );
    await vi.waitFor(async () => expect(await claimCount(engine)).toBe(0));
    expect(await claims.once("alice", "job", "run-2", async () => "second try")).toBe("second try");
    expect(await claimCount(engine)).toBe(1);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(await claimCount(engine)).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.waitFor(async () => expect(await claimCount(engine)).toBe(0));
    // A server shutting down takes no new claim.
    await claims.releaseAll();
    const draining = await claims.once("alice", "new", "run-3", async () => "x").catch((error: unknown) => error);
    expect(draining).toMatchObject({ code: Code.Unavailable });
    expect(connectErrorDetails(draining as ConnectError).info?.reason).toBe("DRAINING");
  });
});
