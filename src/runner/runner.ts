import type { Logger } from "pino";
import type { ContainerClient } from "../docker/container-client.js";
import { EgressUnavailableError, type EgressGateway, type EgressLease, type EgressReport } from "../egress/egress-gateway.js";
import {
  createColdContainerSource,
  type ColdReason,
  type ContainerLease,
  type ContainerOrigin,
  type ContainerSource,
} from "./container-source.js";
import { RunLifecycle } from "./run-lifecycle.js";
import type { RunObserver } from "./run-lifecycle.js";
import type { RunOutcome, RunSpec } from "./run-spec.js";
import type { RunscPlatform } from "../sandbox/runtimes.js";

export type { RunObserver } from "./run-lifecycle.js";
export type { RunOutcome, RunSpec } from "./run-spec.js";

export interface Runner {
  /** Ids of the containers of runs in progress (or being removed), which nothing else may remove. */
  liveContainers(): ReadonlySet<string>;
  /** Resolves once every container removal started so far has finished. */
  settled(): Promise<void>;
  /** How many runs have their program running right now. */
  programsRunning(): number;
  /**
   * Runs one program in a container of its own and removes the container on every path.
   * Rejects (with the typed errors of docker/engine-errors.ts) only when the program never
   * started; once it has, every ending is an outcome. An abort of `signal` at any moment ends
   * the run as cancelled.
   */
  run(spec: RunSpec, options?: { signal?: AbortSignal | undefined; observer?: RunObserver | undefined }): Promise<RunOutcome>;
}

export interface RunnerOptions {
  /** Engine calls for the lifecycle (attach, wait, kill, inspect, remove). */
  readonly containers: ContainerClient;
  /** Where containers come from; a fresh container per run when omitted. */
  readonly source?: ContainerSource;
  /** The image a language's runs execute in: its family's (image-families.ts). */
  readonly imageFor: (family: string) => string;
  /** Identifies this server process in container labels. */
  readonly instanceId: string;
  /** Bytes kept of each of stdout and stderr; past it the run is killed. */
  readonly outputLimitBytes: number;
  /** seccomp profile JSON for every container; undefined keeps the engine's default. */
  readonly seccompProfile: string | undefined;
  /** gVisor's platform for runs under `runsc` (RUNSC_PLATFORM). */
  readonly runscPlatform: RunscPlatform;
  /**
   * Runs under runsc are denied POSIX message queues (SandboxShape.denyMessageQueues): on where
   * sandboxes are recycled, so cold and warm runs alike see the same.
   */
  readonly denyRunscMessageQueues?: boolean;
  readonly logger: Logger;
  /** The egress gateway, for runs with a network policy; without it such runs are refused (UNAVAILABLE). */
  readonly egress?: EgressGateway | undefined;
  /** Told where each run's container came from (the warm pool's hits and misses, for metrics). */
  readonly onContainer?: (language: string, runtime: string, origin: ContainerOrigin, coldBecause?: ColdReason) => void;
}

