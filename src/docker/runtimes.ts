/**
 * The OCI runtimes Aurea runs sandboxes under, and how each one differs in ways the rest of the
 * code must know. Everything that depends on the runtime asks these traits, never the name.
 */
export const runtimes = ["runc", "runsc"] as const;

/** `runc`: namespaces and cgroups on the host kernel; `runsc`: gVisor's user-space kernel on top. */
export type Runtime = (typeof runtimes)[number];

export function isRuntime(name: string): name is Runtime {
  return (runtimes as readonly string[]).includes(name);
}

export interface RuntimeTraits {
  /** The engine can change CPU, memory and process limits of a running container. */
  readonly liveLimitUpdates: boolean;
  /**
   * A memory kill takes the whole sandbox, supervisor included, so no report comes: an exit of
   * 137 without one is read as the memory kill it is.
   */
  readonly memoryKillEndsSandbox: boolean;
  /** The engine's pids limit for a program allowed `pids` processes and threads. */
  hostTaskLimit(pids: number): number;
}

/**
 * Under gVisor the engine's pids limit counts the sandbox kernel's threads plus, on the ptrace
 * platform, stub tasks for every guest process (about eight each, measured here), so the host
 * limit is scaled to give the program roughly the processes it asked for.
 */
const gvisorTasksPerProcess = 8;
const gvisorBaseTasks = 128;

export const runtimeTraits: Readonly<Record<Runtime, RuntimeTraits>> = {
  runc: {
    liveLimitUpdates: true,
    memoryKillEndsSandbox: false,
    hostTaskLimit: (pids) => pids,
  },
  runsc: {
    // gVisor takes no live updates of its sandbox's limits.
    liveLimitUpdates: false,
    // The memory limit applies to the whole sandbox, its user-space kernel included, so the host
    // SIGKILLs the sandbox before the supervisor can report, and the engine seldom flags it.
    memoryKillEndsSandbox: true,
    hostTaskLimit: (pids) => pids * gvisorTasksPerProcess + gvisorBaseTasks,
  },
};
