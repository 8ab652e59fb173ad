import type { ContainerClient } from "../docker/container-client.js";
import { toContainerCreateOptions, type SandboxContainerRequest } from "../docker/container-options.js";

/** A container handed to one run, and only to that run. */
export interface ContainerLease {
  readonly id: string;
  /**
   * Starts the program. A cold container starts here; a container from a warm pool may already
   * be running and waiting for its input, in which case this does nothing.
   */
  start(): Promise<void>;
}

/**
 * Where a run's container comes from. The run lifecycle (attach, feed input, collect output,
 * wait, verdict, removal) is the same whatever the source, so a warm pool can take the place of
 * the cold source without touching it. Removal is always the lifecycle's job.
 */
export interface ContainerSource {
  acquire(request: SandboxContainerRequest): Promise<ContainerLease>;
}

/** Creates a brand-new container for every run. */
export function createColdContainerSource(containers: ContainerClient): ContainerSource {
  return {
    async acquire(request) {
      const id = await containers.create(toContainerCreateOptions(request));
      return { id, start: () => containers.start(id) };
    },
  };
}
