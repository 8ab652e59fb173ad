/**
 * The OCI runtimes Aurea runs sandboxes under, and how each one differs in ways the rest of the
 * code must know. Everything that depends on the runtime asks these traits, never the name.
 */
export const runtimes = ["runc", "runsc"] as const;

/** `runc`: namespaces and cgroups on the host kernel; `runsc`: gVisor's user-space kernel on top. */
export type Runtime = (typeof runtimes)[number];

/**
 * gVisor's platforms: how its Sentry intercepts the program's system calls. `ptrace` works
 * everywhere, costs about 80 us a system call here, and starts sandboxes and processes fastest;
 * `systrap` (seccomp traps) makes system calls several times cheaper but every new process
 * dearer (a stub process on the host per address space), and burns CPU while idle; `kvm` needs a
 * working /dev/kvm. The default (config.ts, RUNSC_PLATFORM) is the one `npm run bench:gvisor`
 * measures fastest for the common short run on this machine: ptrace.
 */
export const runscPlatforms = ["ptrace", "systrap", "kvm"] as const;
export type RunscPlatform = (typeof runscPlatforms)[number];

/**
 * The engine's name for `runtime` on `platform`, with or without a network (an egress policy).
 * scripts/ensure-engine.sh registers gVisor once per platform and network: `runsc` (ptrace, the
 * name a plain `docker run --runtime runsc` uses) and `runsc-systrap`, `runsc-kvm` (only where a
 * KVM sandbox starts), each with `--network=none`, and each again with `-network` and
 * `--network=host`, which serves the program's sockets from the container's own network
 * namespace (only the egress network is in it). gVisor's own network stack
 * (`--network=sandbox`) refuses to start on this kind of host ("cannot run with network enabled
 * in root network namespace": it cannot read PID 1's namespace here).
 */
export function engineRuntimeName(runtime: Runtime, platform: RunscPlatform, networked: boolean): string {
  if (runtime === "runc") return runtime;
  const base = platform === "ptrace" ? "runsc" : `runsc-${platform}`;
  return networked ? `${base}-network` : base;
}

/**
 * Whether the host's memory kill may end the program alone, leaving the sandbox to report an
 * ordinary-looking status: on gVisor's systrap platform every guest address space has a stub
 * process on the host, and the OOM killer picks one of those (measured with 20240729: Python's
 * memory bomb ends with status 1 and the supervisor reports it). Only the engine's OOM flag, set
 * when the container exits, tells. On ptrace the kill takes the whole sandbox (runtimeTraits).
 * kvm is unmeasured here, so it is treated as systrap is.
 */
/**
 * gVisor's platform for sessions, whatever RUNSC_PLATFORM says. A session lives long and mostly
 * waits: an idle sandbox on systrap burns about 40 ms of CPU a second, paused or not, where one on
 * ptrace burns none (`npm run bench:gvisor`); and a session's agent could not tell an exec the host
 * killed for memory from one that failed (memoryKillMayEndProgramOnly), where on ptrace the whole
 * sandbox ends and says so.
 */
export const sessionRunscPlatform: RunscPlatform = "ptrace";

export function memoryKillMayEndProgramOnly(runtime: Runtime, platform: RunscPlatform): boolean {
  return runtime === "runsc" && platform !== "ptrace";
}

export function isRunscPlatform(name: string | undefined): name is RunscPlatform {
  return (runscPlatforms as readonly (string | undefined)[]).includes(name);
}

export function isRuntime(name: string): name is Runtime {
  return (runtimes as readonly string[]).includes(name);
}

