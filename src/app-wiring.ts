import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repositoryRoot } from "./config/repository.js";
import { readAureaVersion } from "./config/version.js";
import { DockerodeContainerClient } from "./docker/container-client.js";
import { connectDocker } from "./docker/docker-connection.js";
import { DockerodeEngineClient } from "./docker/engine-client.js";
import { DockerodeImageClient } from "./docker/image-client.js";
import { loadSeccompProfile } from "./docker/seccomp-profile.js";
import { createColdContainerSource } from "./runner/container-source.js";
import { coreFamily, loadLanguageRegistry } from "./runner/languages.js";
import { createRunner } from "./runner/runner.js";
import { DockerodeNetworkClient } from "./docker/network-client.js";
import { createEgressGateway } from "./egress/egress-gateway.js";
import { createWarmPool } from "./runner/warm-pool.js";
import { createRecycler } from "./runner/recycler.js";
import { createPeakMemoryReset } from "./docker/peak-memory-reset.js";
import { createSinglePortServer } from "./server/single-port-server.js";
import { Admission } from "./service/admission.js";
import { ApiKeyAuthenticator, loadApiKeys } from "./service/api-keys.js";
import { familyImage, imageFamilies } from "./service/image-families.js";
import { createInstanceLease } from "./service/instance-lease.js";
import { createMetrics } from "./service/metrics.js";
import { createRequestClaims } from "./service/request-claims.js";
import { createOrphanReaper } from "./service/orphan-reaper.js";
import { createHealthChecker } from "./service/health-check.js";
import { createHealthMonitor } from "./service/health-monitor.js";
import { createSandboxImageBuilder } from "./service/sandbox-image-builder.js";
import { defaultCompileLimits, defaultCompileSeconds, maximumLimits } from "./service/run-request.js";
import { createLanguageVersions } from "./service/language-versions.js";
import { createSandboxService } from "./service/sandbox-service.js";
import { createSessionHandlers } from "./service/session-handlers.js";
import { withSessionForwarding } from "./service/session-forwarding.js";
import { createSessionIds } from "./service/session-ids.js";
import { createSessionTakeover } from "./service/session-takeover.js";
import { createPeerCalls, findPeers } from "./service/peer-calls.js";
import { createSessionManager } from "./session/session-manager.js";
import { createSnapshotStore } from "./session/snapshot-store.js";
import { sessionRunscPlatform } from "./sandbox/runtimes.js";

import { createApiHandler } from "./server/api-handler.js";
import type Docker from "dockerode";
import type { Logger } from "pino";
import type { AureaConfig } from "./config/config.js";
import type { LanguageRegistry } from "./runner/languages.js";

export interface AureaAppOptions {
  readonly config: AureaConfig;
  readonly logger: Logger;
  /** The engine connection; DOCKER_HOST or the local socket when omitted. */
  readonly docker?: Docker;
  /** Path of the Dockerfile the sandbox image is built from (default `Dockerfile.sandbox`). */
  readonly dockerfilePath?: string;
  /** The languages to serve; the repository's `languages/` when omitted. */
  readonly languages?: LanguageRegistry;
}

/**
 * Wiring: every part of a server made once, from the configuration, and connected to the parts it
 * needs. app.ts starts and stops what this makes.
 */
