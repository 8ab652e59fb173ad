import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { containerLabels } from "../../src/docker/container-options.js";
import { createHealthChecker } from "../../src/service/health-check.js";
import { createHealthMonitor } from "../../src/service/health-monitor.js";
import { createInstanceLease, leaseLabel } from "../../src/service/instance-lease.js";
import { createOrphanReaper } from "../../src/service/orphan-reaper.js";
import { FakeEngine } from "../support/fake-engine.js";
import { sessionContainerLabels } from "../support/session-labels.js";

const logger = pino({ level: "silent" });
const labelsOf = (instance: string) => ({
  [containerLabels.managed]: "true",
  [containerLabels.instance]: instance,
  [containerLabels.runId]: "r",
});

describe("the orphan reaper", () => {
  function setUp(live: string[] = []) {
    const engine = new FakeEngine();
    const reaper = createOrphanReaper({
      containers: engine,
      instanceId: "me",
      liveContainers: () => new Set(live),
      foreignAfterMs: 60_000,
      instanceName: "host-a",
      // "me" renews its lease; every other instance here has died.
      liveInstances: () => new Set(["me"]),
      logger,
    });
    return { engine, reaper };
  }

  it("removes this instance's old containers that no run owns, and spares young ones", async () => {
    const { engine, reaper } = setUp();
    const old = engine.addLeftover(labelsOf("me"), 120_000);
    const young = engine.addLeftover(labelsOf("me"), 1_000);
    expect(await reaper.sweep()).toEqual([old]);
    expect(engine.containerIds()).toEqual([young]);
  });

  it("never touches a live run's container, however old", async () => {
    const engine = new FakeEngine();
    const id = engine.addLeftover(labelsOf("me"), 600_000);
    const reaper = createOrphanReaper({
      containers: engine,
      instanceId: "me",
      liveContainers: () => new Set([id]),
      foreignAfterMs: 0,
      instanceName: "host-a",
      liveInstances: () => new Set(["me"]),
      logger,
    });
    expect(await reaper.sweep({ finalSweep: true })).toEqual([]);
  });

  it("never touches the containers of another instance whose lease is fresh, and takes a dead one's", async () => {
    const engine = new FakeEngine();
    const lease = (instanceId: string) =>
      createInstanceLease({ containers: engine, instanceId, image: () => "aurea-sandbox:latest", renewEveryMs: 10_000, logger });
    const mine = lease("me");
    const other = lease("other");
    await other.start();
    await mine.start();
    const othersRun = engine.addLeftover(labelsOf("other"), 600_000);
    const deadsRun = engine.addLeftover(labelsOf("dead"), 600_000);
    // A lease last renewed four renewals ago: its server died.
    engine.addLeftover({ ...labelsOf("dead"), [leaseLabel]: "true" }, 40_000);
    const reaper = createOrphanReaper({
      containers: engine,
      instanceId: "me",
      liveContainers: () => new Set([mine.containerId() ?? ""]),
      foreignAfterMs: 0,
      instanceName: "host-a",
      liveInstances: (found) => mine.liveInstances(found),
      logger,
    });
    const removed = await reaper.sweep();
    expect(removed).toHaveLength(2);
    expect(removed).toContain(deadsRun);
    expect(engine.containerIds()).toContain(othersRun);
    expect(engine.containerIds()).toContain(other.containerId());
    // Without a lease of its own a server judges no one: nothing of others is touched.
    await mine.stop();
    expect(mine.liveInstances(await engine.listByLabels({}))).toBeUndefined();
    await other.stop();
  });

  /** Labels of a session container of `instanceName`, expiring `expiresInMs` from now. */
  const sessionLabelsOf = (instanceName: string, expiresInMs: number) => sessionContainerLabels({ instanceName, expiresInMs });

  it("leaves another server's live session alone whatever its age, and takes it once expired", async () => {
    const { engine, reaper } = setUp();
    const live = engine.addLeftover(sessionLabelsOf("host-b", 60_000), 600_000);
    const expired = engine.addLeftover(sessionLabelsOf("host-b", -1_000), 600_000);
    expect(await reaper.sweep({ finalSweep: true })).toEqual([expired]);
    expect(engine.containerIds()).toEqual([live]);
  });

  it("takes a session of this server's name that it does not hold (not adopted)", async () => {
    const { engine, reaper } = setUp();
    const unadopted = engine.addLeftover(sessionLabelsOf("host-a", 60_000), 120_000);
    expect(await reaper.sweep()).toEqual([unadopted]);
  });

  it("takes another instance's containers only past the foreign age", async () => {
    const { engine, reaper } = setUp();
    const recent = engine.addLeftover(labelsOf("other"), 30_000);
    const stale = engine.addLeftover(labelsOf("other"), 120_000);
    expect(await reaper.sweep()).toEqual([stale]);
    expect(engine.containerIds()).toEqual([recent]);
  });

  it("never touches a container without Aurea's label", async () => {
    const { engine, reaper } = setUp();
    const foreign = engine.addLeftover({ app: "something-else" }, 600_000);
    expect(await reaper.sweep({ finalSweep: true })).toEqual([]);
    expect(engine.containerIds()).toEqual([foreign]);
  });

  it("at exit takes all of this instance's own containers, however young", async () => {
    const { engine, reaper } = setUp();
    const young = engine.addLeftover(labelsOf("me"), 10);
    expect(await reaper.sweep({ finalSweep: true })).toEqual([young]);
  });

  it("skips a sweep quietly while the engine is unreachable", async () => {
    const { engine, reaper } = setUp();
    engine.addLeftover(labelsOf("me"), 120_000);
    engine.reachable = false;
    expect(await reaper.sweep()).toEqual([]);
  });
});

