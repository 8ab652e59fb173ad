import { readFileSync } from "node:fs";
import Docker from "dockerode";
import { freeSubnet } from "../../bench/support/free-subnet.js";
import { waitFor } from "./wait-for.js";

/**
 * The egress tests' own world: an engine network created `internal` (no route out), a listener
 * container on it (test/support/egress-listener.py) reached only by the names the test gives it,
 * and nothing else. Nothing a test does through it can leave this machine.
 */

const docker = new Docker();
const listenerScript = readFileSync(new URL("./egress-listener.py", import.meta.url), "utf8");
/** Label on everything made here, so a crashed run's leftovers are removed by the next. */
const testLabel = "dev.aurea.test-egress";

export interface TestNetwork {
  readonly name: string;
  /** The listener's address on the network. */
  readonly listenerAddress: string;
  readonly listenerId: string;
  /** What reached the listener so far (read from the host over the test network's bridge). */
  log(): Promise<{ http: number; tcp_connections: number; tcp_bytes: number; udp: number; hosts: string[] }>;
  remove(): Promise<void>;
}

/** Removes what an earlier run left of the networks named (their listeners first). */
export async function removeLeftovers(names: readonly string[]): Promise<void> {
  for (const container of await docker.listContainers({ all: true, filters: { label: [testLabel] } })) {
    if (!names.includes(container.Labels[testLabel] ?? "")) continue;
    await docker
      .getContainer(container.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
  for (const network of await docker.listNetworks({ filters: JSON.stringify({ label: [testLabel] }) })) {
    if (!names.includes(network.Name)) continue;
    await docker
      .getNetwork(network.Id)
      .remove()
      .catch(() => undefined);
  }
}

/**
 * An internal network `name` on `subnet` with the listener on it under `aliases`. The bridge keeps
 * its host address, so the test (on the host) can read the listener's log; sandboxes never join
 * this network, only the gateway does.
 */
export async function createTestNetwork(options: {
  readonly name: string;
  readonly subnet: string;
  readonly aliases: readonly string[];
}): Promise<TestNetwork> {
  // Never a subnet this machine already uses: the bridge would shadow the host's own network.
  freeSubnet([options.subnet]);
  await docker.createNetwork({
    Name: options.name,
    Internal: true,
    CheckDuplicate: true,
    Labels: { [testLabel]: options.name },
    IPAM: { Driver: "default", Config: [{ Subnet: options.subnet }] },
  });
  const container = await docker.createContainer({
    Image: "aurea-sandbox:latest",
    Cmd: ["python3", "-u", "-c", listenerScript],
    User: "0:0",
    Labels: { [testLabel]: options.name },
    HostConfig: { NetworkMode: options.name, Memory: 256 * 1024 * 1024 },
    NetworkingConfig: { EndpointsConfig: { [options.name]: { Aliases: [...options.aliases] } } },
  });
  await container.start();
  const info = await container.inspect();
  const listenerAddress = info.NetworkSettings.Networks[options.name]?.IPAddress ?? "";
  const log = async () => {
    const response = await fetch(`http://${listenerAddress}/_log`, { signal: AbortSignal.timeout(3000) });
    return (await response.json()) as Awaited<ReturnType<TestNetwork["log"]>>;
  };
  await waitFor(async () => (await log().catch(() => undefined)) !== undefined, 15_000, "the test listener to answer");
  return {
    name: options.name,
    listenerAddress,
    listenerId: container.id,
    log,
    async remove() {
      await container.remove({ force: true }).catch(() => undefined);
      await docker
        .getNetwork(options.name)
        .remove()
        .catch(() => undefined);
    },
  };
}

/** The egress gateway's container (a running one first), once one started. */
export async function gatewayContainer(): Promise<Docker.ContainerInfo | undefined> {
  const found = await docker.listContainers({ all: true, filters: { label: ["dev.aurea.run-id=egress-gateway"] } });
  return found.find((container) => container.State === "running") ?? found[0];
}

/**
 * Removes the gateway containers of servers that were killed (exited, left for the reaper once
 * their lease lapses): a test that SIGKILLs a server cleans up after it.
 */
export async function removeExitedGateways(): Promise<void> {
  const found = await docker.listContainers({ all: true, filters: { label: ["dev.aurea.run-id=egress-gateway"] } });
  for (const gateway of found.filter((container) => container.State !== "running")) {
    await docker
      .getContainer(gateway.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}

/** Egress networks on the engine now (each run's or session's own). */
export async function egressNetworks(): Promise<string[]> {
  const found = await docker.listNetworks({ filters: JSON.stringify({ label: ["dev.aurea.egress-network=true"] }) });
  return found.map((network) => network.Name);
}

/** Connects a container (the gateway) to a test network as well. */
export async function connect(network: string, container: string): Promise<void> {
  await docker.getNetwork(network).connect({ Container: container });
}
