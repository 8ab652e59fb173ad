import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type Docker from "dockerode";
import type { Logger } from "pino";
import { SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import type { AureaConfig } from "./config/config.js";
import { readAureaVersion } from "./config/version.js";
import { DockerodeContainerClient } from "./docker/container-client.js";
import { connectDocker } from "./docker/docker-connection.js";
import { DockerodeEngineClient } from "./docker/engine-client.js";
import { DockerodeImageClient } from "./docker/image-client.js";
import { createRunner } from "./runner/runner.js";
import { createHealthChecker } from "./service/health-check.js";
import { createSandboxService } from "./service/sandbox-service.js";
import { withSpecGrpcMessages } from "./server/grpc-message-encoding.js";
import { createSinglePortServer } from "./server/single-port-server.js";

export interface AureaAppOptions {
  readonly config: AureaConfig;
  readonly logger: Logger;
  /** The engine connection; DOCKER_HOST or the local socket when omitted. */
  readonly docker?: Docker;
  /** Path of the Dockerfile the sandbox image is built from (default `Dockerfile.sandbox`). */
  readonly dockerfilePath?: string;
}

export interface AureaApp {
  /** Builds the sandbox image if it is missing and allowed to, then listens. */
  start(): Promise<AddressInfo>;
  /** Stops listening and lets calls in flight finish for up to `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Longest an image build may take. */
const imageBuildTimeoutMs = 15 * 60_000;

/** Wires configuration, engine clients, runner, service and the one-port server together. */
export function createAureaApp(options: AureaAppOptions): AureaApp {
  const { config, logger } = options;
  const version = readAureaVersion();
  const docker = options.docker ?? connectDocker();
  const engine = new DockerodeEngineClient(docker, logger);
  const images = new DockerodeImageClient(docker, logger);
  const containers = new DockerodeContainerClient(docker, logger);
  const instanceId = randomUUID();
  const runner = createRunner({
    containers,
    image: config.sandboxImage,
    instanceId,
    outputLimitBytes: config.outputLimitBytes,
    logger,
  });
  const health = createHealthChecker({ engine, images, sandboxImage: config.sandboxImage });
  const service = createSandboxService({ runner, health, policy: config, version, logger });
  const handler = connectNodeAdapter({
    routes: (router) => router.service(SandboxService, service),
    readMaxBytes: config.maxRequestBytes,
    // snake_case names and default values in JSON, as the original REST API answered.
    jsonOptions: { useProtoFieldName: true, alwaysEmitImplicit: true },
  });
  const server = createSinglePortServer({
    handler: withSpecGrpcMessages(handler),
    host: config.host,
    port: config.port,
    logger,
  });

  async function ensureSandboxImage(): Promise<void> {
    try {
      if (await images.exists(config.sandboxImage)) return;
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "container engine unreachable at start; serving anyway");
      return;
    }
    if (!config.buildImageOnStart) {
      logger.warn({ image: config.sandboxImage }, "sandbox image missing and SANDBOX_BUILD_ON_START is off");
      return;
    }
    const dockerfilePath = options.dockerfilePath ?? "Dockerfile.sandbox";
    logger.info({ image: config.sandboxImage, base: config.sandboxBaseImage }, "building missing sandbox image");
    try {
      const imageId = await images.build({
        tag: config.sandboxImage,
        dockerfile: await readFile(dockerfilePath, "utf8"),
        buildArgs: { BASE_IMAGE: config.sandboxBaseImage },
        onLog: (line) => logger.debug({ build: line }, "image build"),
        timeoutMs: imageBuildTimeoutMs,
      });
      logger.info({ image: config.sandboxImage, image_id: imageId }, "sandbox image built");
    } catch (error) {
      logger.error({ image: config.sandboxImage, err: (error as Error).message }, "sandbox image build failed");
    }
  }

  return {
    async start() {
      await ensureSandboxImage();
      const address = await server.listen();
      const report = await health.check();
      logger.info(
        {
          address: `${address.address}:${address.port}`,
          version,
          instance_id: instanceId,
          serving: report.serving,
          docker_version: report.dockerVersion || undefined,
          detail: report.detail || undefined,
          config,
        },
        "aurea ready",
      );
      return address;
    },
    async stop(graceMs = 10_000) {
      await server.close(graceMs);
      logger.info("aurea stopped");
    },
  };
}