export interface RuntimeTraits {
  /** The engine can change CPU, memory and process limits of a running container. */
  readonly liveLimitUpdates: boolean;
  /**
   * A memory kill takes the whole sandbox, supervisor included, so no report comes: the engine's
   * exit 137 or OOM flag without one is read as the memory kill it is (verdict.ts).
   */
  readonly memoryKillEndsSandbox: boolean;
  /** The engine's pids limit for a program allowed `pids` processes and threads. */
  hostTaskLimit(pids: number): number;
  /**
   * The program's output goes through pipes inside the sandbox and the supervisor's relays,
   * because the runtime completes a large write to the container's stdout only partly.
   */
  readonly relaysOutput: boolean;
  /**
   * The program's process count is held by RLIMIT_NPROC inside the sandbox (gVisor counts every
   * task of the sandbox against it), so a program that runs out of processes gets EAGAIN from the
   * sandbox's own kernel, never from the host's pids limit under the runtime itself. The
   * container's own limit is higher by `supervisorProcesses`, so the supervisor can always fork.
   */
  readonly processLimitInside: boolean;
  /** Least memory a run may ask for: below it the runtime cannot start a sandbox that runs anything. */
  readonly minimumMemoryBytes: number;
  /** Least CPU (cores) a run may ask for: below it the runtime's own start-up starves. */
  readonly minimumCpu: number;
  /**
   * The workspace is a tmpfs mounted by the host kernel (an anonymous volume), because the
   * runtime's own tmpfs does not enforce a file count (gVisor ignores nr_inodes).
   */
  readonly workspaceOnHostTmpfs: boolean;
  /**
   * The supervisor reads the program's peak memory from the container's cgroup, whose peak counts
   * from the container's start: a recycled container's must be reset between runs (recycler.ts).
   */
  readonly peakMemoryFromCgroup: boolean;
  /**
   * POSIX message queues live in a file system a scrub can list (/dev/mqueue); gVisor keeps them
   * in its own kernel, with none (recycle-rules.ts).
   */
  readonly posixMessageQueuesListable: boolean;
}

/**
 * Under gVisor the engine's pids limit counts the sandbox kernel's threads plus, on the ptrace
 * platform, stub tasks for every guest task: up to about 15 host tasks per guest task, measured
 * here during a fork bomb with gVisor 20240729. The host limit only has to keep the Sentry itself
 * from failing (the program's own count is held inside), so it is generous.
 */
const gvisorTasksPerProcess = 20;
const gvisorBaseTasks = 256;
/** Processes of the supervisor's own (itself, relays, a kill helper, collection), besides the program's. */
export const supervisorProcesses = 16;

export const runtimeTraits: Readonly<Record<Runtime, RuntimeTraits>> = {
  runc: {
    liveLimitUpdates: true,
    memoryKillEndsSandbox: false,
    hostTaskLimit: (pids) => pids,
    relaysOutput: false,
    // RLIMIT_NPROC counts a uid's processes across the whole host under runc: concurrent sandboxes
    // would share one count. The cgroup's pids limit is exact here.
    processLimitInside: false,
    minimumMemoryBytes: 8 * 1024 * 1024,
    minimumCpu: 0.01,
    workspaceOnHostTmpfs: false,
    peakMemoryFromCgroup: true,
    posixMessageQueuesListable: true,
  },
  runsc: {
    // gVisor takes no live updates of its sandbox's limits.
    liveLimitUpdates: false,
    // The memory limit applies to the whole sandbox, its user-space kernel included, so the host
    // SIGKILLs the sandbox before the supervisor can report, and the engine seldom flags it.
    memoryKillEndsSandbox: true,
    hostTaskLimit: (pids) => (pids + supervisorProcesses) * gvisorTasksPerProcess + gvisorBaseTasks,
    relaysOutput: true,
    processLimitInside: true,
    // The Sentry's own memory counts against the container's limit: below this, runsc fails to
    // start the sandbox or kills a one-line program (measured with gVisor 20240729: Python's
    // print runs at 24 MiB, not at 16 MiB; Node's at 40 MiB).
    minimumMemoryBytes: 32 * 1024 * 1024,
    // The Sentry runs within the container's CPU quota: at 0.01 a one-line program took 44 s to
    // start, at 0.1 about 3 s, at 0.25 about 1 s (measured here).
    minimumCpu: 0.1,
    workspaceOnHostTmpfs: true,
    // gVisor's cgroup files have no peak (memory.max_usage_in_bytes): the report carries none.
    peakMemoryFromCgroup: false,
    posixMessageQueuesListable: false,
  },
};