describe("health", () => {
  function setUp() {
    const engine = new FakeEngine();
    const checker = createHealthChecker({
      engine,
      images: engine,
      sandboxImage: "aurea-sandbox:latest",
      families: [{ name: "core", image: "aurea-sandbox:latest", languages: ["python"] }],
      timeoutMs: 100,
    });
    const monitor = createHealthMonitor({ checker, sandboxImage: "aurea-sandbox:latest", logger, intervalMs: 20 });
    return { engine, monitor };
  }

  it("turns not serving when the engine goes away or the image is missing, and back without a restart", async () => {
    const { engine, monitor } = setUp();
    const changes: boolean[] = [];
    monitor.subscribe((serving) => changes.push(serving));
    expect((await monitor.refresh()).serving).toBe(true);
    monitor.start();
    try {
      engine.reachable = false;
      await vi.waitFor(() => expect(monitor.serving()).toBe(false));
      expect(monitor.current().dockerReachable).toBe(false);
      engine.reachable = true;
      await vi.waitFor(() => expect(monitor.serving()).toBe(true));
      engine.images.clear();
      await vi.waitFor(() =>
        expect(monitor.current()).toMatchObject({ serving: false, dockerReachable: true, sandboxImagePresent: false }),
      );
      engine.images.add("aurea-sandbox:latest");
      await vi.waitFor(() => expect(monitor.serving()).toBe(true));
      expect(changes).toEqual([true, false, true, false, true]);
    } finally {
      monitor.stop();
    }
  });

  it("keeps serving through two slow answers from an engine that was answering; not through three", async () => {
    const { engine, monitor } = setUp();
    expect((await monitor.refresh()).serving).toBe(true);
    engine.slow = true;
    expect((await monitor.refresh()).serving).toBe(true);
    expect((await monitor.refresh()).serving).toBe(true);
    expect((await monitor.refresh()).serving).toBe(false);
    engine.slow = false;
    expect((await monitor.refresh()).serving).toBe(true);
    // An engine that refuses is gone at once.
    engine.reachable = false;
    expect((await monitor.refresh()).serving).toBe(false);
  });

  it("reports not serving from the start of shutdown, whatever the engine says", async () => {
    const { monitor } = setUp();
    await monitor.refresh();
    expect(monitor.serving()).toBe(true);
    monitor.beginShutdown();
    expect(monitor.serving()).toBe(false);
    await monitor.refresh();
    expect(monitor.serving()).toBe(false);
  });
});
