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
  /** `FROM` image, passed as the BASE_IMAGE build argument (SANDBOX_BASE_IMAGE). */
  readonly baseImage: string;
  readonly dockerfilePath: string;
  readonly logger: Logger;
  /** Called after every successful build, so health can look again at once. */
  readonly onBuilt?: (imageId: string) => void;
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
      options.logger.info({ image: options.tag, base: options.baseImage, no_cache: noCache }, "image build started");
      const imageId = await options.images
        .build({
        tag: options.tag,
        dockerfile: await readFile(options.dockerfilePath, "utf8"),
        buildArgs: { BASE_IMAGE: options.baseImage },
        noCache,
        timeoutMs: buildTimeoutMs,
        onLog: (line) => {
          if (lines.length < maxReplayLines) lines.push(line);
          for (const listener of listeners) listener(line);
        },
      })
        .catch((error: Error) => {
          error.message = `building ${options.tag} on ${options.baseImage}: ${error.message}`;
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
      const build = (running ??= start(noCache));
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
