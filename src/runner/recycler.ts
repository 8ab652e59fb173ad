import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { ContainerClient } from "../docker/container-client.js";
import type { SandboxLimits } from "../sandbox/limits.js";
import { cleanScrubAnswer, nextRunCommand } from "../sandbox/supervisor-protocol.js";
import { readExactly, type WarmContainer } from "./warm-container.js";

/**
 * Containers that served a run and may serve the same caller's next run of the same shape and
 * limits: each is scrubbed by its supervisor (the compiled aurea-scrub proves nothing of the run
 * is left) before it waits here, is handed only to the caller whose run it served, and is
 * removed after `maxRuns` runs, a failed scrub, or `idleTimeoutMs` unused.
 */

export interface RecyclerOptions {
  readonly containers: ContainerClient;
  /** Runs a container may serve before it is removed (RECYCLE_MAX_RUNS). */
  readonly maxRuns: number;
  /** Scrubbed containers kept per caller and shape; more are removed. */
  readonly maxIdlePerCaller: number;
  /** Scrubbed containers kept in all; more are removed. */
  readonly maxIdle: number;
  /** A container unused this long is removed. */
  readonly idleTimeoutMs: number;
  /**
   * Resets the container's peak-memory counter after its scrub, where the supervisor reports it
   * (runc's cgroup), so the next run's peak is its own; a failure removes the container.
   */
  readonly resetPeakMemory: (id: string) => Promise<void>;
  /** Longest a scrub and the next loader's start may take (default 15 s). */
  readonly scrubTimeoutMs?: number;
  /**
   * Longest `takeSoon` waits for one of the caller's containers still being scrubbed (default
   * 1 s): a scrub and a loader's start take tens of milliseconds, a new container hundreds.
   */
  readonly scrubWaitMs?: number;
  readonly logger: Logger;
}

/** Who a recycled container may serve, and with what. */
export interface RecycleSlot {
  /** The warm pool's shape key (language, loader, image, runtime, root filesystem). */
  readonly shape: string;
  readonly caller: string;
  readonly limits: SandboxLimits;
  /** Whether its peak-memory counter needs a reset between runs (runtimes.ts). */
  readonly resetsPeak: boolean;
}

export interface Recycler {
  /** A scrubbed container for exactly this slot, with the runs it served, or undefined. */
  take(slot: RecycleSlot): Recycled | undefined;
  /**
   * As `take`, but when none waits and one of this slot's containers is still being scrubbed
   * (one for each caller already waiting), waits for it, up to `scrubWaitMs`; undefined when none
   * is coming, its scrub failed, or the wait ran out.
   */
  takeSoon(slot: RecycleSlot): Promise<Recycled | undefined>;
  /**
   * After a run it served cleanly: scrubs it in the background (over `attachment`, the run's
   * attach stream, when given) and keeps it, or removes it.
   */
  handBack(id: string, slot: RecycleSlot, runs: number, attachment?: WarmContainer["attachment"]): void;
  /** Ids of the containers waiting or being scrubbed, which the orphan reaper must leave alone. */
  containerIds(): ReadonlySet<string>;
  /** Scrubbed containers waiting for their callers now. */
  waitingCount(): number;
  /** Containers being scrubbed now. */
  scrubbingCount(): number;
  /** Removes containers unused for `idleTimeoutMs`. */
  sweep(now: number): void;
  /** Forgets every container (the engine went away); the reaper removes them. */
  invalidate(): void;
  /** Removes every container (a new image, or shutdown). */
  clear(): Promise<void>;
}

/** A recycled container handed to a run, with the runs it served before. */
export interface Recycled {
  readonly warm: WarmContainer;
  readonly runs: number;
}

const defaultScrubTimeoutMs = 15_000;
const defaultScrubWaitMs = 1_000;

interface Waiting {
  readonly warm: WarmContainer;
  readonly slot: RecycleSlot;
  readonly runs: number;
  readonly since: number;
  /** Drops it when its container dies while it waits; taken off when a run takes it. */
  readonly onClose: () => void;
}

const slotKey = (slot: RecycleSlot) => JSON.stringify([slot.shape, slot.caller, slot.limits]);

