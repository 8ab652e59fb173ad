import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { engineCallErrors } from "../docker/engine-call.js";
import type { RunOutcome, RunSpec } from "../runner/run-spec.js";

/**
 * A Connect interceptor timing every RPC end to end (a stream until its last message) into
 * `recordRpc`, with the status code it ended with.
 */
export function metricsInterceptor(metrics: Pick<AureaMetrics, "recordRpc">): Interceptor {
  return (next) => async (request) => {
    const started = performance.now();
    const method = request.method.name;
    const done = (code: string) => metrics.recordRpc(method, code, (performance.now() - started) / 1000);
    try {
      const response = await next(request);
      if (!response.stream) {
        done("ok");
        return response;
      }
      const messages = response.message;
      return {
        ...response,
        message: (async function* () {
          try {
            yield* messages;
            done("ok");
          } catch (error) {
            done(codeToString(ConnectError.from(error).code));
            throw error;
          }
        })(),
      };
    } catch (error) {
      done(codeToString(ConnectError.from(error).code));
      throw error;
    }
  };
}

/**
 * The Prometheus metrics of one server (`GET /metrics`, prom-client): one registry per app, so
 * servers started side by side in one process (the tests) do not share counters. Counters are
 * bumped by the places that know (recordRun, recordExec, ...); gauges read the live state when
 * scraped.
 */
export interface AureaMetrics {
  readonly registry: Registry;
  /** A Run (or RunStream) ended with an outcome: by language, runtime and verdict, with its times. */
  recordRun(spec: Pick<RunSpec, "language" | "runtime">, outcome: RunOutcome, queuedMs: number): void;
  /** A session's exec ended. */
  recordExec(language: string, runtime: string, outcome: RunOutcome): void;
  /** A container was handed to a run: from the warm pool, or made cold. */
  /** A container handed to a run; `coldBecause`, for a cold one, why the warm pool had none (warm-pool.ts). */
  recordContainer(language: string, runtime: string, origin: "warm" | "cold" | "recycled", coldBecause?: string): void;
  recordImageBuild(family: string, result: "ok" | "failed"): void;
  /** The egress gateway allowed or denied a connection (denied: with its reason, such as not_allowed). */
  recordEgressConnection(allowed: boolean, reason: string): void;
  /** An RPC answered (its status code as Connect names it), with its end-to-end seconds. */
  recordRpc(method: string, code: string, seconds: number): void;
}

/** What the gauges read at scrape time. */
export interface LiveState {
  readonly running: () => number;
  readonly queued: () => number;
  readonly warmContainers: () => number;
  readonly sessions: () => { open: number; adopted: number };
}

const secondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export function createMetrics(live: LiveState, build: { version: string }): AureaMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "aurea_" });
  // Gauges that prom-client names with "_total", which the text format keeps for counters
  // (promtool refuses them); the same counts stay under their handle and request breakdowns.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
    registry.removeSingleMetric(`aurea_${name}`);
  }
  const runs = new Counter({
    name: "aurea_runs_total",
    help: "Runs that ended with an outcome, by language, runtime and verdict (RunStatus, lower case).",
    labelNames: ["language", "runtime", "status"],
    registers: [registry],
  });
  const testCases = new Counter({
    name: "aurea_test_cases_total",
    help: "Test cases judged, by verdict.",
    labelNames: ["status"],
    registers: [registry],
  });
  const queueSeconds = new Histogram({
    name: "aurea_run_queue_seconds",
    help: "Seconds runs waited for an admission slot.",
    buckets: secondsBuckets,
    registers: [registry],
  });
  const runSeconds = new Histogram({
    name: "aurea_run_seconds",
    help: "Seconds programs ran (execution_time), by language and runtime.",
    labelNames: ["language", "runtime"],
    buckets: secondsBuckets,
    registers: [registry],
  });
  const rpcSeconds = new Histogram({
    name: "aurea_rpc_seconds",
    help: "End-to-end seconds of each RPC as the server saw it, by method and status code.",
    labelNames: ["method", "code"],
    buckets: secondsBuckets,
    registers: [registry],
  });
  const execs = new Counter({
    name: "aurea_session_execs_total",
    help: "Execs in sessions that ended with an outcome, by language, runtime and verdict.",
    labelNames: ["language", "runtime", "status"],
    registers: [registry],
  });
  const containers = new Counter({
    name: "aurea_run_containers_total",
    help: "Containers handed to runs, by language, runtime and origin: warm (a pool hit), recycled (the caller's own scrubbed container) or cold (a miss, or no pool).",
    labelNames: ["language", "runtime", "origin"],
    registers: [registry],
  });
  const coldContainers = new Counter({
    name: "aurea_run_cold_containers_total",
    help: "Runs the warm pool had no container started ahead for, by language, runtime and reason: pool_off, no_loader, judged, network, input (streamed, or more than a recycled container takes), shape_cap, limits, none_waiting.",
    labelNames: ["language", "runtime", "reason"],
    registers: [registry],
  });
  const egressConnections = new Counter({
    name: "aurea_egress_connections_total",
    help: "Connections through the egress gateway: allowed, or denied with the reason (not_allowed, ip_literal, private_address, sni_mismatch, host_mismatch, cap_reached, ...).",
    labelNames: ["result", "reason"],
    registers: [registry],
  });
  const builds = new Counter({
    name: "aurea_image_builds_total",
    help: "Image builds by family and result.",
    labelNames: ["family", "result"],
    registers: [registry],
  });
  new Counter({
    name: "aurea_engine_call_errors_total",
    help: "Container engine calls that failed in this process, by kind (EngineUnavailableError, EngineTimeoutError, ImageMissingError, RuntimeMissingError, ContainerGoneError, NameInUseError, EngineError).",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      // The process-wide counts (engine-call.ts), as they are now.
      this.reset();
      for (const [kind, count] of engineCallErrors) this.inc({ kind }, count);
    },
  });
  /** A gauge read from the live state at every scrape. */
  const liveGauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  liveGauge("aurea_runs_in_flight", "Runs and execs holding an admission slot now.", live.running);
  liveGauge("aurea_runs_queued", "Runs and execs waiting for an admission slot now.", live.queued);
  liveGauge("aurea_warm_pool_containers", "Warm containers ready now.", live.warmContainers);
  new Gauge({
    name: "aurea_sessions",
    help: "Sessions open now; adopted: taken over from an earlier process at start.",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      const counts = live.sessions();
      this.set({ kind: "open" }, counts.open);
      this.set({ kind: "adopted" }, counts.adopted);
    },
  });
  new Gauge({
    name: "aurea_build_info",
    help: "Always 1: the server's version and Node.js version as labels.",
    labelNames: ["version", "node"],
    registers: [registry],
  }).set({ version: build.version, node: process.versions.node }, 1);

  return {
    registry,
    recordRun(spec, outcome, queuedMs) {
      runs.inc({ language: spec.language.name, runtime: spec.runtime, status: outcome.verdict });
      queueSeconds.observe(queuedMs / 1000);
      runSeconds.observe({ language: spec.language.name, runtime: spec.runtime }, outcome.executionTimeMs / 1000);
      for (const test of outcome.tests ?? []) testCases.inc({ status: test.verdict });
    },
    recordExec(language, runtime, outcome) {
      execs.inc({ language, runtime, status: outcome.verdict });
    },
    recordContainer(language, runtime, origin, coldBecause) {
      containers.inc({ language, runtime, origin });
      if (origin === "cold" && coldBecause) coldContainers.inc({ language, runtime, reason: coldBecause });
    },
    recordImageBuild(family, result) {
      builds.inc({ family, result });
    },
    recordEgressConnection(allowed, reason) {
      egressConnections.inc({ result: allowed ? "allowed" : "denied", reason: allowed ? "" : reason });
    },
    recordRpc(method, code, seconds) {
      rpcSeconds.observe({ method, code }, seconds);
    },
  };
}
