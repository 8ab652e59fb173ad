import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { ManagedContainer } from "../../src/docker/container-client.js";
import { containerLabels } from "../../src/docker/container-options.js";
import { sessionLabels } from "../../src/session/session-container.js";
import { createOrphanReaper } from "../../src/service/orphan-reaper.js";
import { createSessionTakeover, holderAddressLabel, holderLabel } from "../../src/service/session-takeover.js";
import { FakeEngine } from "../support/fake-engine.js";
import { sessionContainerLabels } from "../support/session-labels.js";

/**
 * Who holds a session whose replica went, decided on the in-memory engine: the creator while its
 * lease is fresh, else the live holder of its claim, else whoever claims it first; reapers spare
 * what a live replica holds.
 */

const logger = pino({ level: "silent" });

const sessionLabelsOf = (sessionId: string, creator: string) =>
  sessionContainerLabels({ sessionId, instance: creator, instanceName: "host-a", expiresInMs: 600_000, stateful: true });

/** A replica on the shared engine: `live` are the instances with a fresh lease. */
function replica(engine: FakeEngine, instanceId: string, live: () => string[]) {
  const held = new Set<string>();
  const adoptedContainers: string[] = [];
  const takeover = createSessionTakeover({
    containers: engine,
    sessions: {
      holds: (id) => held.has(id),
      adoptContainer: async (container: ManagedContainer) => {
        const id = container.labels[sessionLabels.session]!;
        held.add(id);
        adoptedContainers.push(container.id);
        return {} as never;
      },
    },
    liveInstances: () => new Set(live()),
    livePeers: () => [],
    instanceId,
    address: `${instanceId}:8000`,
    image: () => "aurea-sandbox:latest",
    logger,
  });
  return { takeover, held, adoptedContainers };
}

describe("taking over a session", () => {
  it("leaves it to its creator while the creator's lease is fresh", async () => {
    const engine = new FakeEngine();
    engine.addLeftover(sessionLabelsOf("ses_1", "a"), 1000);
    const b = replica(engine, "b", () => ["a", "b"]);
    expect(await b.takeover.takeOver("ses_1")).toEqual({ kind: "holder-alive" });
    expect(b.held.size).toBe(0);
  });

  it("adopts it once the creator is dead, with a claim the engine keeps unique, which the next replica follows", async () => {
    const engine = new FakeEngine();
    const container = engine.addLeftover(sessionLabelsOf("ses_1", "a"), 1000);
    const b = replica(engine, "b", () => ["b", "c"]);
    const c = replica(engine, "c", () => ["b", "c"]);
    const [fromB, fromC] = await Promise.all([b.takeover.takeOver("ses_1"), c.takeover.takeOver("ses_1")]);
    const outcomes = [fromB, fromC].map((outcome) => outcome.kind).sort();
    expect(outcomes).toEqual(["adopted", "held"]);
    const adopter = fromB.kind === "adopted" ? b : c;
    const other = adopter === b ? c : b;
    expect(adopter.adoptedContainers).toEqual([container]);
    expect(other.held.size).toBe(0);
    expect(await other.takeover.takeOver("ses_1")).toEqual({ kind: "held", address: adopter === b ? "b:8000" : "c:8000" });
    const [claim] = await engine.listByLabels({ [holderLabel]: "ses_1" });
    expect(claim?.labels[holderAddressLabel]).toBe(adopter === b ? "b:8000" : "c:8000");
    expect(adopter.takeover.containerIds()).toEqual(new Set([claim!.id]));
    expect(other.takeover.heldElsewhere(await engine.listByLabels({}))).toEqual(new Set(["ses_1"]));
    expect(adopter.takeover.heldElsewhere(await engine.listByLabels({}))).toEqual(new Set());

    await adopter.takeover.release("ses_1");
    expect(await engine.listByLabels({ [holderLabel]: "ses_1" })).toEqual([]);
  });

  it("takes over from a holder that died too, replacing its stale claim", async () => {
    const engine = new FakeEngine();
    engine.addLeftover(sessionLabelsOf("ses_1", "a"), 1000);
    let live = ["b", "c"];
    const b = replica(engine, "b", () => live);
    const c = replica(engine, "c", () => live);
    expect(await b.takeover.takeOver("ses_1")).toEqual({ kind: "adopted" });
    live = ["c"];
    expect(await c.takeover.takeOver("ses_1")).toEqual({ kind: "adopted" });
    const claims = await engine.listByLabels({ [holderLabel]: "ses_1" });
    expect(claims.map((claim) => claim.labels[containerLabels.instance])).toEqual(["c"]);
  });

  it("says a session not on this engine is gone, and cannot judge without a lease of its own", async () => {
    const engine = new FakeEngine();
    expect(await replica(engine, "b", () => ["b"]).takeover.takeOver("ses_nowhere")).toEqual({ kind: "gone" });
    const unleased = createSessionTakeover({
      containers: engine,
      sessions: { holds: () => false, adoptContainer: async () => undefined },
      liveInstances: () => undefined,
      livePeers: () => [],
      instanceId: "b",
      address: "b:8000",
      image: () => "aurea-sandbox:latest",
      logger,
    });
    expect(await unleased.takeOver("ses_nowhere")).toEqual({ kind: "holder-alive" });
  });

  it("is spared by a reaper whose server has the session's name, while another replica holds it", async () => {
    const engine = new FakeEngine();
    const container = engine.addLeftover(sessionLabelsOf("ses_1", "a"), 600_000);
    const b = replica(engine, "b", () => ["b", "a2"]);
    await b.takeover.takeOver("ses_1");
    // The creator's successor (same INSTANCE_NAME "host-a", a new process) sweeps.
    const successor = replica(engine, "a2", () => ["b", "a2"]);
    const reaper = createOrphanReaper({
      containers: engine,
      instanceId: "a2",
      liveContainers: () => new Set(),
      foreignAfterMs: 0,
      instanceName: "host-a",
      liveInstances: () => new Set(["b", "a2"]),
      heldElsewhere: (found) => successor.takeover.heldElsewhere(found),
      logger,
    });
    expect(await reaper.sweep({ finalSweep: true })).toEqual([]);
    expect(engine.containerIds()).toContain(container);
  });
});
