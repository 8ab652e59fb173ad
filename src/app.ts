import { Code, ConnectError } from "@connectrpc/connect";
import type { AddressInfo } from "node:net";
import { redactConfig } from "./config/config.js";
import { checkRuntimeSafety } from "./docker/runtime-check.js";
import { coreFamily } from "./runner/languages.js";
import type { ImageFamily } from "./service/image-families.js";
import { type AureaAppOptions, wireAurea } from "./app-wiring.js";

export type { AureaAppOptions } from "./app-wiring.js";

export interface AureaApp {
  /** Builds the sandbox image if it is missing and allowed to, then listens. */
  start(): Promise<AddressInfo>;
  /** Turns health to NOT_SERVING, stops listening and lets calls in flight finish for up to `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /**
   * What the server holds now: runs admitted (running), queued, with their program started, warm
   * containers ready, and recycled ones waiting for their callers or being scrubbed.
   */
  load(): { running: number; queued: number; started: number; warm: number; recycled: number; scrubbing: number };
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** A server: wired (app-wiring.ts), then started and stopped here. */
export function createAureaApp(options: AureaAppOptions): AureaApp {
  const parts = wireAurea(options);
  const { config, logger, monitor, admission } = parts;

  /**
   * Builds what is missing when allowed to: the core family before serving (python, javascript
   * and bash are there at once), every other family afterwards in the background, one at a time;
   * each language turns available as its image lands. A failure is logged by the builder; the
   * server still starts, reporting what is missing.
   */
  async function ensureSandboxImages(): Promise<void> {
    let missing: ImageFamily[];
    try {
      const present = await Promise.all(parts.families.map((family) => parts.images.exists(family.image)));
      missing = parts.families.filter((_, index) => !present[index]);
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "container engine unreachable at start; serving anyway");
      return;
    }
    if (missing.length === 0) return;
    if (!config.buildImageOnStart) {
      logger.warn({ images: missing.map((family) => family.image) }, "sandbox images missing and SANDBOX_BUILD_ON_START is off");
      return;
    }
    const build = (family: ImageFamily) =>
      parts.imageBuilder.build({
        family: family.name,
        onLog: (line) => logger.debug({ family: family.name, build: line }, "image build"),
      });
    const core = missing.find((family) => family.name === coreFamily);
    if (core) await build(core).catch(() => undefined);
    const rest = missing.filter((family) => family !== core);
    void (async () => {
      for (const family of rest) {
        if (parts.shutdown.signal.aborted || monitor.shuttingDown()) return;
        await build(family).catch(() => undefined);
      }
    })();
  }

  /**
   * A draining replica with peers on the engine leaves its sessions running for them to adopt
   * (session-takeover.ts); without any, it closes them, and the last replica standing also
   * closes what others left it.
   */
  async function endSessions(): Promise<void> {
    const onEngine = (await parts.takeover?.peersOnEngine().catch(() => [])) ?? [];
    // A lease can outlive its replica by a few renewals (a SIGKILL): only peers that answer now
    // are trusted with the sessions.
    const answers = await Promise.all(
      onEngine.map((address) =>
        parts.peers
          ?.client(address)
          .health({}, { timeoutMs: 1000 })
          // Any answer (a refused key included) is a live replica; no answer in time is not.
          .then(
            () => true,
            (error: unknown) => ConnectError.from(error).code !== Code.DeadlineExceeded && !parts.peers?.noAnswer(error),
          ),
      ),
    );
    const peers = onEngine.filter((_, index) => answers[index]);
    if (peers.length > 0) {
      for (const containerId of parts.sessions.handOff()) parts.handedOff.add(containerId);
      logger.info({ sessions: parts.handedOff.size, peers }, "sessions handed off to the peers on the engine");
      return;
    }
    await parts.takeover?.adoptAbandoned().catch(() => 0);
    await parts.sessions.closeAll("the server is shutting down");
  }

  return {
    load: () => ({
      running: admission.active,
      queued: admission.queued,
      started: parts.runner.programsRunning(),
      ...parts.warmPool.waitingCounts(),
    }),
    async start() {
      await checkRuntimeSafety({ engine: parts.engine, config, seccompProfile: parts.seccompProfile, logger });
      if (!parts.authenticator.enabled) {
        logger.warn("no API keys configured (API_KEYS, API_KEYS_FILE): anyone who reaches the port can run code");
      }
      await ensureSandboxImages();
      const report = await monitor.refresh();
      monitor.start();
      // Before the first sweep: this server's lease, so it can tell live servers from dead ones,
      // and the sessions an earlier process of this instance left, which would look orphaned.
      await parts.lease.start();
      // A session another replica took over while this instance was away stays with it.
      const heldElsewhere = (await parts.takeover?.heldElsewhereNow().catch(() => undefined)) ?? new Set<string>();
      const adopted = await parts.sessions.adopt((sessionId) => heldElsewhere.has(sessionId));
      parts.sessions.start();
      await parts.reaper.sweep();
      parts.reaper.start(config.reaperIntervalSeconds * 1000);
      // Warm containers may have died with an engine that went away; the reaper removes them.
      monitor.subscribe((serving) => {
        if (!serving && !monitor.shuttingDown()) parts.warmPool.invalidate();
      });
      if (report.serving) parts.warmPool.start();
      else monitor.subscribe((serving) => serving && parts.warmPool.start());
      const address = await parts.server.listen();
      logger.info(
        {
          address: `${address.address}:${address.port}`,
          version: parts.version,
          instance_id: parts.instanceId,
          serving: report.serving,
          sessions_adopted: adopted,
          docker_version: report.dockerVersion || undefined,
          detail: report.detail || undefined,
          services: parts.services,
          config: redactConfig(config),
        },
        "aurea ready",
      );
      return address;
    },
    async stop(graceMs = config.shutdownGraceSeconds * 1000) {
      // Health first, so probes route traffic away; then no new runs; then the grace period.
      monitor.beginShutdown();
      admission.close();
      logger.info({ in_flight: admission.active, grace_ms: graceMs }, "draining");
      const drained = await waitUntil(() => admission.active === 0, graceMs);
      if (!drained) {
        logger.warn({ in_flight: admission.active }, "grace period over: killing the runs still going");
        parts.shutdown.abort();
        await waitUntil(() => admission.active === 0, 10_000);
      }
      parts.sessions.stop();
      await parts.mcp?.close();
      await endSessions();
      await parts.server.close(Math.min(graceMs, 2000));
      await parts.warmPool.stop();
      await parts.runner.settled();
      await parts.sessions.settled();
      await parts.egress?.stop();
      monitor.stop();
      parts.reaper.stop();
      await parts.claims.releaseAll();
      await parts.lease.stop();
      // Nothing of this process runs any more: every container of its own goes, however young.
      const left = await parts.reaper.sweep({ finalSweep: true });
      logger.info({ containers_removed_at_exit: left.length }, "aurea stopped");
    },
  };
}
