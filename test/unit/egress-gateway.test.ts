import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { ManagedNetwork, NetworkClient } from "../../src/docker/network-client.js";
import { NetworkPoolExhaustedError } from "../../src/docker/network-client.js";
import {
  createEgressGateway,
  EgressUnavailableError,
  egressNetworkLabel,
  toGatewayCreateOptions,
} from "../../src/egress/egress-gateway.js";
import { parseAllowList } from "../../src/sandbox/allow-list.js";
import { FakeEngine, type FakeInteractive } from "../support/fake-engine.js";

/**
 * The server's side of egress (egress/egress-gateway.ts) against the in-memory engine: a fake
 * gateway speaking the control wire, and networks kept in a map. The gateway program itself has
 * its own tests (egress-gateway-program.test.ts) and the whole runs for real in egress.test.ts.
 */

const logger = pino({ level: "silent" });

/** Engine networks in memory: what was created, who is connected, what was removed. */
class FakeNetworks implements NetworkClient {
  readonly networks = new Map<string, ManagedNetwork & { members: string[] }>();
  readonly removed: string[] = [];
  poolFull = false;
  private nextAddress = 2;

  async createIsolated(name: string, labels: Readonly<Record<string, string>>): Promise<string> {
    if (this.poolFull) throw new NetworkPoolExhaustedError("could not find an available, non-overlapping IPv4 address pool");
    this.networks.set(name, { id: name, name, labels, createdAtMs: Date.now(), members: [] });
    return name;
  }

  async connect(network: string, container: string): Promise<string> {
    this.networks.get(network)?.members.push(container);
    return `10.99.0.${this.nextAddress++}`;
  }

  async remove(network: string): Promise<void> {
    this.networks.delete(network);
    this.removed.push(network);
  }

  async listByLabels(labels: Readonly<Record<string, string>>): Promise<ManagedNetwork[]> {
    return [...this.networks.values()].filter((network) =>
      Object.entries(labels).every(([key, value]) => network.labels[key] === value),
    );
  }
}

/** A gateway that answers every control message as the real one does, or as `refuse` says. */
function fakeGateway(options: { refuse?: string; seen?: Record<string, unknown>[] } = {}): FakeInteractive {
  return (io) => {
    io.stdout(`${JSON.stringify({ op: "ready" })}\n`);
    let buffered = "";
    return (chunk) => {
      buffered += chunk.toString("utf8");
      for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
        const request = JSON.parse(buffered.slice(0, end)) as Record<string, unknown>;
        buffered = buffered.slice(end + 1);
        options.seen?.push(request);
        const id = request.id;
        const seq = request.seq;
        if (request.op === "open")
          io.stdout(`${JSON.stringify({ op: "opened", id, seq, ...(options.refuse ? { error: options.refuse } : {}) })}\n`);
        if (request.op === "usage") io.stdout(`${JSON.stringify({ op: "usage", id, seq, sent: 5, received: 7 })}\n`);
        if (request.op === "close") {
          io.stdout(
            `${JSON.stringify({ op: "closed", id, seq, sent: 10, received: 20, hosts: { "pkgs.test": { sent: 10, received: 20, connections: 1 } }, denied: { not_allowed: 2 } })}\n`,
          );
        }
        if (request.op === "exit") io.exit(0);
      }
    };
  };
}

function setUp(seen?: Record<string, unknown>[], refuse?: string) {
  const engine = new FakeEngine();
  engine.interactive = fakeGateway({ ...(seen ? { seen } : {}), ...(refuse ? { refuse } : {}) });
  const networks = new FakeNetworks();
  const egress = createEgressGateway({
    containers: engine,
    networks,
    image: "aurea-sandbox:latest",
    instanceId: "me",
    upstreamNetwork: "bridge",
    maxBytes: 1000,
    maxConnections: 3,
    logger,
  });
  return { engine, networks, egress };
}

