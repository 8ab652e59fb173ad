import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { ContainerClient } from "../docker/container-client.js";
import { toEngineResources } from "../docker/container-options.js";
import type { SandboxLimits, SandboxShape } from "../sandbox/limits.js";
import { runtimeTraits } from "../sandbox/runtimes.js";
import { recyclingRefusal } from "./recycle-rules.js";
import type { ContainerLease, ContainerOrigin, ContainerSource, LeaseRequest } from "./container-source.js";
import type { CompileStep, Language } from "./languages.js";
import { limitsFit, shapeKey, warmForLabel, warmLoaderFor, warmRefusal } from "./warm-shape.js";
import { startWarmContainer, type WarmContainer, warmLease } from "./warm-container.js";
import type { Recycler, RecycleSlot } from "./recycler.js";

export interface WarmPoolOptions {
  readonly containers: ContainerClient;
  /** Where runs go when no warm container is ready. */
  readonly cold: ContainerSource;
  readonly instanceId: string;
  /** Warm containers kept ready for each shape in demand; 0 turns the pool off. */
  readonly size: number;
  /** Limits warm containers are created with (the server's maxima); a run may lower them. */
  readonly limits: SandboxLimits;
  /**
   * Limits a compiler's warm containers are made with: the compile limits a compile of the
   * language gets unless it asks for less (run-request.ts). Without it, the server's maxima.
   */
  readonly compileLimits?: ((step: CompileStep) => SandboxLimits) | undefined;
  /** Most distinct shapes kept warm at once (default 32); past it the least recently demanded one makes room. */
  readonly maxShapes?: number;
  /**
   * Keep compilers loaded (a language's `compile.warm`) in compile containers; false: their
   * compile containers start the compile command itself, as every other language's do.
   */
  readonly loadedCompilers?: boolean | undefined;
  /** Shapes warmed as soon as the pool starts. */
  readonly initial: readonly { language: Language; shape: SandboxShape }[];
  /** A shape nobody asked for in this long is emptied. */
  readonly idleTimeoutMs: number;
  /**
   * Containers created at once while refilling, so refills never crowd out live runs; as many
   * again for compilers, whose warm-up takes seconds and must not hold up the programs' pools.
   */
  readonly refillConcurrency: number;
  /**
   * Where containers go after a clean run, to serve the same caller's next one; without it every
   * warm container serves one run. Only shapes recycle-rules.ts allows recycle.
   */
  readonly recycler?: Recycler | undefined;
  readonly logger: Logger;
}

export interface WarmPool extends ContainerSource {
  /** Ids of the warm and recycled containers waiting (or being scrubbed), which the orphan reaper must leave alone. */
  containerIds(): ReadonlySet<string>;
  /**
   * Containers waiting now: warm ones no run has touched, recycled ones waiting for their callers,
   * and ones being scrubbed for their callers' next runs.
   */
  waitingCounts(): { warm: number; recycled: number; scrubbing: number };
  /** Fills the initial shapes and starts the idle sweep. */
  start(): void;
  /** Forgets every warm container (the engine went away: they may be dead); the reaper removes them. */
  invalidate(): void;
  /** Removes every waiting container (a new image was built); the pool refills. */
  clear(): Promise<void>;
  /** Stops refilling and removes every waiting container, for shutdown. */
  stop(): Promise<void>;
}

interface ShapePool {
  readonly language: Language;
  readonly shape: SandboxShape;
  /** Limits its containers are made with: the server's maxima, or a compile's own limits. */
  readonly limits: SandboxLimits;
  /** Its containers compile (a compiled language's compile phase), or run programs. */
  readonly compiling: boolean;
  /** Its containers serve run after run (recycling), or one run each (compilers always). */
  readonly recyclable: boolean;
  readonly idle: WarmContainer[];
  creating: number;
  lastDemand: number;
  failures: number;
}

/**
 * Most distinct shapes kept warm at once, so odd requests cannot make the pool unbounded: each
 * language's program and its compiler, under each runtime, are shapes of their own.
 */
