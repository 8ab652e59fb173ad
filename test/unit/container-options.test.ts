import { supervisorCommand } from "../../src/sandbox/sandbox-scripts.js";
import { describe, expect, it } from "vitest";
import type { RunscPlatform } from "../../src/sandbox/runtimes.js";
import { runcShape } from "../support/fixtures.js";
import { baseEnvironment, containerLabels, toContainerCreateOptions, toHostConfig } from "../../src/docker/container-options.js";

const limits = {
  cpu: 0.5,
  memoryBytes: 128 * 1024 * 1024,
  pids: 32,
  workspaceBytes: 64 * 1024 * 1024,
  workspaceFiles: 4096,
  tmpBytes: 16 * 1024 * 1024,
};

describe("toHostConfig", () => {
  const shape = {
    image: "aurea-sandbox:latest",
    readonlyRootfs: true,
    runtime: "runc" as const,
    runscPlatform: "ptrace" as const,
    seccompProfile: '{"defaultAction":"SCMP_ACT_ERRNO"}',
  };
  const hostConfig = toHostConfig(shape, limits);

  it("maps CPU, memory without swap, and processes", () => {
    expect(hostConfig.NanoCpus).toBe(500_000_000);
    expect(hostConfig.Memory).toBe(limits.memoryBytes);
    expect(hostConfig.MemorySwap).toBe(limits.memoryBytes);
    expect(hostConfig.PidsLimit).toBe(32);
  });

  it("locks the container down", () => {
    expect(hostConfig.NetworkMode).toBe("none");
    expect(hostConfig.CapDrop).toEqual(["ALL"]);
    expect(hostConfig.SecurityOpt).toEqual(["no-new-privileges", 'seccomp={"defaultAction":"SCMP_ACT_ERRNO"}']);
    expect(hostConfig.Runtime).toBe("runc");
    expect(hostConfig.MaskedPaths).toEqual(
      expect.arrayContaining(["/proc/kcore", "/sys/firmware", "/proc/1/mem", "/proc/1/task/1/mem"]),
    );
    expect(hostConfig.Privileged).toBe(false);
    // Aurea's supervisor is PID 1 (see sandbox/supervisor.sh), not the engine's init.
    expect(hostConfig.Init).toBe(false);
    expect(hostConfig.IpcMode).toBe("private");
    expect(hostConfig.LogConfig).toEqual({ Type: "none", Config: {} });
    expect(hostConfig.Binds).toBeUndefined();
    expect(hostConfig.Devices).toBeUndefined();
    // The supervisor's only capabilities: start the program as the sandbox user, kill what it leaves.
    expect(hostConfig.CapAdd).toEqual(["CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_SETPCAP"]);
  });

  it("gives size-capped tmpfs mounts for the workspace and /tmp", () => {
    expect(hostConfig.Tmpfs?.["/workspace"]).toBe(
      `rw,nosuid,nodev,exec,size=${limits.workspaceBytes},nr_inodes=4096,uid=10001,gid=10001,mode=0711`,
    );
    expect(hostConfig.Tmpfs?.["/tmp"]).toBe(`rw,nosuid,nodev,noexec,size=${limits.tmpBytes},mode=1777`);
    expect(hostConfig.Mounts).toBeUndefined();
  });

  it("under gVisor, whose tmpfs ignores a file count, mounts the workspace from a host tmpfs that enforces both caps", () => {
    const gvisor = toHostConfig({ ...shape, runtime: "runsc" }, limits);
    expect(gvisor.Tmpfs?.["/workspace"]).toBeUndefined();
    expect(gvisor.Mounts).toEqual([
      {
        Type: "volume",
        Source: "",
        Target: "/workspace",
        VolumeOptions: {
          NoCopy: true,
          Labels: {},
          DriverConfig: {
            Name: "local",
            Options: {
              type: "tmpfs",
              device: "tmpfs",
              o: `nosuid,nodev,size=${limits.workspaceBytes},nr_inodes=4096,uid=10001,gid=10001,mode=0711`,
            },
          },
        },
      },
    ]);
  });

  it("sets read-only root only when asked", () => {
    expect(hostConfig.ReadonlyRootfs).toBe(true);
    expect(toHostConfig({ ...shape, readonlyRootfs: false }, limits).ReadonlyRootfs).toBe(false);
  });

  it("selects the runtime, and leaves the engine's seccomp default only when given no profile", () => {
    const gvisor = toHostConfig({ ...shape, runtime: "runsc", seccompProfile: undefined }, limits);
    expect(gvisor.Runtime).toBe("runsc");
    // gVisor's own threads and per-process stubs count against the host pids limit, with room for
    // the supervisor's processes; the program's own count is held inside the sandbox.
    expect(gvisor.PidsLimit).toBe((32 + 16) * 20 + 256);
    expect(gvisor.Ulimits).toContainEqual({ Name: "nproc", Soft: 32 + 16, Hard: 32 + 16 });
    expect(hostConfig.Ulimits?.some((ulimit) => ulimit.Name === "nproc")).toBe(false);
    expect(gvisor.SecurityOpt).toEqual(["no-new-privileges"]);
  });

  it("names gVisor's registration for the server's platform", () => {
    const on = (runscPlatform: RunscPlatform) => toHostConfig({ ...shape, runtime: "runsc", runscPlatform }, limits).Runtime;
    expect(on("ptrace")).toBe("runsc");
    expect(on("systrap")).toBe("runsc-systrap");
    expect(on("kvm")).toBe("runsc-kvm");
    expect(toHostConfig({ ...shape, runscPlatform: "systrap" }, limits).Runtime).toBe("runc");
  });

  it("limits open files, core dumps and file size", () => {
    expect(hostConfig.Ulimits).toEqual([
      { Name: "nofile", Soft: 1024, Hard: 1024 },
      { Name: "core", Soft: 0, Hard: 0 },
      { Name: "fsize", Soft: limits.workspaceBytes, Hard: limits.workspaceBytes },
    ]);
  });
});

