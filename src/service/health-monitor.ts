import type { Logger } from "pino";
import { notServingReport, type HealthChecker, type HealthReport } from "./health-check.js";

/**
 * Keeps the service's readiness current: asks the checker every `intervalMs` and tells
 * subscribers when serving turns on or off, so probes read a fresh answer at once instead of
 * waiting on the engine, and gRPC health Watch can push changes.
 */
export interface HealthMonitor {
  /** The latest report (a not-serving placeholder before the first check). */
  current(): HealthReport;
  /** True when the latest report serves and shutdown has not begun. */
  serving(): boolean;
  /** Checks now and returns the fresh report (joining a check in flight). */
  refresh(): Promise<HealthReport>;
  /**
   * Checks after something changed (an image was built): a check already in flight may have
   * looked before the change, so a new one follows it, and its answer is taken even if slow.
   */
  refreshAfterChange(): Promise<HealthReport>;
  /**
   * Called with the serving state on every change of it, and when a family's image comes or goes;
   * returns an unsubscribe function.
   */
  subscribe(listener: (serving: boolean) => void): () => void;
  /** From now on reports not serving, whatever the engine says. */
  beginShutdown(): void;
  /** True once shutdown has begun. */
  shuttingDown(): boolean;
  /** Starts the periodic checks. */
  start(): void;
  /** Stops them. */
  stop(): void;
}

export interface HealthMonitorOptions {
  readonly checker: HealthChecker;
  readonly sandboxImage: string;
  readonly logger: Logger;
  /** How often to ask the engine (default 2000 ms). */
  readonly intervalMs?: number;
}

/** Slow answers in a row tolerated from an engine that was answering, before it counts as gone. */
const slowChecksTolerated = 2;

export function createHealthMonitor(options: HealthMonitorOptions): HealthMonitor {
  const intervalMs = options.intervalMs ?? 2000;
  const listeners = new Set<(serving: boolean) => void>();
  let report: HealthReport = notServingReport(options.sandboxImage, "not checked yet");
  let shuttingDown = false;
  let lastServing = false;
  let lastFamilies = "";
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<HealthReport> | undefined;

  const serving = () => report.serving && !shuttingDown;
  const publish = () => {
    const now = serving();
    const families = report.families
      .filter((family) => family.present)
      .map((family) => family.name)
      .join(",");
    if (now === lastServing && families === lastFamilies) return;
    if (now !== lastServing) {
      options.logger.info(
        { serving: now, detail: shuttingDown ? "shutting down" : report.detail || undefined },
        "health changed",
      );
    }
    if (families !== lastFamilies) options.logger.info({ families_present: families.split(",") }, "image families changed");
    lastServing = now;
    lastFamilies = families;
    for (const listener of listeners) listener(now);
  };

  // An engine that was answering and is now only slow (busy creating sandboxes, say) keeps its
  // standing for a few checks; one that refuses the connection, or stays silent, loses it.
  let slowInARow = 0;
  const refresh = (takeSlow = false) => {
    inFlight ??= options.checker.check().then((fresh) => {
      slowInARow = fresh.engineSlow ? slowInARow + 1 : 0;
      const tolerated = !takeSlow && fresh.engineSlow && report.dockerReachable && slowInARow <= slowChecksTolerated;
      if (tolerated) options.logger.warn({ detail: fresh.detail, slow_in_a_row: slowInARow }, "container engine slow");
      else report = fresh;
      inFlight = undefined;
      publish();
      return report;
    });
    return inFlight;
  };

  return {
    current: () => report,
    serving,
    refresh: () => refresh(),
    async refreshAfterChange() {
      await inFlight?.catch(() => undefined);
      return refresh(true);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    beginShutdown() {
      shuttingDown = true;
      publish();
    },
    shuttingDown: () => shuttingDown,
    start() {
      if (timer) return;
      timer = setInterval(() => void refresh().catch(() => undefined), intervalMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
