import { describe, expect, it, vi } from "vitest";
import { toContainerCreateOptions } from "../../src/docker/container-options.js";
import { createRecycler, type RecycleSlot, type RecyclerOptions } from "../../src/runner/recycler.js";
import { FakeEngine } from "../support/fake-engine.js";
import { runcShape, testLimits, testRecyclerSettings } from "../support/fixtures.js";

/**
 * The recycler on the in-memory engine: which scrubbed container goes to whom, and when one is
 * removed instead. Real scrubs in real sandboxes: test/integration/recycling.test.ts.
 */

const slot = (caller: string, overrides: Partial<RecycleSlot> = {}): RecycleSlot => ({
  shape: "python",
  caller,
  limits: testLimits,
  resetsPeak: false,
  ...overrides,
});

function setUp(options: Partial<RecyclerOptions> = {}) {
  const engine = new FakeEngine();
  const resets: string[] = [];
  const recycler = createRecycler({
    containers: engine,
    ...testRecyclerSettings,
    resetPeakMemory: async (id) => {
      resets.push(id);
    },
    ...options,
  });
  /** A running container that just served a run (its stdin stays open, as a recyclable one's). */
  const served = async () => {
    const id = await engine.create(
      toContainerCreateOptions({
        runId: "warm",
        instanceId: "test",
        shape: runcShape,
        limits: testLimits,
        command: ["true"],
        stdinStaysOpen: true,
      }),
    );
    await engine.start(id);
    return id;
  };
  const settled = () => vi.waitFor(() => expect(recycler.containerIds().size).toBe(recycler.waitingCount()));
  return { engine, recycler, resets, served, settled };
}