describe("toContainerCreateOptions", () => {
  const options = toContainerCreateOptions({
    runId: "run-1",
    instanceId: "instance-1",
    shape: { ...runcShape, readonlyRootfs: false },
    limits,
    command: ["python3", "main.py"],
    env: ["GREETING=hi"],
  });

  it("starts the supervisor as root in the workspace; it runs the program as the unprivileged sandbox user", () => {
    expect(options.User).toBe("0:0");
    const command = supervisorCommand("cold", "runc", 32, ["python3", "main.py"]);
    expect(command.slice(-5)).toEqual(["-", "10001:10001", "direct", "python3", "main.py"]);
    expect(supervisorCommand("cold", "runsc", 32, ["true"]).slice(-4)).toEqual(["32", "10001:10001", "relay", "true"]);
    expect(options.WorkingDir).toBe("/workspace");
    expect(options.Image).toBe("aurea-sandbox:latest");
    expect(options.Cmd).toEqual(["python3", "main.py"]);
  });

  it("labels the container as Aurea's, with its run and owner", () => {
    expect(options.Labels).toEqual({
      [containerLabels.managed]: "true",
      [containerLabels.runId]: "run-1",
      [containerLabels.instance]: "instance-1",
    });
  });

  it("passes only the fixed environment plus what the request set", () => {
    expect(options.Env).toEqual([...baseEnvironment, "GREETING=hi"]);
  });

  it("attaches stdin once, without a TTY, and disables networking", () => {
    expect(options).toMatchObject({ OpenStdin: true, StdinOnce: true, Tty: false, NetworkDisabled: true });
  });

  it("keeps an engine shutdown from waiting on sandboxes", () => {
    expect(options.StopTimeout).toBe(1);
  });
});

describe("a sandbox with an egress network", () => {
  const shape = runcShape;
  const network = { name: "aurea-egress-run-1", gatewayAddress: "172.30.0.2" };
  const request = { runId: "run-1", instanceId: "i", shape, limits, command: ["true"] };

  it("joins its own network with the gateway as its only resolver, and no ICMP echo sockets under runc", () => {
    const options = toContainerCreateOptions({ ...request, network });
    expect(options.NetworkDisabled).toBe(false);
    expect(options.HostConfig).toMatchObject({
      NetworkMode: "aurea-egress-run-1",
      Runtime: "runc",
      Dns: ["172.30.0.2"],
      DnsSearch: [],
      Sysctls: { "net.ipv4.ping_group_range": "1 0" },
    });
  });

  it("runs under gVisor's networked registration when the runtime is runsc", () => {
    const hostConfig = toHostConfig({ ...shape, runtime: "runsc", runscPlatform: "ptrace" }, limits, network);
    expect(hostConfig.Runtime).toBe("runsc-network");
    expect(toHostConfig({ ...shape, runtime: "runsc", runscPlatform: "systrap" }, limits, network).Runtime).toBe(
      "runsc-systrap-network",
    );
    expect(hostConfig.Sysctls).toBeUndefined();
  });

  it("keeps no network at all without one", () => {
    const options = toContainerCreateOptions(request);
    expect(options.NetworkDisabled).toBe(true);
    expect(options.HostConfig).toMatchObject({ NetworkMode: "none", Runtime: "runc" });
    expect(options.HostConfig?.Dns).toBeUndefined();
  });
});