const maxShapes = 32;

/** A full pool makes room by emptying the shape demanded longest ago, if nobody asked for it for this long. */
const evictableAfterMs = 10_000;

/**
 * Keeps started containers waiting, each with its language's loader ready (sandbox/loaders/), and
 * hands each one to exactly one run: a container no run has touched, as isolated as a cold one.
 * The run removes it afterwards, as always; the pool replaces it in the background.
 */
export function createWarmPool(options: WarmPoolOptions): WarmPool {
  const { containers, logger } = options;
  const pools = new Map<string, ShapePool>();
  const waiting = new Set<string>();
  /** Creations in flight, programs' and compilers' apart. */
  const refilling = { programs: 0, compilers: 0 };
  const budget = (pool: ShapePool) => (pool.compiling ? "compilers" : "programs");
  let sweep: NodeJS.Timeout | undefined;
  let generation = 0;
  let stopped = false;
  const creations = new Set<Promise<void>>();
  /**
   * Attach streams of the pool's containers still warming up (a compiler's takes seconds): a reset
   * ends them, so their creations fail at once and remove them instead of finishing the warm-up.
   */
  const warmingUp = new Set<Duplex>();

  /**
   * Whether containers of this shape serve run after run. A compile's never do: each compile gets
   * a container (and a compiler) that compiled nothing, or only a program of Aurea's own.
   */
  const recycles = (shape: SandboxShape, compiling: boolean) =>
    options.recycler !== undefined && !compiling && recyclingRefusal(shape) === undefined;

  /**
   * A lease whose container, when recyclable, goes back to the recycler after a clean run: for
   * the same caller, shape and limits only, one run more.
   */
  function lease(
    warm: WarmContainer,
    request: LeaseRequest,
    pool: ShapePool,
    runs: number,
    origin: ContainerOrigin = runs > 0 ? "recycled" : "warm",
  ): ContainerLease {
    const base = warmLease(warm, request.program, origin);
    const { recycler } = options;
    if (!warm.recyclable || !recycler) return base;
    return { ...base, reuse: (attachment) => recycler.handBack(warm.id, slotFor(request, pool), runs + 1, attachment) };
  }

  const slotFor = (request: LeaseRequest, pool: ShapePool): RecycleSlot => ({
    shape: shapeKey(pool.language, pool.shape, pool.compiling),
    caller: request.caller,
    limits: request.limits,
    resetsPeak: runtimeTraits[pool.shape.runtime].peakMemoryFromCgroup,
  });

  /** The pool of this language (its program's, or its compiler's) and shape, made on first demand. */
  function poolFor(language: Language, shape: SandboxShape, compiling: boolean): ShapePool | undefined {
    const key = shapeKey(language, shape, compiling);
    let pool = pools.get(key);
    if (!pool && language.warmLoader && (pools.size < (options.maxShapes ?? maxShapes) || evictLeastRecent())) {
      pool = {
        language,
        shape,
        limits: compiling && language.compile && options.compileLimits ? options.compileLimits(language.compile) : options.limits,
        compiling,
        recyclable: recycles(shape, compiling),
        idle: [],
        creating: 0,
        lastDemand: Date.now(),
        failures: 0,
      };
      pools.set(key, pool);
    }
    return pool;
  }

  /**
   * Empties the shape demanded longest ago (none of its containers being made), when nobody asked
   * for it for evictableAfterMs; returns whether there is room now.
   */
  function evictLeastRecent(): boolean {
    let oldest: [string, ShapePool] | undefined;
    for (const entry of pools)
      if (entry[1].creating === 0 && (!oldest || entry[1].lastDemand < oldest[1].lastDemand)) oldest = entry;
    if (!oldest || Date.now() - oldest[1].lastDemand < evictableAfterMs) return false;
    const [key, pool] = oldest;
    for (const warm of pool.idle.splice(0)) {
      waiting.delete(warm.id);
      discard(warm);
    }
    pools.delete(key);
    return true;
  }

  function refill(): void {
    if (options.size === 0 || stopped) return;
    for (const pool of pools.values()) {
      while (
        pool.idle.length + pool.creating < options.size &&
        refilling[budget(pool)] < options.refillConcurrency &&
        pool.failures < 3
      ) {
        const creation = createWarm(pool).finally(() => creations.delete(creation));
        creations.add(creation);
      }
    }
  }

  /**
   * A container of `pool`'s shape with `limits`, its loader ready (warm-container.ts). `runId`
   * labels it: "warm" for the pool's own (whose warm-up a reset ends), the run's for one started
   * for a run.
   */
  const startLoaded = (pool: ShapePool, limits: SandboxLimits, runId: string, forPool = false) =>
    startWarmContainer({
      containers,
      instanceId: options.instanceId,
      runId,
      ...pool,
      limits,
      warmingUp: forPool ? warmingUp : undefined,
    });

  async function createWarm(pool: ShapePool): Promise<void> {
    const started = generation;
    pool.creating++;
    refilling[budget(pool)]++;
    let warm: WarmContainer | undefined;
    try {
      warm = await startLoaded(pool, pool.limits, "warm", true);
      if (started !== generation) throw new Error("the pool was reset while this container started");
      const { id, attachment } = warm;
      pool.idle.push(warm);
      waiting.add(id);
      pool.failures = 0;
      logger.debug({ container: id, warm_for: warmForLabel(pool.language, pool.compiling) }, "warm container ready");
      // A container that dies while it waits (killed, or the engine went away) ends its attach
      // stream: it leaves the pool at once, and a fresh one takes its place.
      const made = warm;
      attachment.once("close", () => {
        const index = pool.idle.indexOf(made);
        if (index < 0) return;
        pool.idle.splice(index, 1);
        waiting.delete(id);
        void containers.remove(id).catch(() => undefined);
        refill();
      });
    } catch (error) {
      const reset = started !== generation;
      if (!reset) pool.failures++;
      // A reset (shutdown, new image, engine outage) discards containers being made: expected.
      logger[reset ? "debug" : "warn"](
        { language: pool.language.name, err: (error as Error).message },
        "warm container not made",
      );
      // Awaited: stop() waits for creations, and so for this removal.
      warm?.attachment.destroy();
      if (warm) await containers.remove(warm.id).catch(() => undefined);
    } finally {
      pool.creating--;
      refilling[budget(pool)]--;
      refill();
    }
  }

  async function takeWarm(request: LeaseRequest, pool: ShapePool): Promise<ContainerLease | undefined> {
    const fit = limitsFit(pool.shape, request.limits, pool.limits);
    if (fit === "no") return undefined;
    for (let warm = pool.idle.shift(); warm !== undefined; warm = pool.idle.shift()) {
      const { id, attachment } = warm;
      waiting.delete(id);
      try {
        // Never hand out a container that died while it waited (the engine restarted, say): its
        // attach stream ends with it.
        if (attachment.destroyed || !attachment.readable) {
          discard(warm);
          continue;
        }
        if (fit === "update") await containers.updateLimits(id, toEngineResources(pool.shape.runtime, request.limits));
        return lease(warm, request, pool, 0);
      } catch (error) {
        logger.debug({ container: id, err: (error as Error).message }, "warm container skipped");
        discard(warm);
      }
    }
    return undefined;
  }

  /**
   * A recyclable container started for this run, with its limits, when none waits: it costs what
   * a cold one does, and afterwards serves the caller's next runs. Where its loader fails, the run
   * goes cold after all.
   */
  async function startedForRun(request: LeaseRequest, pool: ShapePool): Promise<ContainerLease> {
    try {
      return lease(await startLoaded(pool, request.limits, request.runId), request, pool, 0, "cold");
    } catch (error) {
      logger.debug({ language: pool.language.name, err: (error as Error).message }, "recyclable container not started");
      return options.cold.acquire(request);
    }
  }

  /**
   * The caller's own scrubbed container for this shape and these exact limits: one that waits now,
   * or (`soon`) one of theirs being scrubbed now. Many runs at once would otherwise each start a
   * new container while the caller's own are a few milliseconds from ready.
   */
  async function takeRecycled(request: LeaseRequest, pool: ShapePool, soon: boolean): Promise<ContainerLease | undefined> {
    if (!options.recycler || !pool.recyclable) return undefined;
    const slot = slotFor(request, pool);
    const taken = soon ? await options.recycler.takeSoon(slot) : options.recycler.take(slot);
    return taken ? lease(taken.warm, request, pool, taken.runs) : undefined;
  }

  function discard(warm: WarmContainer): void {
    warm.attachment.destroy();
    void containers.remove(warm.id).catch(() => undefined);
  }

  return {
    async acquire(request) {
      // A run whose language has no loader here (test cases, a version command), or with a
      // network, is always cold; so is one whose input a recyclable container cannot take.
      const compiling = request.program.phase === "compile";
      const language = warmLoaderFor(request.program.language, request.program.env, options.loadedCompilers !== false);
      const refused = warmRefusal(request, language, options.size, recycles(request.shape, compiling));
      const pool = refused ? undefined : poolFor(language, request.shape, compiling);
      if (pool) pool.lastDemand = Date.now();
      // The caller's waiting container first, then a warm one of the pool's (so one caller's runs
      // back to back alternate between two containers, one scrubbed while the other serves),
      // then one of the caller's being scrubbed.
      const leased = pool
        ? ((await takeRecycled(request, pool, false)) ??
          (await takeWarm(request, pool)) ??
          (await takeRecycled(request, pool, true)))
        : undefined;
      refill();
      if (leased) return leased;
      const coldBecause =
        refused ??
        (!pool ? "shape_cap" : limitsFit(pool.shape, request.limits, pool.limits) === "no" ? "limits" : "none_waiting");
      return { ...(pool?.recyclable ? await startedForRun(request, pool) : await options.cold.acquire(request)), coldBecause };
    },
    containerIds: () => (options.recycler ? new Set([...waiting, ...options.recycler.containerIds()]) : waiting),
    waitingCounts: () => ({
      warm: waiting.size,
      recycled: options.recycler?.waitingCount() ?? 0,
      scrubbing: options.recycler?.scrubbingCount() ?? 0,
    }),
    start() {
      stopped = false;
      for (const { language, shape } of options.initial) poolFor(language, shape, false);
      // Started again after an outage: failures then say nothing about now.
      for (const pool of pools.values()) pool.failures = 0;
      refill();
      if (sweep) return;
      sweep = setInterval(
        () => {
          const now = Date.now();
          options.recycler?.sweep(now);
          for (const [key, pool] of pools) {
            pool.failures = 0;
            if (now - pool.lastDemand < options.idleTimeoutMs) continue;
            for (const warm of pool.idle.splice(0)) {
              waiting.delete(warm.id);
              discard(warm);
            }
            if (pool.creating === 0) pools.delete(key);
          }
          refill();
        },
        Math.min(10_000, options.idleTimeoutMs),
      );
      sweep.unref();
    },
    invalidate() {
      generation++;
      for (const attachment of warmingUp) attachment.destroy();
      options.recycler?.invalidate();
      for (const pool of pools.values()) for (const warm of pool.idle.splice(0)) warm.attachment.destroy();
      waiting.clear();
    },
    async clear() {
      generation++;
      for (const attachment of warmingUp) attachment.destroy();
      const all = [...pools.values()].flatMap((pool) => pool.idle.splice(0));
      waiting.clear();
      for (const warm of all) warm.attachment.destroy();
      await Promise.all([...all.map((warm) => containers.remove(warm.id).catch(() => undefined)), options.recycler?.clear()]);
      refill();
    },
    async stop() {
      clearInterval(sweep);
      stopped = true;
      await this.clear();
      // Containers still being made are removed by their own creation once it sees the reset.
      while (creations.size > 0) await Promise.all([...creations]);
    },
  };
}