export function createRecycler(options: RecyclerOptions): Recycler {
  const { containers, logger } = options;
  const waiting = new Map<string, Waiting[]>();
  const ids = new Set<string>();
  /** Attach streams of scrubs in progress, ended by clear() so none outlives a shutdown. */
  const scrubbing = new Map<string, { attachment?: WarmContainer["attachment"]; done: Promise<void> }>();
  /** Per slot: how many of its containers are being scrubbed, and the runs waiting for them (first first). */
  const scrubbingFor = new Map<string, number>();
  const takers = new Map<string, ((recycled: Recycled | undefined) => void)[]>();
  let generation = 0;

  /** Hands a scrubbed container to the first run waiting for its slot; false when none waits. */
  function handToTaker(key: string, recycled: Recycled): boolean {
    const taker = takers.get(key)?.shift();
    taker?.(recycled);
    return taker !== undefined;
  }

  /** Runs that wait for more containers than are being scrubbed for them go on without one. */
  function releaseExcessTakers(key: string): void {
    const waitingTakers = takers.get(key) ?? [];
    while (waitingTakers.length > (scrubbingFor.get(key) ?? 0)) waitingTakers.pop()?.(undefined);
    if (waitingTakers.length === 0) takers.delete(key);
  }

  function releaseAllTakers(): void {
    for (const key of [...takers.keys()]) for (const taker of takers.get(key)?.splice(0) ?? []) taker(undefined);
    takers.clear();
  }

  const idleCount = () => [...waiting.values()].reduce((sum, list) => sum + list.length, 0);

  function remove(id: string): void {
    ids.delete(id);
    void containers.remove(id).catch(() => undefined);
  }

  function drop(entry: Waiting): void {
    entry.warm.attachment.destroy();
    remove(entry.warm.id);
  }

  async function scrub(
    id: string,
    slot: RecycleSlot,
    runs: number,
    kept: WarmContainer["attachment"] | undefined,
  ): Promise<void> {
    const started = generation;
    const log = logger.child({ container: id });
    let attachment: WarmContainer["attachment"] | undefined = kept;
    try {
      if (!attachment) {
        attachment = await containers.attach(id);
        // While it waits, nobody else listens: a socket error must not go unhandled. (A kept
        // stream has had such a handler since the pool made it.)
        attachment.on("error", () => undefined);
      }
      const tracked = scrubbing.get(id);
      if (tracked) tracked.attachment = attachment;
      if (started !== generation) throw new Error("the pool was reset during the scrub");
      const nonce = randomBytes(16).toString("hex");
      attachment.write(nextRunCommand(nonce));
      await readExactly(
        attachment,
        cleanScrubAnswer(nonce),
        options.scrubTimeoutMs ?? defaultScrubTimeoutMs,
        "while scrubbing for the next run",
      );
      if (slot.resetsPeak) await options.resetPeakMemory(id);
      if (started !== generation) throw new Error("the pool was reset during the scrub");
      if (handToTaker(slotKey(slot), { warm: { id, attachment, recyclable: true }, runs })) {
        log.debug({ runs }, "container scrubbed and handed to the caller's waiting run");
        return;
      }
      const list = waiting.get(slotKey(slot)) ?? [];
      if (list.length >= options.maxIdlePerCaller) throw new Error("enough containers already wait for this caller");
      if (idleCount() >= options.maxIdle) throw new Error("enough recycled containers already wait");
      // A container that dies while it waits leaves at once.
      const onClose = () => {
        const index = list.indexOf(entry);
        if (index >= 0) list.splice(index, 1);
        if (index >= 0) remove(id);
      };
      const entry: Waiting = { warm: { id, attachment, recyclable: true }, slot, runs, since: Date.now(), onClose };
      list.push(entry);
      waiting.set(slotKey(slot), list);
      attachment.once("close", onClose);
      log.debug({ runs }, "container scrubbed for the caller's next run");
    } catch (error) {
      // A reset (shutdown, new image, engine outage) ends scrubs on purpose.
      log[started === generation ? "info" : "debug"]({ err: (error as Error).message, runs }, "container not recycled");
      attachment?.destroy();
      remove(id);
    }
  }

  return {
    take(slot) {
      const list = waiting.get(slotKey(slot));
      for (let entry = list?.shift(); entry !== undefined; entry = list?.shift()) {
        if (entry.warm.attachment.destroyed || !entry.warm.attachment.readable) {
          drop(entry);
          continue;
        }
        entry.warm.attachment.off("close", entry.onClose);
        return { warm: entry.warm, runs: entry.runs };
      }
      return undefined;
    },
    handBack(id, slot, runs, attachment) {
      if (runs >= options.maxRuns) {
        logger.debug({ container: id, runs }, "container served its most runs");
        attachment?.destroy();
        void containers.remove(id).catch(() => undefined);
        return;
      }
      ids.add(id);
      const key = slotKey(slot);
      scrubbingFor.set(key, (scrubbingFor.get(key) ?? 0) + 1);
      const done = scrub(id, slot, runs, attachment).finally(() => {
        scrubbing.delete(id);
        const left = (scrubbingFor.get(key) ?? 1) - 1;
        if (left > 0) scrubbingFor.set(key, left);
        else scrubbingFor.delete(key);
        releaseExcessTakers(key);
      });
      scrubbing.set(id, { attachment, done });
    },
    takeSoon(slot) {
      const now = this.take(slot);
      const key = slotKey(slot);
      if (now || (scrubbingFor.get(key) ?? 0) <= (takers.get(key)?.length ?? 0)) return Promise.resolve(now);
      return new Promise((resolve) => {
        const taker = (recycled: Recycled | undefined) => {
          clearTimeout(timer);
          resolve(recycled);
        };
        const timer = setTimeout(() => {
          const list = takers.get(key);
          const index = list?.indexOf(taker) ?? -1;
          if (index >= 0) list?.splice(index, 1);
          resolve(undefined);
        }, options.scrubWaitMs ?? defaultScrubWaitMs);
        takers.set(key, [...(takers.get(key) ?? []), taker]);
      });
    },
    containerIds: () => ids,
    waitingCount: idleCount,
    scrubbingCount: () => scrubbing.size,
    sweep(now) {
      for (const [key, list] of waiting) {
        const expired = list.filter((entry) => now - entry.since >= options.idleTimeoutMs);
        for (const entry of expired) {
          list.splice(list.indexOf(entry), 1);
          drop(entry);
        }
        if (list.length === 0) waiting.delete(key);
      }
    },
    invalidate() {
      generation++;
      releaseAllTakers();
      for (const list of waiting.values()) for (const entry of list) entry.warm.attachment.destroy();
      waiting.clear();
      ids.clear();
    },
    async clear() {
      generation++;
      releaseAllTakers();
      const inProgress = [...scrubbing.values()];
      for (const scrub of inProgress) scrub.attachment?.destroy();
      await Promise.all(inProgress.map((scrub) => scrub.done));
      const all = [...waiting.values()].flat();
      waiting.clear();
      for (const entry of all) entry.warm.attachment.destroy();
      await Promise.all(
        all.map((entry) => {
          ids.delete(entry.warm.id);
          return containers.remove(entry.warm.id).catch(() => undefined);
        }),
      );
    },
  };
}