/** Runs programs, each through its own RunLifecycle, and removes their containers afterwards. */
export function createRunner(options: RunnerOptions): Runner {
  const source = options.source ?? createColdContainerSource(options.containers);
  const live = new Set<string>();
  const removals = new Set<Promise<void>>();
  const runs = new Set<RunLifecycle>();
  /**
   * Removal happens after the answer is sent: the caller does not wait for the engine to tear
   * the container down. It is tracked, so shutdown waits for it, and a failure leaves the
   * container to the orphan reaper.
   */
  const removeLater = (id: string, log: Logger, afterwards?: () => Promise<void>) => {
    const removal = options.containers
      .remove(id)
      .catch((error: Error) => log.error({ container: id, err: error.message }, "container not removed"))
      // The egress network goes once nothing is on it but the gateway; even when the container
      // stays (for the reaper), the network's removal disconnects it first, so no network is
      // left held by a lease nobody will end.
      .then(() => afterwards?.());
    const tracked = removal.finally(() => {
      live.delete(id);
      removals.delete(tracked);
    });
    removals.add(tracked);
  };

  async function openEgress(spec: RunSpec): Promise<EgressLease> {
    if (!options.egress) throw new EgressUnavailableError("egress is not configured on this server (EGRESS_ALLOWED)");
    return options.egress.open(spec.runId, spec.network ?? []);
  }

  return {
    liveContainers: () => live,
    programsRunning: () => [...runs].filter((run) => run.state === "started").length,
    settled: async () => {
      while (removals.size > 0) await Promise.all([...removals]);
    },
    async run(spec, { signal, observer } = {}) {
      let outcome: RunOutcome | undefined;
      const log = options.logger.child({
        run_id: spec.runId,
        ...(spec.requestId ? { request_id: spec.requestId } : {}),
        ...(spec.phase ? { phase: spec.phase } : {}),
      });
      // A compile never has a network: only the program does.
      const egress = spec.network && spec.network.length > 0 && spec.phase !== "compile" ? await openEgress(spec) : undefined;
      const run = new RunLifecycle(spec, {
        containers: options.containers,
        source,
        instanceId: options.instanceId,
        shape: {
          image: options.imageFor(spec.language.family),
          readonlyRootfs: spec.readonlyRootfs,
          runtime: spec.runtime,
          runscPlatform: options.runscPlatform,
          seccompProfile: options.seccompProfile,
          denyMessageQueues: spec.runtime === "runsc" && options.denyRunscMessageQueues === true,
        },
        outputLimitBytes: options.outputLimitBytes,
        log,
        observer,
        network: egress ? { name: egress.network, gatewayAddress: egress.gatewayAddress, env: egress.env } : undefined,
      });
      void egress?.ended.then((end) => {
        log.warn({ end }, end.kind === "limit" ? "network cap reached" : "egress gateway lost during the run");
        run.stop(end.kind === "limit" ? "network_limit" : "network_lost");
      });
      runs.add(run);
      const onAbort = () => run.stop("cancelled");
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
      try {
        await run.prepare();
        if (run.containerId) live.add(run.containerId);
        const { container } = run;
        if (container) options.onContainer?.(spec.language.name, spec.runtime, container.origin, container.coldBecause);
        await run.start();
        await run.waitForEnd();
        const reported = await run.report();
        const network = egress ? await finishEgress(egress, log) : undefined;
        outcome = network ? withNetworkUsage(reported, network) : reported;
        logRunFinished(log, spec, outcome, run.container, network);
        return outcome;
      } finally {
        signal?.removeEventListener("abort", onAbort);
        runs.delete(run);
        const id = run.release();
        if (egress) void egress.finish().catch(() => undefined);
        // A recyclable container that served a clean run goes back to its pool, scrubbed there.
        if (id && run.handBack(outcome)) live.delete(id);
        else if (id) {
          live.add(id);
          removeLater(id, log, egress?.dispose);
        } else void egress?.dispose();
      }
    },
  };
}

/** The gateway's counts for a finished run; undefined (and a warning) when the gateway could not say. */
async function finishEgress(egress: EgressLease, log: Logger): Promise<EgressReport | undefined> {
  try {
    return await egress.finish();
  } catch (error) {
    log.warn({ err: (error as Error).message }, "network usage not read from the egress gateway");
    return undefined;
  }
}

/** The outcome with the bytes its program moved through the egress gateway in its usage. */
export function withNetworkUsage(outcome: RunOutcome, network: Pick<EgressReport, "sent" | "received">): RunOutcome {
  return {
    ...outcome,
    usage: {
      cpuTimeNs: outcome.usage?.cpuTimeNs,
      peakMemoryBytes: outcome.usage?.peakMemoryBytes,
      networkBytesSent: network.sent,
      networkBytesReceived: network.received,
    },
  };
}

/** The audit line of a run: who, what, how it ended and what it used; never the code or output. */
function logRunFinished(
  log: Logger,
  spec: RunSpec,
  outcome: RunOutcome,
  container: Pick<ContainerLease, "origin" | "coldBecause"> | undefined,
  network: EgressReport | undefined,
): void {
  log.info(
    {
      key_id: spec.callerId,
      container: container?.origin,
      cold_because: container?.coldBecause,
      language: spec.language.name,
      runtime: spec.runtime,
      artifacts: outcome.artifacts ? outcome.artifacts.files.size : undefined,
      status: outcome.verdict,
      exit_code: outcome.exitCode,
      signal: outcome.signal || undefined,
      duration_ms: Math.round(outcome.executionTimeMs),
      stdout_bytes: outcome.stdout.length,
      stderr_bytes: outcome.stderr.length,
      cpu_ms: outcome.usage?.cpuTimeNs !== undefined ? Math.round(outcome.usage.cpuTimeNs / 1e6) : undefined,
      peak_memory_bytes: outcome.usage?.peakMemoryBytes,
      ...(network ? { network_hosts: network.hosts, network_denied: network.denied } : {}),
      error: outcome.error,
    },
    "run finished",
  );
}
