import type Docker from "dockerode";
import { type SandboxLimits, type SandboxShape, sandboxUser } from "../sandbox/limits.js";
import { engineRuntimeName, type Runtime, runtimeTraits, supervisorProcesses } from "../sandbox/runtimes.js";
import { workspaceDir } from "../sandbox/supervisor-protocol.js";

const [sandboxUid, sandboxGid] = sandboxUser.split(":");

/**
 * Pure mapping from what a run needs to the Engine API's container-create body. Everything that
 * makes a sandbox a sandbox is decided here, in one place, and unit-tested field by field.
 */

/**
 * The supervisor's user (PID 1): root in the container, holding only the capabilities it needs to
 * start the program as `sandboxUser` with no capability in any set (SETPCAP empties the bounding
 * set) and to kill what the program leaves. Being another user is
 * what keeps the program from signalling, tracing or reading it, under runc and gVisor alike.
 */
export const supervisorUser = "0:0";
export const supervisorCapabilities: readonly string[] = ["CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_SETPCAP"];

/** Labels that mark Aurea's containers, so they can be found (and reaped) by label alone. */
export const containerLabels = {
  managed: "dev.aurea.managed",
  runId: "dev.aurea.run-id",
  instance: "dev.aurea.instance",
  /** What a warm container waits to run: a language's name, or NAME:compile for its warm compiler. */
  warmFor: "dev.aurea.warm-for",
} as const;

/**
 * Paths masked inside the container: the engine's default set (MaskedPaths replaces it, so it is
 * repeated here) plus the supervisor's memory, so a program cannot read its nonce from PID 1.
 */
export const maskedPaths: readonly string[] = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/proc/1/mem",
  "/proc/1/task/1/mem",
];

export interface SandboxContainerRequest {
  readonly runId: string;
  /** Identifies the server process that owns the container. */
  readonly instanceId: string;
  readonly shape: SandboxShape;
  readonly limits: SandboxLimits;
  /** argv of the container's process (after the engine's init). */
  readonly command: readonly string[];
  /** Extra `NAME=value` entries on top of the fixed minimal environment. */
  readonly env?: readonly string[];
  /** The egress network the sandbox joins instead of none (egress/egress-gateway.ts). */
  readonly network?: SandboxNetwork | undefined;
  /**
   * Keeps stdin open when a server detaches, for a container that serves run after run (the
   * supervisor's recycle mode): each run's input is counted, not ended.
   */
  readonly stdinStaysOpen?: boolean;
  /** For a warm container: what it waits to run (the warmFor label), for operators and benches. */
  readonly warmFor?: string | undefined;
}

/** A sandbox's one network: its own, whose only other member is the egress gateway. */
export interface SandboxNetwork {
  /** The engine network's name. */
  readonly name: string;
  /** The gateway's address there: the only DNS server. */
  readonly gatewayAddress: string;
}

/**
 * The only environment a sandbox sees besides the image's own and what a request sets:
 * nothing of the server's environment is ever passed through.
 */
export const baseEnvironment: readonly string[] = [
  "PATH=/usr/local/bin:/usr/bin:/bin",
  `HOME=${workspaceDir}`,
  "LANG=C.UTF-8",
  "TMPDIR=/tmp",
  "PYTHONDONTWRITEBYTECODE=1",
];

const openFilesLimit = 1024;

/** The engine's resource fields for CPU, memory and processes: the same at creation and in a live update. */
export interface EngineResources {
  readonly NanoCpus: number;
  readonly Memory: number;
  readonly MemorySwap: number;
  readonly PidsLimit: number;
}

/** Maps CPU, memory and process limits onto the engine's fields. Pure. */
export function toEngineResources(
  runtime: Runtime,
  limits: Pick<SandboxLimits, "cpu" | "memoryBytes" | "pids">,
): EngineResources {
  return {
    NanoCpus: Math.round(limits.cpu * 1e9),
    Memory: limits.memoryBytes,
    // Equal to Memory: no swap, so a memory bomb is killed instead of thrashing the host.
    MemorySwap: limits.memoryBytes,
    PidsLimit: runtimeTraits[runtime].hostTaskLimit(limits.pids),
  };
}

/** Mount options every tmpfs of a sandbox gets. */
const tmpfsOptions = "rw,nosuid,nodev";

/**
 * The workspace: a tmpfs capped in bytes and in files, the program's own, from which programs may
 * be executed (`exec`: Docker's tmpfs is noexec unless told), because a compiled language's
 * program is the file its compiler wrote there. That gives a program nothing it lacked: any
 * interpreter in the image runs whatever it writes. /tmp stays noexec. Where the runtime's own
 * tmpfs ignores the file cap (gVisor's), it is a tmpfs the host kernel mounts, as an anonymous
 * volume that is removed with the container, so the host enforces both caps.
 */
function workspaceMount(shape: SandboxShape, limits: SandboxLimits): Pick<Docker.HostConfig, "Tmpfs" | "Mounts"> {
  const options = `size=${limits.workspaceBytes},nr_inodes=${limits.workspaceFiles},uid=${sandboxUid},gid=${sandboxGid},mode=0711`;
  const tmp = { "/tmp": `${tmpfsOptions},noexec,size=${limits.tmpBytes},mode=1777` };
  if (!runtimeTraits[shape.runtime].workspaceOnHostTmpfs)
    return { Tmpfs: { [workspaceDir]: `${tmpfsOptions},exec,${options}`, ...tmp } };
  return {
    Tmpfs: tmp,
    Mounts: [
      {
        Type: "volume",
        // No name: an anonymous volume, made for this container and removed with it.
        Source: "",
        Target: workspaceDir,
        VolumeOptions: {
          NoCopy: true,
          Labels: {},
          DriverConfig: { Name: "local", Options: { type: "tmpfs", device: "tmpfs", o: `nosuid,nodev,${options}` } },
        },
      },
    ],
  };
}

