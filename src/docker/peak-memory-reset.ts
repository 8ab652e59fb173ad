import { readFile, writeFile } from "node:fs/promises";
import type { Logger } from "pino";
import type { ContainerClient } from "./container-client.js";

/**
 * Resets a running container's peak-memory counter (cgroup v1's memory.max_usage_in_bytes) from
 * the host, between two runs of a recycled container, so the supervisor's next report is that
 * run's own peak: inside the container the cgroup files are read-only. It needs the host's /proc
 * and cgroup files (a server on the host, or one given them); where they are missing, or on
 * cgroup v2 (whose memory.peak resets only for the file descriptor that wrote it), it fails,
 * and the container is removed instead of recycled.
 */

/** The host file of a process's memory peak, from its /proc/PID/cgroup text; undefined without a v1 memory controller. */
export function peakMemoryFile(procCgroup: string): string | undefined {
  for (const line of procCgroup.split("\n")) {
    const [, controllers, ...path] = line.split(":");
    if (controllers?.split(",").includes("memory")) return `/sys/fs/cgroup/memory${path.join(":")}/memory.max_usage_in_bytes`;
  }
  return undefined;
}

export interface PeakMemoryResetOptions {
  readonly containers: Pick<ContainerClient, "mainPid">;
  readonly logger: Logger;
  /** The host's root for /proc and /sys (tests point it elsewhere). */
  readonly hostRoot?: string;
}

/** Containers whose peak file is remembered: more than recycled ones wait (recycler.ts). */
const rememberedFiles = 256;

export function createPeakMemoryReset(options: PeakMemoryResetOptions): (id: string) => Promise<void> {
  const root = options.hostRoot ?? "";
  // A container's cgroup never moves: its file is found once (an engine call and a read) and
  // kept, oldest forgotten first.
  const files = new Map<string, string>();
  const fileOf = async (id: string) => {
    const known = files.get(id);
    if (known) return known;
    const pid = await options.containers.mainPid(id);
    const file = peakMemoryFile(await readFile(`${root}/proc/${pid}/cgroup`, "utf8"));
    if (!file) throw new Error(`process ${pid} has no cgroup v1 memory controller`);
    if (files.size >= rememberedFiles) files.delete(files.keys().next().value as string);
    files.set(id, file);
    return file;
  };
  let warned = false;
  return async (id) => {
    try {
      await writeFile(`${root}${await fileOf(id)}`, "0");
    } catch (error) {
      files.delete(id);
      if (!warned) {
        warned = true;
        options.logger.warn(
          { container: id, err: (error as Error).message },
          "cannot reset a container's peak memory from here: containers are not recycled (RECYCLE_SANDBOXES)",
        );
      }
      throw error;
    }
  };
}
