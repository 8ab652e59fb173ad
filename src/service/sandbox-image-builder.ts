import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import type { ImageClient } from "../docker/image-client.js";

/** Builds the sandbox image, one build at a time. */
export interface SandboxImageBuilder {
  /**
   * Starts a build, or joins the one already running: `onLog` receives every line of that build
   * from its start, and the promise settles with its image id or its failure.
   */
  build(options: { noCache?: boolean; onLog?: (line: string) => void }): Promise<string>;
}

export interface SandboxImageBuilderOptions {
  readonly images: ImageClient;
  /** Name:tag to build (SANDBOX_IMAGE). */
  readonly tag: string;
  /** `FROM` image, passed as the BASE_IMAGE build argument (SANDBOX_BASE_IMAGE), when the engine has it. */
  readonly baseImage: string;
  readonly dockerfilePath: string;
  readonly logger: Logger;
  /** Called after every successful build, so health can look again at once. */
  readonly onBuilt?: (imageId: string) => void;
}

/**
 * Base images made from Debian's mirror by scripts/ensure-base-image.sh where no registry answers.
 * When the configured base is not on the engine, a build uses the first of these that is.
 */
export const bootstrappedBaseImages: readonly string[] = ["aurea-base:bookworm"];

/**
 * The base a build starts from, decided afresh for every build: the configured one when the
 * engine has it, else a bootstrapped one it has, else the configured one again for the engine to
 * pull. So a restart on a machine with no registry builds from what is there.
 */
async function resolveBaseImage(images: ImageClient, configured: string): Promise<string> {
  for (const candidate of [configured, ...bootstrappedBaseImages]) {
    if (await images.exists(candidate)) return candidate;
  }
  return configured;
}

/** Lines kept for callers who join a running build late. */
const maxReplayLines = 5000;
const buildTimeoutMs = 15 * 60_000;

export function createSandboxImageBuilder(options: SandboxImageBuilderOptions): SandboxImageBuilder {
  let running: { lines: string[]; listeners: Set<(line: string) => void>; result: Promise<string> } | undefined;

  function start(noCache: boolean) {
    const lines: string[] = [];
    const listeners = new Set<(line: string) => void>();
    const result = (async () => {
      const baseImage = await resolveBaseImage(options.images, options.baseImage);
      options.logger.info({ image: options.tag, base: baseImage, no_cache: noCache }, "image build started");
      const imageId = await options.images
        .build({
          tag: options.tag,
          dockerfile: await readFile(options.dockerfilePath, "utf8"),
          buildArgs: { BASE_IMAGE: baseImage },
          noCache,
          timeoutMs: buildTimeoutMs,
          onLog: (line) => {
            if (lines.length < maxReplayLines) lines.push(line);
            for (const listener of listeners) listener(line);
          },
        })
        .catch((error: Error) => {
          error.message = `building ${options.tag} on ${baseImage}: ${error.message}`;
          throw error;
        });
      options.logger.info({ image: options.tag, image_id: imageId }, "image build finished");
      options.onBuilt?.(imageId);
      return imageId;
    })();
    result
      .catch((error: Error) => options.logger.error({ image: options.tag, err: error.message }, "image build failed"))
      .finally(() => (running = undefined));
    return { lines, listeners, result };
  }

  return {
    async build({ noCache = false, onLog }) {
      running ??= start(noCache);
      const build = running;
      if (!onLog) return build.result;
      for (const line of build.lines) onLog(line);
      build.listeners.add(onLog);
      try {
        return await build.result;
      } finally {
        build.listeners.delete(onLog);
      }
    },
  };
}
