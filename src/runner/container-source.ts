import type { Duplex } from "node:stream";
import type { ContainerClient } from "../docker/container-client.js";
import { toContainerCreateOptions, type SandboxContainerRequest } from "../docker/container-options.js";
import type { Language } from "./languages.js";

/** A container handed to one run, and only to that run. */
export interface ContainerLease {
  readonly id: string;
  /**
   * `cold`: created for this run, not started yet; its supervisor runs the program itself.
   * `warm`: started earlier with the language's loader waiting (warm-loaders.ts), which reads a
   * run message before the program's stdin.
   */
  readonly mode: "cold" | "warm";
  /**
   * The container's stdio, already attached (a warm container's, attached while it warmed up,
   * positioned after its loader's ready marker); undefined for the runner to attach itself.
   */
  readonly attachment?: Duplex;
  /** Starts the container; a warm one is already running and this does nothing. */
  start(): Promise<void>;
}

/**
 * Where a run's container comes from. The run lifecycle (attach, feed input, collect output,
 * wait, verdict, removal) is the same whatever the source, so a warm pool takes the place of the
 * cold source without touching it. Removal is always the lifecycle's job.
 */
export interface ContainerSource {
  acquire(request: SandboxContainerRequest, language: Language): Promise<ContainerLease>;
}

/** Creates a brand-new container for every run. */
export function createColdContainerSource(containers: ContainerClient): ContainerSource {
  return {
    async acquire(request) {
      const id = await containers.create(toContainerCreateOptions(request));
      return { id, mode: "cold", start: () => containers.start(id) };
    },
  };
}
