import type { Runtime, RunscPlatform } from "./runtimes.js";

/**
 * What a sandbox is, independent of the engine that makes it: its limits, its shape and its user.
 * The runner and sessions decide these; docker/container-options.ts maps them onto the engine.
 */

/** uid:gid of the unprivileged `sandbox` user baked into Dockerfile.sandbox: the program's user. */
export const sandboxUser = "10001:10001";

/** Everything fixed at creation time that distinguishes one kind of sandbox from another. */
export interface SandboxShape {
  readonly image: string;
  readonly readonlyRootfs: boolean;
  /** OCI runtime registered with the engine. */
  readonly runtime: Runtime;
  /** gVisor's platform, for `runsc` (the server's RUNSC_PLATFORM). */
  readonly runscPlatform: RunscPlatform;
  /** seccomp profile as JSON text; undefined leaves the engine's built-in default. */
  readonly seccompProfile: string | undefined;
  /**
   * The program runs with POSIX message queues denied (images/helper/aurea-no-mqueue.c): set for
   * runs under runsc where sandboxes are recycled, since gVisor keeps queues where no scrub can
   * list them and ignores the seccomp profile (runner/recycle-rules.ts).
   */
  readonly denyMessageQueues?: boolean;
}

/** Resource limits of one run, already resolved against the server's maxima. */
export interface SandboxLimits {
  /** CPU cores (fractional). */
  readonly cpu: number;
  /** Memory in bytes; swap is set equal, so the container gets none. */
  readonly memoryBytes: number;
  /** Processes and threads alive at once. */
  readonly pids: number;
  /** Size of the workspace tmpfs in bytes. */
  readonly workspaceBytes: number;
  /** Most files and directories (inodes) the workspace tmpfs holds. */
  readonly workspaceFiles: number;
  /** Size of the /tmp tmpfs (and of /dev/shm) in bytes. */
  readonly tmpBytes: number;
}
