import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { repositoryRoot } from "../config/repository.js";
import type { ImageClient } from "../docker/image-client.js";
import { coreFamily } from "../runner/languages.js";
import type { ImageFamily } from "./image-families.js";

/** Builds the sandbox images, one family at a time. */
export interface SandboxImageBuilder {
  /**
   * Builds one family's image (the core image first when it is missing, as every other family is
   * built FROM it), or joins the build of it already running: `onLog` receives every line of that
   * build from its start, and the promise settles with the image id or the failure. Without a
   * family (or with ""), builds every family in turn, core first, and settles with the last id;
   * an unknown family rejects with UnknownFamilyError before anything is built.
   */
  build(options: { family?: string; noCache?: boolean; onLog?: (line: string) => void }): Promise<string>;
  /** Families whose build is in progress now. */
  building(): ReadonlySet<string>;
}

export interface SandboxImageBuilderOptions {
  readonly images: ImageClient;
  /** Every family, core first (image-families.ts). */
  readonly families: readonly ImageFamily[];
  /** The core image's `FROM`, passed as the BASE_IMAGE build argument (SANDBOX_BASE_IMAGE), when the engine has it. */
  readonly baseImage: string;
  readonly logger: Logger;
  /**
   * Called after every successful build, so health can look again at once; the build's result is
   * given to callers once it resolves, so a run right after a build sees the new image.
   */
  readonly onBuilt?: (family: string, imageId: string) => void | Promise<void>;
  /** Called after every failed build. */
  readonly onFailed?: (family: string) => void;
}

/**
 * Base images made from Debian's mirror by scripts/ensure-base-image.sh where no registry answers.
 * When the configured base is not on the engine, a build uses the first of these that is.
 */
export const bootstrappedBaseImages: readonly string[] = ["aurea-base:trixie"];

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
const buildTimeoutMs = 30 * 60_000;

interface RunningBuild {
  readonly lines: string[];
  readonly listeners: Set<(line: string) => void>;
  readonly result: Promise<string>;
}

export function createSandboxImageBuilder(options: SandboxImageBuilderOptions): SandboxImageBuilder {
  const running = new Map<string, RunningBuild>();
  const found = options.families.find((family) => family.name === coreFamily);
  if (!found) throw new Error("no core image family");
  const core: ImageFamily = found;

  /**
   * The Dockerfile and the files it copies from its folder: the core one copies images/harden.sh
   * and the compiled helpers' sources (images/helper/).
   */
  async function contextOf(family: ImageFamily): Promise<{ dockerfile: string; files: Record<string, string> }> {
    const dockerfile = await readFile(family.dockerfilePath, "utf8");
    if (family.name !== coreFamily) return { dockerfile, files: {} };
    const images = join(repositoryRoot(), "images");
    const files: Record<string, string> = { "harden.sh": await readFile(join(images, "harden.sh"), "utf8") };
    for (const name of await readdir(join(images, "helper"))) {
      files[`helper/${name}`] = await readFile(join(images, "helper", name), "utf8");
    }
    return { dockerfile, files };
  }

  async function buildArgs(
    family: ImageFamily,
    noCache: boolean,
    onLog: (line: string) => void,
  ): Promise<Record<string, string>> {
    if (family.name === coreFamily) return { BASE_IMAGE: await resolveBaseImage(options.images, options.baseImage) };
    // Every family is built FROM the core image: build it first when it is not there.
    if (!(await options.images.exists(core.image))) await join_(core, noCache, onLog);
    return { CORE_IMAGE: core.image };
  }

  function start(family: ImageFamily, noCache: boolean): RunningBuild {
    const lines: string[] = [];
    const listeners = new Set<(line: string) => void>();
    const log = (line: string) => {
      if (lines.length < maxReplayLines) lines.push(line);
      for (const listener of listeners) listener(line);
    };
    const result = (async () => {
      const args = await buildArgs(family, noCache, log);
      const { dockerfile, files } = await contextOf(family);
      options.logger.info(
        { family: family.name, image: family.image, build_args: args, no_cache: noCache },
        "image build started",
      );
      const imageId = await options.images
        .build({ tag: family.image, dockerfile, files, buildArgs: args, noCache, timeoutMs: buildTimeoutMs, onLog: log })
        .catch((error: Error) => {
          error.message = `building ${family.image} (family ${family.name}): ${error.message}`;
          options.onFailed?.(family.name);
          throw error;
        });
      options.logger.info({ family: family.name, image: family.image, image_id: imageId }, "image build finished");
      await options.onBuilt?.(family.name, imageId);
      return imageId;
    })();
    result
      .catch((error: Error) => options.logger.error({ family: family.name, err: error.message }, "image build failed"))
      .finally(() => running.delete(family.name));
    return { lines, listeners, result };
  }

  async function join_(family: ImageFamily, noCache: boolean, onLog?: (line: string) => void): Promise<string> {
    let build = running.get(family.name);
    if (!build) {
      build = start(family, noCache);
      running.set(family.name, build);
    }
    if (!onLog) return build.result;
    for (const line of build.lines) onLog(line);
    build.listeners.add(onLog);
    try {
      return await build.result;
    } finally {
      build.listeners.delete(onLog);
    }
  }

  return {
    async build({ family = "", noCache = false, onLog }) {
      if (family === "") {
        let imageId = "";
        for (const each of options.families) {
          onLog?.(`=== family ${each.name}: ${each.image} ===`);
          imageId = await join_(each, noCache, onLog);
        }
        return imageId;
      }
      const wanted = options.families.find((candidate) => candidate.name === family);
      if (!wanted) throw new UnknownFamilyError(family, options.families);
      return join_(wanted, noCache, onLog);
    },
    building: () => new Set(running.keys()),
  };
}

/** A family no language names. */
export class UnknownFamilyError extends Error {
  override readonly name = "UnknownFamilyError";
  constructor(family: string, families: readonly ImageFamily[]) {
    super(`unknown image family ${JSON.stringify(family)}; one of ${families.map((known) => known.name).join(", ")}`);
  }
}
