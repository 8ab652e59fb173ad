import type { Logger } from "pino";
import type { ContainerClient, ManagedContainer } from "../docker/container-client.js";
import { containerLabels } from "../docker/container-options.js";
import { readSessionLabels } from "../session/session-container.js";

export interface OrphanReaperOptions {
  readonly containers: ContainerClient;
  /** This server process's id, as its containers are labelled. */
  readonly instanceId: string;
  /** Containers of runs in progress here: never touched. */
  readonly liveContainers: () => ReadonlySet<string>;
  /**
   * Age after which a container of another instance whose lease has lapsed (it died) counts as
   * orphaned; 0 (the default) means at once. A live instance's containers are never touched.
   */
  readonly foreignAfterMs: number;
  /** This server across restarts (INSTANCE_NAME), as its sessions' containers are labelled. */
  readonly instanceName: string;
  /**
   * The instances whose lease is fresh (instance-lease.ts), from what the sweep found; undefined
   * when this server holds no lease yet, and then no other instance's container is touched.
   */
  readonly liveInstances: (found: readonly ManagedContainer[]) => ReadonlySet<string> | undefined;
  /** Sessions another live replica adopted (session-takeover.ts): never touched. */
  readonly heldElsewhere?: (found: readonly ManagedContainer[]) => ReadonlySet<string>;
  /**
   * Before each periodic sweep: adopt the sessions no live replica holds (their replica died or
   * handed them off), rather than leave them unserved until they expire. Replicas with peers only.
   */
  readonly adoptAbandoned?: (found: readonly ManagedContainer[]) => Promise<number>;
  /** After each sweep, with the live instances it found: removes what else is orphaned (egress networks). */
  readonly afterSweep?: (liveInstances: ReadonlySet<string> | undefined) => Promise<void>;
  readonly logger: Logger;
}

/** This process's own containers are left alone this long, so a run just created is not raced. */
const ownGraceMs = 30_000;

export interface OrphanReaper {
  /**
   * Removes what is orphaned now; resolves with the ids removed. Never rejects. `finalSweep`, at
   * exit, takes this process's own containers however young, as none of its runs is going on.
   */
  sweep(options?: { finalSweep?: boolean }): Promise<string[]>;
  start(intervalMs: number): void;
  stop(): void;
}

/**
 * Removes Aurea-labelled containers nobody will remove: those left by an earlier process that
 * crashed, and this process's own whose removal failed. It never touches a container without
 * Aurea's label or one of a run in progress here.
 */
export function createOrphanReaper(options: OrphanReaperOptions): OrphanReaper {
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<string[]> | undefined;

  async function sweepOnce(finalSweep: boolean): Promise<string[]> {
    const removed: string[] = [];
    let found: ManagedContainer[];
    try {
      found = await options.containers.listByLabels({ [containerLabels.managed]: "true" });
    } catch (error) {
      options.logger.debug({ err: (error as Error).message }, "orphan sweep skipped: engine unreachable");
      return removed;
    }
    // Adopted first, from the same listing: a session taken over here is then this server's to spare.
    if (!finalSweep && options.adoptAbandoned) {
      await options
        .adoptAbandoned(found)
        .catch((error: Error) => options.logger.warn({ err: error.message }, "abandoned sessions not adopted"));
    }
    const now = Date.now();
    const live = options.liveContainers();
    const liveInstances = options.liveInstances(found);
    const heldElsewhere = options.heldElsewhere?.(found) ?? new Set<string>();
    for (const container of found) {
      if (container.labels[containerLabels.managed] !== "true" || live.has(container.id)) continue;
      const owner = container.labels[containerLabels.instance] ?? "";
      const own = owner === options.instanceId;
      // Another server that still renews its lease owns its containers, however old they are.
      if (!own && (liveInstances === undefined || liveInstances.has(owner))) continue;
      const age = now - container.createdAtMs;
      const session = readSessionLabels(container.labels);
      if (session && heldElsewhere.has(session.sessionId)) continue;
      if (session) {
        // A session lives across calls and server restarts: another server's is left alone until
        // it expires; this server's (by INSTANCE_NAME) that it does not hold was not adopted.
        const expired = now >= session.settings.expiresAtMs;
        const ours = session.instanceName === options.instanceName;
        if (!expired && !(ours && (finalSweep || age >= ownGraceMs))) continue;
      } else if (age < (own ? (finalSweep ? 0 : ownGraceMs) : options.foreignAfterMs)) continue;
      try {
        await options.containers.remove(container.id);
        removed.push(container.id);
        options.logger.info(
          {
            container: container.id,
            run_id: container.labels[containerLabels.runId],
            owner: own ? "this instance" : container.labels[containerLabels.instance],
            age_ms: age,
          },
          "orphaned container removed",
        );
      } catch (error) {
        options.logger.warn({ container: container.id, err: (error as Error).message }, "orphaned container not removed");
      }
    }
    await options.afterSweep?.(liveInstances).catch(() => undefined);
    return removed;
  }

  return {
    async sweep({ finalSweep = false } = {}) {
      if (finalSweep) {
        await sweeping;
        return sweepOnce(true);
      }
      sweeping ??= sweepOnce(false).finally(() => (sweeping = undefined));
      return sweeping;
    },
    start(intervalMs) {
      if (timer) return;
      timer = setInterval(() => void this.sweep(), intervalMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
