import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type Docker from "dockerode";
import type { Logger } from "pino";
import { SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { redactConfig, type AureaConfig } from "./config/config.js";
import { repositoryRoot } from "./config/repository.js";
import { readAureaVersion } from "./config/version.js";
import { DockerodeContainerClient } from "./docker/container-client.js";
import { connectDocker } from "./docker/docker-connection.js";
import { DockerodeEngineClient } from "./docker/engine-client.js";
import { DockerodeImageClient } from "./docker/image-client.js";
import { checkRuntimeSafety } from "./docker/runtime-check.js";
import { loadSeccompProfile } from "./docker/seccomp-profile.js";
import { createColdContainerSource } from "./runner/container-source.js";
import { coreFamily, type LanguageRegistry, loadLanguageRegistry } from "./runner/languages.js";
import { createRunner } from "./runner/runner.js";
import { createWarmPool } from "./runner/warm-pool.js";
import { withCors } from "./server/cors.js";
import { withSpecGrpcMessages } from "./server/grpc-message-encoding.js";
import { restJsonOptions, withRestCompat } from "./server/rest-compat.js";
import { createSinglePortServer } from "./server/single-port-server.js";
import { Admission } from "./service/admission.js";
import { ApiKeyAuthenticator, clientAddressKey, createAuthInterceptor, loadApiKeys } from "./service/api-keys.js";
import { createGrpcHealthService } from "./service/grpc-health-service.js";
import { familyImage, type ImageFamily, imageFamilies } from "./service/image-families.js";
import { createInstanceLease } from "./service/instance-lease.js";
import { createMetrics, metricsInterceptor } from "./service/metrics.js";
import { withMetricsRoute } from "./server/metrics-route.js";
import { withPlayground } from "./server/playground-route.js";
import { createRequestClaims } from "./service/request-claims.js";
import { createOrphanReaper } from "./service/orphan-reaper.js";
import { createHealthChecker } from "./service/health-check.js";
import { createHealthMonitor } from "./service/health-monitor.js";
import { createReflectionServiceV1, createReflectionServiceV1alpha, DescriptorIndex } from "./service/reflection-service.js";
import { createSandboxImageBuilder } from "./service/sandbox-image-builder.js";
import { defaultCompileSeconds, maximumLimits } from "./service/run-request.js";
import { createLanguageVersions } from "./service/language-versions.js";
import { createSandboxService } from "./service/sandbox-service.js";
import { createSessionHandlers } from "./service/session-handlers.js";
import { createSessionManager } from "./session/session-manager.js";

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

export interface AureaApp {
  /** Builds the sandbox image if it is missing and allowed to, then listens. */
  start(): Promise<AddressInfo>;
  /** Turns health to NOT_SERVING, stops listening and lets calls in flight finish for up to `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** What the server holds now: runs admitted (running), queued, with their program started, and warm containers ready. */
  load(): { running: number; queued: number; started: number; warm: number };
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** Wires configuration, engine clients, runner, services and the one-port server together. */
export function createAureaApp(options: AureaAppOptions): AureaApp {
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
    seccompProfile,
  };
  const warmPool = createWarmPool({
    containers,
    cold: createColdContainerSource(containers),
    instanceId,
    size: config.warmPoolSize,
    // Warm containers are made with the server's maxima, which a run gets unless it asks for
    // less; less is applied when it takes one (CPU, memory, processes change on a running one).
    limits: maximumLimits(policy),
    // The core family's languages from the start; any other language's pool starts with its first run.
    initial: languages
      .all()
      .filter((language) => language.family === coreFamily && language.warmLoader)
      .map((language) => ({ language, shape: { ...defaultShape, image: imageFor(language.family) } })),
    idleTimeoutMs: config.warmPoolIdleTimeoutSeconds * 1000,
    refillConcurrency: config.warmPoolRefillConcurrency,
    logger,
  });
  const metrics = createMetrics(
    {
      running: () => admission.active,
      queued: () => admission.queued,
      warmContainers: () => warmPool.containerIds().size,
      sessions: () => sessions.counts(),
    },
    { version },
  );
  const runner = createRunner({
    containers,
    source: warmPool,
    onContainer: (language, runtime, origin) => metrics.recordContainer(language, runtime, origin),
    imageFor,
    instanceId,
    outputLimitBytes: config.outputLimitBytes,
    seccompProfile,
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
  const sessions = createSessionManager({
    containers,
    languages,
    instanceId,
    instanceName: config.instanceName,
    // A session's root file system is read-only whatever SANDBOX_READONLY_DEFAULT says.
    shapeFor: (language, runtime) => ({ ...defaultShape, readonlyRootfs: true, runtime, image: imageFor(language.family) }),
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
    logger,
  });
  const authenticator = new ApiKeyAuthenticator(loadApiKeys(config));
  const lease = createInstanceLease({
    containers,
    instanceId,
    image: () => config.sandboxImage,
    renewEveryMs: config.instanceLeaseIntervalSeconds * 1000,
    logger,
  });
  const claims = createRequestClaims({
    containers,
    instanceId,
    image: () => config.sandboxImage,
    windowMs: config.requestIdWindowSeconds * 1000,
    logger,
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
        ...(lease.containerId() ? [lease.containerId() as string] : []),
      ]),
    instanceName: config.instanceName,
    foreignAfterMs: config.reaperForeignAfterSeconds * 1000,
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
    metrics,
    logCode: config.logCode,
    logger,
  });
  const sessionHandlers = createSessionHandlers({
    sessions,
    monitor,
    admission,
    imageBuilder,
    policy,
    shutdownSignal: shutdown.signal,
    metrics,
    logger,
  });
  const served = [SandboxService, Health, ...(config.reflectionEnabled ? [ServerReflectionV1, ServerReflectionV1alpha] : [])];
  const descriptors = new DescriptorIndex(served);
  const connectHandler = connectNodeAdapter({
    routes: (router) => {
      router.service(SandboxService, { ...sandbox, ...sessionHandlers });
      router.service(
        Health,
        createGrpcHealthService(
          monitor,
          [SandboxService.typeName],
          families.map((family) => family.name),
        ),
      );
      if (config.reflectionEnabled) {
        router.service(ServerReflectionV1, createReflectionServiceV1(descriptors));
        router.service(ServerReflectionV1alpha, createReflectionServiceV1alpha(descriptors));
      }
    },
    readMaxBytes: config.maxRequestBytes,
    // The client's address, for the audit line.
    contextValues: (request) => createContextValues().set(clientAddressKey, request.socket?.remoteAddress ?? ""),
    interceptors: [
      metricsInterceptor(metrics),
      ...(authenticator.enabled
        ? [
            createAuthInterceptor(authenticator, {
              services: config.authProtectProbes
                ? []
                : [Health.typeName, ServerReflectionV1.typeName, ServerReflectionV1alpha.typeName],
              methods: config.authProtectProbes ? [] : [`${SandboxService.typeName}/Health`],
            }),
          ]
        : []),
    ],
    // snake_case names and default values in JSON, as the original REST API answered.
    jsonOptions: restJsonOptions,
  });
  const apiHandler = withMetricsRoute(
    withRestCompat(withSpecGrpcMessages(connectHandler), imageBuilder, authenticator, config.maxRequestBytes),
    metrics.registry,
    config.authProtectProbes && authenticator.enabled ? authenticator : undefined,
  );
  const handler = withCors(
    config.playgroundEnabled
      ? withPlayground(apiHandler, { directory: join(repositoryRoot(), "dist", "playground"), logger })
      : apiHandler,
    config.corsAllowedOrigins,
  );
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

  /**
   * Builds what is missing when allowed to: the core family before serving (python, javascript
   * and bash are there at once), every other family afterwards in the background, one at a time;
   * each language turns available as its image lands. A failure is logged by the builder; the
   * server still starts, reporting what is missing.
   */
  async function ensureSandboxImages(): Promise<void> {
    let missing: ImageFamily[];
    try {
      const present = await Promise.all(families.map((family) => images.exists(family.image)));
      missing = families.filter((_, index) => !present[index]);
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
      imageBuilder.build({
        family: family.name,
        onLog: (line) => logger.debug({ family: family.name, build: line }, "image build"),
      });
    const core = missing.find((family) => family.name === coreFamily);
    if (core) await build(core).catch(() => undefined);
    const rest = missing.filter((family) => family !== core);
    void (async () => {
      for (const family of rest) {
        if (shutdown.signal.aborted || monitor.shuttingDown()) return;
        await build(family).catch(() => undefined);
      }
    })();
  }

  return {
    load: () => ({
      running: admission.active,
      queued: admission.queued,
      started: runner.programsRunning(),
      warm: warmPool.containerIds().size,
    }),
    async start() {
      await checkRuntimeSafety({ engine, config, seccompProfile, logger });
      if (!authenticator.enabled) {
        logger.warn("no API keys configured (API_KEYS, API_KEYS_FILE): anyone who reaches the port can run code");
      }
      await ensureSandboxImages();
      const report = await monitor.refresh();
      monitor.start();
      // Before the first sweep: this server's lease, so it can tell live servers from dead ones,
      // and the sessions an earlier process of this instance left, which would look orphaned.
      await lease.start();
      const adopted = await sessions.adopt();
      sessions.start();
      await reaper.sweep();
      reaper.start(config.reaperIntervalSeconds * 1000);
      // Warm containers may have died with an engine that went away; the reaper removes them.
      monitor.subscribe((serving) => {
        if (!serving && !monitor.shuttingDown()) warmPool.invalidate();
      });
      if (report.serving) warmPool.start();
      else monitor.subscribe((serving) => serving && warmPool.start());
      const address = await server.listen();
      logger.info(
        {
          address: `${address.address}:${address.port}`,
          version,
          instance_id: instanceId,
          serving: report.serving,
          sessions_adopted: adopted,
          docker_version: report.dockerVersion || undefined,
          detail: report.detail || undefined,
          services: served.map((service) => service.typeName),
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
        shutdown.abort();
        await waitUntil(() => admission.active === 0, 10_000);
      }
      sessions.stop();
      await sessions.closeAll("the server is shutting down");
      await server.close(Math.min(graceMs, 2000));
      await warmPool.stop();
      await runner.settled();
      await sessions.settled();
      monitor.stop();
      reaper.stop();
      await claims.releaseAll();
      await lease.stop();
      // Nothing of this process runs any more: every container of its own goes, however young.
      const left = await reaper.sweep({ finalSweep: true });
      logger.info({ containers_removed_at_exit: left.length }, "aurea stopped");
    },
  };
}
