import type { Logger } from "pino";
import type { ContainerClient, ManagedContainer } from "../docker/container-client.js";
import { containerLabels, toMarkerCreateOptions } from "../docker/container-options.js";

/**
 * A server's lease on the engine, so replicas sharing one engine never take each other's
 * containers for orphans: every server keeps a created-but-never-started container labelled with
 * its instance id, made anew every `renewEveryMs` (the old one removed). Another server's
 * containers are orphans only once its newest lease is older than three renewals: it died.
 * Leases are dated by the engine's own clock (their creation time), compared with this server's
 * newest lease, so clocks that differ between replicas or from the engine do not matter.
 */

/** Label of a lease container (besides managed and instance). */
export const leaseLabel = "dev.aurea.lease";
/** The address of the replica holding the lease (ADVERTISE_ADDRESS), when it has one. */
export const leaseAddressLabel = "dev.aurea.lease-address";

/** Renewals a lease may miss before its server counts as dead. */
const renewalsMissed = 3;

export interface InstanceLeaseOptions {
  readonly containers: ContainerClient;
  readonly instanceId: string;
  /** Any image on the engine: a lease is created, never started. */
  readonly image: () => string;
  readonly renewEveryMs: number;
  /** This replica's address, written on its leases, so peers on the engine can be told apart; "" for none. */
  readonly address?: string;
  readonly logger: Logger;
}

export interface InstanceLease {
  /** Takes the first lease (before the first sweep) and keeps renewing it. */
  start(): Promise<void>;
  /** Stops renewing and removes the lease: this server is gone. */
  stop(): Promise<void>;
  /** The lease container's id, which the reaper must spare. */
  containerId(): string | undefined;
  /**
   * From every managed container on the engine: the instance ids whose lease is fresh now, or
   * undefined when this server holds no lease yet (then nobody can be judged dead).
   */
  liveInstances(found: readonly ManagedContainer[]): ReadonlySet<string> | undefined;
  /** From every managed container: the addresses of the other live replicas that have one (peers on this engine). */
  livePeers(found: readonly ManagedContainer[]): string[];
}

export function createInstanceLease(options: InstanceLeaseOptions): InstanceLease {
  let current: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let renewing: Promise<void> | undefined;
  const { containers, logger } = options;

  async function renew(): Promise<void> {
    const previous = current;
    try {
      current = await containers.create(
        toMarkerCreateOptions({
          image: options.image(),
          instanceId: options.instanceId,
          purpose: "lease",
          labels: { [leaseLabel]: "true", ...(options.address ? { [leaseAddressLabel]: options.address } : {}) },
        }),
      );
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "lease not renewed");
      return;
    }
    if (previous) await containers.remove(previous).catch(() => undefined);
  }

  return {
    async start() {
      await renew();
      timer ??= setInterval(() => {
        renewing ??= renew().finally(() => (renewing = undefined));
      }, options.renewEveryMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await renewing;
      if (current) await containers.remove(current).catch(() => undefined);
      current = undefined;
    },
    containerId: () => current,
    livePeers(found) {
      const live = this.liveInstances(found) ?? new Set<string>();
      const addresses = found
        .filter((lease) => lease.labels[leaseLabel] === "true" && lease.labels[containerLabels.instance] !== options.instanceId)
        .filter((lease) => live.has(lease.labels[containerLabels.instance] ?? ""))
        .map((lease) => lease.labels[leaseAddressLabel] ?? "")
        .filter((address) => address !== "" && address !== options.address);
      return [...new Set(addresses)];
    },
    liveInstances(found) {
      const leases = found.filter((container) => container.labels[leaseLabel] === "true");
      const own = leases.find((lease) => lease.id === current);
      if (!own) return undefined;
      // The engine's clock: this server's newest lease is "now" give or take one renewal.
      const freshAfter = own.createdAtMs - renewalsMissed * options.renewEveryMs;
      const live = new Set<string>();
      for (const lease of leases) {
        const instance = lease.labels[containerLabels.instance];
        if (instance && lease.createdAtMs >= freshAfter) live.add(instance);
      }
      return live;
    },
  };
}