export function wireAurea(options: AureaAppOptions) {
  const { config, logger } = options;
  const languages = options.languages ?? loadLanguageRegistry();
  // What requests are checked against: the settings and the languages.
  const policy = { ...config, languages };
  const version = readAureaVersion();
  const docker = options.docker ?? connectDocker();
  const engine = new DockerodeEngineClient(docker, logger);
  const images = new DockerodeImageClient(docker, logger);
  const containers = new DockerodeContainerClient(docker, logger);
  const instanceId = randomUUID();
  const seccompProfile = loadSeccompProfile(config.seccompBaseProfile, (path) => readFileSync(path, "utf8"));
  const families = imageFamilies(
    languages,
    config.sandboxImage,
    options.dockerfilePath ?? join(repositoryRoot(), "Dockerfile.sandbox"),
  );
  const imageFor = (family: string) => familyImage(config.sandboxImage, family);
  const defaultShape = {
    readonlyRootfs: config.readonlyDefault,
    runtime: config.defaultRuntime,
    runscPlatform: config.runscPlatform,
    seccompProfile,
    // As the runner's own shapes (runner.ts): one shape per language whichever made it first.
    denyMessageQueues: config.recycleSandboxes && config.defaultRuntime === "runsc",
  };
  const warmPool = createWarmPool({
    containers,
    cold: createColdContainerSource(containers),
    instanceId,
    size: config.warmPoolSize,
    // Warm containers are made with the server's maxima, which a run gets unless it asks for
    // less; less is applied when it takes one (CPU, memory, processes change on a running one).
    limits: maximumLimits(policy),
    // A warm compiler is made with its language's compile limits, which a compile may lower likewise.
    compileLimits: (step) => defaultCompileLimits(step, policy),
    loadedCompilers: config.warmCompilers,
    // The core family's languages from the start; any other language's pool starts with its first run.
    initial: languages
      .all()
      .filter((language) => language.family === coreFamily && language.warmLoader)
      .map((language) => ({ language, shape: { ...defaultShape, image: imageFor(language.family) } })),
    idleTimeoutMs: config.warmPoolIdleTimeoutSeconds * 1000,
    refillConcurrency: config.warmPoolRefillConcurrency,
    recycler: config.recycleSandboxes
      ? createRecycler({
          containers,
          maxRuns: config.recycleMaxRuns,
          // Enough for one caller's 16 runs at once; all callers' together are bounded too.
          maxIdlePerCaller: 16,
          maxIdle: 64,
          idleTimeoutMs: config.warmPoolIdleTimeoutSeconds * 1000,
          resetPeakMemory: createPeakMemoryReset({ containers, logger }),
          logger,
        })
      : undefined,
    logger,
  });
  const metrics = createMetrics(
    {
      running: () => admission.active,
      queued: () => admission.queued,
      warmContainers: () => warmPool.waitingCounts().warm,
      sessions: () => sessions.counts(),
    },
    { version },
  );
  // Egress exists only where the operator allows some (EGRESS_ALLOWED); its gateway starts on first use.
  const egress =
    config.egressAllowed.length === 0
      ? undefined
      : createEgressGateway({
          containers,
          networks: new DockerodeNetworkClient(docker, logger),
          image: config.sandboxImage,
          instanceId,
          upstreamNetwork: config.egressUpstreamNetwork,
          maxBytes: config.egressMaxBytes,
          maxConnections: config.egressMaxConnections,
          onConnection: (allowed, reason) => metrics.recordEgressConnection(allowed, reason),
          logger,
        });
  const runner = createRunner({
    containers,
    source: warmPool,
    egress,
    onContainer: (language, runtime, origin, coldBecause) => metrics.recordContainer(language, runtime, origin, coldBecause),
    imageFor,
    instanceId,
    outputLimitBytes: config.outputLimitBytes,
    seccompProfile,
    runscPlatform: config.runscPlatform,
    denyRunscMessageQueues: config.recycleSandboxes,
    logger,
  });
  const versions = createLanguageVersions({
    runner,
    languages: languages.all(),
    limits: maximumLimits(policy),
    runtime: config.defaultRuntime,
    logger,
  });
  const health = createHealthChecker({ engine, images, sandboxImage: config.sandboxImage, families });
  const monitor = createHealthMonitor({
    checker: health,
    sandboxImage: config.sandboxImage,
    logger,
    intervalMs: config.healthCheckIntervalSeconds * 1000,
  });
  const imageBuilder = createSandboxImageBuilder({
    images,
    families,
    baseImage: config.sandboxBaseImage,
    logger,
    onFailed: (family) => metrics.recordImageBuild(family, "failed"),
    onBuilt: async (family) => {
      metrics.recordImageBuild(family, "ok");
      versions.invalidate();
      // Warm containers may run an old image: replace them.
      void warmPool.clear();
      await monitor.refreshAfterChange().catch(() => undefined);
    },
  });
  const admission = new Admission({
    maxConcurrent: config.maxConcurrentRuns,
    maxQueued: config.maxQueuedRuns,
    maxQueueWaitMs: config.maxQueueWaitSeconds * 1000,
  });
  const shutdown = new AbortController();
  /** Session containers a draining replica left running for a peer: its final sweep spares them. */
  const handedOff = new Set<string>();
  const sessionIds = createSessionIds({ advertiseAddress: config.advertiseAddress, peerSecret: config.peerSecret });
  // Calls to the other replicas on a caller's behalf: only a replica with an address has peers.
  const peers = config.advertiseAddress === "" ? undefined : createPeerCalls(config.advertiseAddress);
  const snapshots = createSnapshotStore({
    directory: config.snapshotDir,
    maxBytesPerKey: config.snapshotMaxBytesPerKey,
    ttlMs: config.snapshotTtlSeconds * 1000,
    logger,
  });
  const sessions = createSessionManager({
    containers,
    egress,
    languages,
    newSessionId: sessionIds.newId,
    instanceId,
    instanceName: config.instanceName,
    // A session's root file system is read-only whatever SANDBOX_READONLY_DEFAULT says; it lives
    // long and mostly idle, so gVisor's platform is the sessions' own (runtimes.ts).
    shapeFor: (language, runtime) => ({
      ...defaultShape,
      readonlyRootfs: true,
      runtime,
      runscPlatform: sessionRunscPlatform,
      image: imageFor(language.family),
    }),
    maxSessions: config.maxSessions,
    maxSessionsPerKey: config.maxSessionsPerKey,
    maxExecs: config.sessionMaxExecs,
    maxListed: config.sessionMaxListed,
    outputLimitBytes: config.outputLimitBytes,
    artifactCaps: {
      maxFiles: config.artifactMaxFiles,
      maxFileBytes: config.artifactMaxFileBytes,
      maxTotalBytes: config.artifactMaxTotalBytes,
    },
    compileTimeoutMs: (language) => Math.round((language.compile ? defaultCompileSeconds(language.compile, config) : 0) * 1000),
    snapshots,
    // An adopted session's holder claim goes with it.
    onForget: (sessionId) => void takeover?.release(sessionId),
    logger,
  });
  const authenticator = new ApiKeyAuthenticator(loadApiKeys(config));
  const lease = createInstanceLease({
    containers,
    instanceId,
    image: () => config.sandboxImage,
    renewEveryMs: config.instanceLeaseIntervalSeconds * 1000,
    address: config.advertiseAddress,
    logger,
  });
  // A replica with peers takes over the sessions of a replica that is gone from the shared engine.
  const takeover = !peers
    ? undefined
    : createSessionTakeover({
        containers,
        sessions,
        liveInstances: (found) => lease.liveInstances(found),
        livePeers: (found) => lease.livePeers(found),
        instanceId,
        address: config.advertiseAddress,
        image: () => config.sandboxImage,
        logger,
      });
  const claims = createRequestClaims({
    containers,
    instanceId,
    image: () => config.sandboxImage,
    windowMs: config.requestIdWindowSeconds * 1000,
    logger,
    address: config.advertiseAddress,
  });
  const reaper = createOrphanReaper({
    containers,
    instanceId,
    liveInstances: (found) => lease.liveInstances(found),
    liveContainers: () =>
      new Set([
        ...runner.liveContainers(),
        ...warmPool.containerIds(),
        ...sessions.containerIds(),
        ...claims.containerIds(),
        ...(takeover?.containerIds() ?? []),
        ...handedOff,
        ...(lease.containerId() ? [lease.containerId() as string] : []),
        ...(egress?.containerId() ? [egress.containerId() as string] : []),
      ]),
    instanceName: config.instanceName,
    foreignAfterMs: config.reaperForeignAfterSeconds * 1000,
    heldElsewhere: takeover && ((found) => takeover.heldElsewhere(found)),
    adoptAbandoned: takeover && ((found) => takeover.adoptAbandoned(found)),
    afterSweep: egress && ((liveInstances) => egress.sweepNetworks(liveInstances)),
    logger,
  });
  const sandbox = createSandboxService({
    runner,
    health,
    monitor,
    admission,
    shutdownSignal: shutdown.signal,
    imageBuilder,
    policy,
    versions,
    version,
    sessionCounts: () => sessions.counts(),
    claims,
    peers,
    metrics,
    logCode: config.logCode,
    logger,
  });
  const localSessionHandlers = createSessionHandlers({
    sessions,
    monitor,
    admission,
    imageBuilder,
    policy,
    shutdownSignal: shutdown.signal,
    ownerAddress: sessionIds.address,
    snapshots,
    metrics,
    logger,
  });
  // A replica with peers forwards calls for sessions they hold.
  const sessionHandlers = !peers
    ? localSessionHandlers
    : withSessionForwarding(localSessionHandlers, {
        ids: sessionIds,
        peers,
        findPeers: () => findPeers({ peers: config.peers, peerDns: config.peerDns, address: config.advertiseAddress }),
        holds: (sessionId) => sessions.holds(sessionId),
        takeover,
        logger,
      });
  const { handler, services, mcp } = createApiHandler({
    sandbox: { ...sandbox, ...sessionHandlers },
    monitor,
    families: families.map((family) => family.name),
    authenticator,
    imageBuilder,
    metrics,
    config,
    selfUrl: () => loopbackUrl(config.host, server.address()?.port ?? config.port),
    version,
    logger,
  });
  const server = createSinglePortServer({
    handler,
    host: config.host,
    port: config.port,
    logger,
    keepaliveIntervalMs: config.keepaliveIntervalSeconds * 1000,
    keepaliveTimeoutMs: config.keepaliveTimeoutSeconds * 1000,
    maxConnectionAgeMs: config.maxConnectionAgeSeconds * 1000,
    maxConnectionAgeGraceMs: config.maxConnectionAgeGraceSeconds * 1000,
  });
  return {
    config,
    logger,
    version,
    engine,
    images,
    instanceId,
    seccompProfile,
    families,
    warmPool,
    runner,
    monitor,
    imageBuilder,
    admission,
    shutdown,
    sessions,
    authenticator,
    lease,
    claims,
    reaper,
    server,
    services,
    mcp,
    takeover,
    handedOff,
    snapshots,
    peers,
    egress,
  };
}

/** How this process reaches its own port: loopback when it listens on every address. */
function loopbackUrl(host: string, port: number): string {
  if (host === "" || host === "0.0.0.0" || host === "::") return `http://127.0.0.1:${port}`;
  return host.includes(":") ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/** The parts of a wired server that its lifecycle (app.ts) starts and stops. */
export type AureaParts = ReturnType<typeof wireAurea>;