/**
 * The network fields: none at all, or the sandbox's egress network with the gateway as its only
 * DNS server. Under runc, ICMP echo sockets (which the engine opens to every group) are closed
 * again: a sandbox with a network pings nothing, not even the gateway.
 */
function networkFields(shape: SandboxShape, network: SandboxNetwork | undefined): Docker.HostConfig {
  if (!network) return { NetworkMode: "none", Runtime: engineRuntimeName(shape.runtime, shape.runscPlatform, false) };
  return {
    NetworkMode: network.name,
    Runtime: engineRuntimeName(shape.runtime, shape.runscPlatform, true),
    Dns: [network.gatewayAddress],
    DnsSearch: [],
    DnsOptions: ["ndots:0"],
    ...(shape.runtime === "runc" ? { Sysctls: { "net.ipv4.ping_group_range": "1 0" } } : {}),
  };
}

/** Maps limits and shape onto HostConfig. Pure. */
export function toHostConfig(shape: SandboxShape, limits: SandboxLimits, network?: SandboxNetwork): Docker.HostConfig {
  return {
    ...toEngineResources(shape.runtime, limits),
    ...networkFields(shape, network),
    CapDrop: ["ALL"],
    CapAdd: [...supervisorCapabilities],
    SecurityOpt: ["no-new-privileges", ...(shape.seccompProfile !== undefined ? [`seccomp=${shape.seccompProfile}`] : [])],
    MaskedPaths: [...maskedPaths],
    ReadonlyRootfs: shape.readonlyRootfs,
    ...workspaceMount(shape, limits),
    IpcMode: "private",
    ShmSize: limits.tmpBytes,
    // No engine init: Aurea's own supervisor (sandbox/programs/supervisor.sh) is PID 1, running as
    // another user than the program, so the program cannot signal, trace or read it, nor forge
    // the report it writes after the program ends. It reaps orphans while it waits, which is
    // what docker-init would have done.
    Init: false,
    Privileged: false,
    // Output is read from the attach stream; logging it too would let a flood fill the host disk.
    LogConfig: { Type: "none", Config: {} },
    Ulimits: [
      { Name: "nofile", Soft: openFilesLimit, Hard: openFilesLimit },
      { Name: "core", Soft: 0, Hard: 0 },
      // No single file may be larger than the workspace.
      { Name: "fsize", Soft: limits.workspaceBytes, Hard: limits.workspaceBytes },
      // Counted per user inside the sandbox's own kernel where the runtime has one (runtimes.ts).
      ...(runtimeTraits[shape.runtime].processLimitInside
        ? [{ Name: "nproc", Soft: limits.pids + supervisorProcesses, Hard: limits.pids + supervisorProcesses }]
        : []),
    ],
    AutoRemove: false,
  };
}

/**
 * stdio for a server that attaches before start: stdin open once (closed when the server detaches),
 * stdout and stderr multiplexed (no TTY).
 */
export const attachedStdio = {
  OpenStdin: true,
  StdinOnce: true,
  AttachStdin: true,
  AttachStdout: true,
  AttachStderr: true,
  Tty: false,
} as const;

/** Maps a run's container request onto the create body. Pure. */
export function toContainerCreateOptions(request: SandboxContainerRequest): Docker.ContainerCreateOptions {
  return {
    Image: request.shape.image,
    Cmd: [...request.command],
    User: supervisorUser,
    WorkingDir: workspaceDir,
    Env: [...baseEnvironment, ...(request.env ?? [])],
    Hostname: "sandbox",
    // Aurea never stops a sandbox gracefully (it kills), and PID 1 ignores SIGTERM: this keeps an
    // engine shutdown from waiting the default ten seconds on every sandbox.
    StopTimeout: 1,
    NetworkDisabled: request.network === undefined,
    Labels: {
      [containerLabels.managed]: "true",
      [containerLabels.runId]: request.runId,
      [containerLabels.instance]: request.instanceId,
      ...(request.warmFor ? { [containerLabels.warmFor]: request.warmFor } : {}),
    },
    // stdin is attached before start and closed by the server once the input is written, unless
    // the container serves more than one run.
    ...attachedStdio,
    ...(request.stdinStaysOpen ? { StdinOnce: false } : {}),
    HostConfig: toHostConfig(request.shape, request.limits, request.network),
  };
}

/**
 * A marker: a container that is created and never started, whose name and labels say something
 * to every server sharing the engine (a server's lease, a request id's claim). It runs nothing,
 * so it needs no limits; it is labelled managed, so the reaper takes it once its owner is gone.
 */
export function toMarkerCreateOptions(marker: {
  readonly image: string;
  readonly instanceId: string;
  /** What it stands for, in the run-id label (for logs). */
  readonly purpose: string;
  readonly labels: Readonly<Record<string, string>>;
  /** A name the engine keeps unique, when the marker is a claim on it. */
  readonly name?: string;
}): Docker.ContainerCreateOptions {
  return {
    ...(marker.name ? { name: marker.name } : {}),
    Image: marker.image,
    Cmd: ["true"],
    Labels: {
      [containerLabels.managed]: "true",
      [containerLabels.instance]: marker.instanceId,
      [containerLabels.runId]: marker.purpose,
      ...marker.labels,
    },
    NetworkDisabled: true,
    HostConfig: { NetworkMode: "none" },
  };
}
