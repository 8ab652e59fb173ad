import { execFileSync } from "node:child_process";
import Docker from "dockerode";
import { containerLabels } from "../../src/docker/container-options.js";
import { leaseLabel } from "../../src/service/instance-lease.js";
import { requireTool } from "./required-tools.js";

/**
 * Ids of every container on the engine that carries Aurea's label, running or not, but for the
 * servers' leases (never-started containers that say a server is alive; instance-lease.ts).
 */
export async function aureaContainers(): Promise<string[]> {
  const docker = new Docker();
  const list = await docker.listContainers({ all: true, filters: { label: [`${containerLabels.managed}=true`] } });
  // A server's lease and its egress gateway live as long as the server: they are not a run's leftovers.
  return list
    .filter(
      (container) => container.Labels?.[leaseLabel] !== "true" && container.Labels?.[containerLabels.runId] !== "egress-gateway",
    )
    .map((container) => container.Id);
}

/**
 * The IPv4 address of the engine's default bridge on this machine (docker0): where a container
 * with networking would find the host. Tests listen there; nothing is ever sent off the machine.
 */
export async function bridgeGatewayAddress(): Promise<string> {
  const docker = new Docker();
  const bridge = (await docker.getNetwork("bridge").inspect()) as {
    IPAM?: { Config?: { Gateway?: string }[] };
    Options?: Record<string, string>;
  };
  const configured = bridge.IPAM?.Config?.[0]?.Gateway;
  if (configured) return configured;
  const interfaceName = bridge.Options?.["com.docker.network.bridge.name"] ?? "docker0";
  // os.networkInterfaces() omits a bridge with no container attached (no carrier); ip(8) does not.
  requireTool("ip");
  const shown = execFileSync("ip", ["-4", "-o", "addr", "show", "dev", interfaceName], { encoding: "utf8" });
  const address = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(shown)?.[1];
  if (!address) throw new Error(`the engine's bridge ${interfaceName} has no IPv4 address on this machine`);
  return address;
}

/**
 * Polls until no Aurea container is left; resolves with how long that took, or rejects after
 * `timeoutMs` listing what is still there.
 */
export async function noContainersWithin(timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const left = await aureaContainers();
    const elapsed = performance.now() - started;
    if (left.length === 0) return elapsed;
    if (elapsed > timeoutMs) throw new Error(`containers still there after ${timeoutMs} ms: ${left.join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * How long a run's container may take to be gone after the answer. gVisor's shim sometimes hangs
 * for about 40 s after a sandbox whose program had dozens of processes exits (the engine then
 * cleans up "after shim disconnected"); the answer is never delayed by it, removal follows it.
 */
export const removalBoundMs: Readonly<Record<"runc" | "runsc", number>> = { runc: 2000, runsc: 60_000 };