describe("the egress gateway's server side", () => {
  it("gives a run its own network with the gateway on it and the policy acknowledged, then counts and cleans up", async () => {
    const seen: Record<string, unknown>[] = [];
    const { engine, networks, egress } = setUp(seen);
    const lease = await egress.open("run-1", parseAllowList(["pkgs.test", "203.0.113.0/24:8080"]));
    expect(lease.network).toBe("aurea-egress-run-1");
    expect(networks.networks.get("aurea-egress-run-1")?.labels).toMatchObject({
      [egressNetworkLabel]: "true",
      "dev.aurea.instance": "me",
    });
    expect(networks.networks.get("aurea-egress-run-1")?.members).toEqual([egress.containerId()]);
    expect(lease.env).toContain(`HTTPS_PROXY=http://${lease.gatewayAddress}:3128`);
    expect(seen[0]).toEqual({
      op: "open",
      id: "run-1",
      listen: lease.gatewayAddress,
      rules: [
        { kind: "host", name: "pkgs.test", ports: [443, 80] },
        { kind: "cidr", cidr: "203.0.113.0/24", ports: [8080] },
      ],
      max_bytes: 1000,
      max_connections: 3,
      seq: 1,
    });
    // Two asks for one id at once (two execs of a session): each gets its own answer at once.
    expect(await Promise.all([lease.usage(), lease.usage()])).toEqual([
      { sent: 5, received: 7 },
      { sent: 5, received: 7 },
    ]);
    const report = await lease.finish();
    expect(report).toMatchObject({ sent: 10, received: 20, denied: { not_allowed: 2 } });
    // Finishing twice asks the gateway once.
    await lease.finish();
    expect(seen.filter((request) => request.op === "close")).toHaveLength(1);
    await lease.dispose();
    expect(networks.networks.size).toBe(0);
    // One gateway serves every run.
    await egress.open("run-2", parseAllowList(["pkgs.test"]));
    expect(engine.running()).toHaveLength(1);
    await egress.stop();
    expect(engine.containerIds()).toEqual([]);
  });

  it("fails closed: a policy the gateway refuses is UNAVAILABLE and leaves no network", async () => {
    const { networks, egress } = setUp(undefined, "cannot listen");
    await expect(egress.open("run-1", parseAllowList(["pkgs.test"]))).rejects.toThrow(EgressUnavailableError);
    expect(networks.networks.size).toBe(0);
    expect(networks.removed).toEqual(["aurea-egress-run-1"]);
    await egress.stop();
  });

  it("says the engine is full, not broken, when it has no address space for another network", async () => {
    const { networks, egress } = setUp();
    networks.poolFull = true;
    await expect(egress.open("run-1", parseAllowList(["pkgs.test"]))).rejects.toThrow(NetworkPoolExhaustedError);
    expect(networks.networks.size).toBe(0);
    await egress.stop();
  });

  it("ends every lease when the gateway goes, and the next run gets a new gateway", async () => {
    const { engine, egress } = setUp();
    const lease = await egress.open("run-1", parseAllowList(["pkgs.test"]));
    const first = egress.containerId();
    await engine.kill(first as string);
    await expect(lease.ended).resolves.toEqual({ kind: "lost", message: "the egress gateway stopped" });
    await expect(lease.finish()).rejects.toThrow(EgressUnavailableError);
    await egress.open("run-2", parseAllowList(["pkgs.test"]));
    expect(egress.containerId()).not.toBe(first);
    await egress.stop();
  });

  it("removes the egress networks nobody will: its own unleased old ones, and a dead instance's", async () => {
    const { networks, egress } = setUp();
    const kept = await egress.open("run-1", parseAllowList(["pkgs.test"]));
    const old = Date.now() - 10 * 60_000;
    const add = (name: string, instance: string, createdAtMs: number) =>
      networks.networks.set(name, {
        id: name,
        name,
        labels: { [egressNetworkLabel]: "true", "dev.aurea.instance": instance },
        createdAtMs,
        members: [],
      });
    add("own-old", "me", old);
    add("own-young", "me", Date.now());
    add("peer", "alive", old);
    add("dead", "gone", old);
    await egress.sweepNetworks(new Set(["me", "alive"]));
    expect([...networks.networks.keys()].sort()).toEqual([kept.network, "own-young", "peer"].sort());
    // Without a lease read yet, no other instance's network is touched.
    add("dead-2", "gone", old);
    await egress.sweepNetworks(undefined);
    expect(networks.networks.has("dead-2")).toBe(true);
    await egress.stop();
  });

  it("restores an adopted session's network at the address its sandbox was given, and refuses any other", async () => {
    const { networks, egress } = setUp();
    networks.networks.set("aurea-egress-s1", { id: "s1", name: "aurea-egress-s1", labels: {}, createdAtMs: 0, members: [] });
    networks.networks.set("aurea-egress-s2", { id: "s2", name: "aurea-egress-s2", labels: {}, createdAtMs: 0, members: [] });
    // The fake engine hands out 10.99.0.2, then .3: the first reopen gets what it expects.
    const restored = await egress.reopen("s1", parseAllowList(["pkgs.test"]), "10.99.0.2");
    expect(restored).toMatchObject({ network: "aurea-egress-s1", gatewayAddress: "10.99.0.2" });
    await expect(egress.reopen("s2", parseAllowList(["pkgs.test"]), "10.99.0.2")).rejects.toThrow(/got 10.99.0.3/);
    // Not this server's network to remove: the session's container is still on it.
    expect(networks.networks.has("aurea-egress-s2")).toBe(true);
    await egress.sweepNetworks(new Set(["me"]));
    expect(networks.networks.has("aurea-egress-s1")).toBe(true);
    await egress.stop();
  });

  it("runs the gateway as nobody, with no capability, a read-only root, on the upstream network, never routing", () => {
    const options = toGatewayCreateOptions({ image: "aurea-sandbox:latest", instanceId: "me", upstreamNetwork: "up" });
    expect(options.User).toBe("65534:65534");
    expect(options.Labels).toMatchObject({
      "dev.aurea.managed": "true",
      "dev.aurea.instance": "me",
      "dev.aurea.run-id": "egress-gateway",
    });
    expect(options.HostConfig).toMatchObject({
      NetworkMode: "up",
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      ReadonlyRootfs: true,
      Sysctls: { "net.ipv4.ip_unprivileged_port_start": "53", "net.ipv4.icmp_echo_ignore_all": "1", "net.ipv4.ip_forward": "0" },
    });
    expect(options.HostConfig?.CapAdd).toBeUndefined();
    // stdin closes when the server detaches: the gateway exits with its server.
    expect(options).toMatchObject({ OpenStdin: true, StdinOnce: true, Tty: false });
  });
});