describe("the recycler", () => {
  it("keeps a scrubbed container for its caller's next run of the same shape and limits, and no one else's", async () => {
    const { engine, recycler, served, settled } = setUp();
    const id = await served();
    recycler.handBack(id, slot("alice"), 1);
    expect(recycler.containerIds().has(id)).toBe(true);
    await settled();
    expect(recycler.waitingCount()).toBe(1);
    expect(recycler.take(slot("bob"))).toBeUndefined();
    expect(recycler.take(slot("alice", { shape: "javascript" }))).toBeUndefined();
    expect(recycler.take(slot("alice", { limits: { ...testLimits, memoryBytes: testLimits.memoryBytes / 2 } }))).toBeUndefined();
    const taken = recycler.take(slot("alice"));
    expect(taken).toMatchObject({ warm: { id, recyclable: true }, runs: 1 });
    expect(recycler.take(slot("alice"))).toBeUndefined();
    expect(engine.containerIds()).toEqual([id]);
  });

  it("scrubs over the run's own attach stream when it kept it, adding no listener per run", async () => {
    const { engine, recycler, served, settled } = setUp({ maxRuns: 50 });
    const id = await served();
    const attachment = await engine.attach(id);
    attachment.on("error", () => undefined);
    recycler.handBack(id, slot("alice"), 1, attachment);
    for (let run = 2; run <= 20; run++) {
      await settled();
      const taken = recycler.take(slot("alice"));
      expect(taken?.warm.attachment).toBe(attachment);
      recycler.handBack(id, slot("alice"), run, taken?.warm.attachment);
    }
    await settled();
    expect(recycler.waitingCount()).toBe(1);
    expect(engine.calls.filter((call) => call === "attach")).toHaveLength(1);
    for (const event of ["close", "error", "data", "end"]) expect(attachment.listenerCount(event)).toBeLessThanOrEqual(1);
  });

  it("lets a caller's run wait for the caller's container being scrubbed, one run per container, never another caller's", async () => {
    const { engine, recycler, served } = setUp();
    engine.scrubDelayMs = 100;
    const id = await served();
    recycler.handBack(id, slot("alice"), 1);
    expect(recycler.scrubbingCount()).toBe(1);
    expect(await recycler.takeSoon(slot("bob"))).toBeUndefined();
    const first = recycler.takeSoon(slot("alice"));
    // One container is coming, and one run already waits for it.
    expect(await recycler.takeSoon(slot("alice"))).toBeUndefined();
    expect(await first).toMatchObject({ warm: { id, recyclable: true }, runs: 1 });
    expect(recycler.waitingCount()).toBe(0);
    expect(await recycler.takeSoon(slot("alice"))).toBeUndefined();
  });

  it("a waiting run goes on without a container when its scrub fails or outlasts scrubWaitMs, which then waits as usual", async () => {
    const { engine, recycler, served, settled } = setUp({ scrubWaitMs: 50, scrubTimeoutMs: 2000 });
    engine.scrubDelayMs = 30;
    const dirty = await served();
    engine.scrubVerdict = (id) => (id === dirty ? "dirty files" : "clean");
    recycler.handBack(dirty, slot("alice"), 1);
    expect(await recycler.takeSoon(slot("alice"))).toBeUndefined();
    engine.scrubDelayMs = 300;
    const slow = await served();
    recycler.handBack(slow, slot("alice"), 1);
    const started = Date.now();
    expect(await recycler.takeSoon(slot("alice"))).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(250);
    await settled();
    expect(recycler.take(slot("alice"))).toMatchObject({ warm: { id: slow } });
  });

  it("clear and invalidate let every waiting run go on at once", async () => {
    const { engine, recycler, served } = setUp({ scrubWaitMs: 60_000 });
    engine.scrubDelayMs = 60_000;
    recycler.handBack(await served(), slot("alice"), 1);
    const waiting = recycler.takeSoon(slot("alice"));
    recycler.invalidate();
    expect(await waiting).toBeUndefined();
  });

  it("removes a container whose scrub is dirty, or silent past the deadline", async () => {
    const { engine, recycler, served, settled } = setUp();
    const dirty = await served();
    const silent = await served();
    engine.scrubVerdict = (id) => (id === dirty ? "dirty processes" : "silent");
    recycler.handBack(dirty, slot("alice"), 1);
    recycler.handBack(silent, slot("alice"), 1);
    await settled();
    expect(recycler.waitingCount()).toBe(0);
    await vi.waitFor(() => expect(engine.containerIds()).toEqual([]));
  });

  it("removes a container that served its most runs, without scrubbing it", async () => {
    const { engine, recycler, served } = setUp({ maxRuns: 3 });
    const id = await served();
    recycler.handBack(id, slot("alice"), 3);
    expect(recycler.containerIds().size).toBe(0);
    await vi.waitFor(() => expect(engine.containerIds()).toEqual([]));
    expect(engine.calls).not.toContain("attach");
  });

  it("keeps at most maxIdlePerCaller for one caller and maxIdle in all", async () => {
    const { engine, recycler, served, settled } = setUp();
    const ids = [await served(), await served(), await served(), await served(), await served()];
    recycler.handBack(ids[0] as string, slot("alice"), 1);
    recycler.handBack(ids[1] as string, slot("alice"), 1);
    await settled();
    recycler.handBack(ids[2] as string, slot("alice"), 1);
    await settled();
    expect(recycler.waitingCount()).toBe(2);
    recycler.handBack(ids[3] as string, slot("bob"), 1);
    await settled();
    recycler.handBack(ids[4] as string, slot("carol"), 1);
    await settled();
    expect(recycler.waitingCount()).toBe(3);
    await vi.waitFor(() => expect(engine.containerIds().sort()).toEqual([ids[0], ids[1], ids[3]].sort()));
  });

  it("resets the peak-memory counter where the slot needs it, and removes the container when it cannot", async () => {
    const { engine, recycler, resets, served, settled } = setUp({
      resetPeakMemory: async (id) => {
        resets.push(id);
        if (resets.length > 1) throw new Error("no host cgroup files here");
      },
    });
    const first = await served();
    recycler.handBack(first, slot("alice", { resetsPeak: true }), 1);
    await settled();
    expect(resets).toEqual([first]);
    expect(recycler.waitingCount()).toBe(1);
    const second = await served();
    recycler.handBack(second, slot("bob", { resetsPeak: true }), 1);
    await settled();
    expect(recycler.waitingCount()).toBe(1);
    await vi.waitFor(() => expect(engine.containerIds()).toEqual([first]));
  });

  it("removes containers unused for the idle timeout, and forgets one that died while it waited", async () => {
    const { engine, recycler, served, settled } = setUp({ idleTimeoutMs: 1000 });
    const idle = await served();
    const dying = await served();
    recycler.handBack(idle, slot("alice"), 1);
    recycler.handBack(dying, slot("bob"), 1);
    await settled();
    engine.crash(dying);
    await vi.waitFor(() => expect(recycler.waitingCount()).toBe(1));
    recycler.sweep(Date.now() + 500);
    expect(recycler.waitingCount()).toBe(1);
    recycler.sweep(Date.now() + 1500);
    expect(recycler.waitingCount()).toBe(0);
    await vi.waitFor(() => expect(engine.containerIds()).toEqual([]));
  });

  it("clear removes every container, those being scrubbed too, and waits for them", async () => {
    const { engine, recycler, served, settled } = setUp({ scrubTimeoutMs: 60_000 });
    const waiting = await served();
    recycler.handBack(waiting, slot("alice"), 1);
    await settled();
    engine.scrubVerdict = () => "silent";
    const scrubbing = await served();
    recycler.handBack(scrubbing, slot("alice"), 1);
    await vi.waitFor(() => expect(recycler.scrubbingCount()).toBe(1));
    await recycler.clear();
    expect(recycler.containerIds().size).toBe(0);
    expect(recycler.scrubbingCount()).toBe(0);
    await vi.waitFor(() => expect(engine.containerIds()).toEqual([]));
  });
});
