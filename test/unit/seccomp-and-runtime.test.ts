import { describe, expect, it } from "vitest";
import type { EngineVersion } from "../../src/docker/engine-client.js";
import { pino } from "pino";
import { assessRuntime, checkRuntimeSafety, engineRuntimesNeeded } from "../../src/docker/runtime-check.js";
import { FakeEngine } from "../support/fake-engine.js";
import { deniedSyscalls, hardenSeccompProfile, loadSeccompProfile } from "../../src/docker/seccomp-profile.js";

const base = JSON.stringify({
  defaultAction: "SCMP_ACT_ERRNO",
  archMap: [{ architecture: "SCMP_ARCH_X86_64" }],
  syscalls: [
    { names: ["read", "write", "ptrace", "io_uring_setup"], action: "SCMP_ACT_ALLOW" },
    { names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0, op: "SCMP_CMP_EQ" }] },
    { names: ["bpf", "perf_event_open"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
  ],
});

describe("hardenSeccompProfile", () => {
  const hardened = JSON.parse(hardenSeccompProfile(base)) as {
    defaultAction: string;
    archMap: unknown;
    syscalls: { names: string[]; action: string; errnoRet?: number }[];
  };

  it("keeps the base profile's default action, architectures and other allowed calls", () => {
    expect(hardened.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(hardened.archMap).toEqual([{ architecture: "SCMP_ARCH_X86_64" }]);
    expect(hardened.syscalls[0]).toEqual({ names: ["read", "write"], action: "SCMP_ACT_ALLOW" });
  });

  it("allows none of the denied calls under any rule, and denies them with EPERM", () => {
    const allowed = hardened.syscalls.filter((rule) => rule.action === "SCMP_ACT_ALLOW").flatMap((rule) => rule.names);
    for (const name of deniedSyscalls) expect(allowed).not.toContain(name);
    expect(hardened.syscalls.at(-1)).toEqual({ names: [...deniedSyscalls], action: "SCMP_ACT_ERRNO", errnoRet: 1 });
  });

  it("drops rules left with no names", () => {
    expect(hardened.syscalls).toHaveLength(2);
  });

  it("refuses a profile that allows by default", () => {
    expect(() => hardenSeccompProfile(JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [] }))).toThrow(
      /must deny by default/,
    );
  });
});

describe("loadSeccompProfile", () => {
  it("keeps the engine's built-in default when told to", () => {
    expect(loadSeccompProfile("builtin", () => "")).toBeUndefined();
  });

  it("names the path and the remedy when the base profile is missing", () => {
    const missing = () => {
      throw new Error("ENOENT");
    };
    expect(() => loadSeccompProfile("/nope.json", missing)).toThrow(
      /\/nope\.json cannot be read \(ENOENT\); run scripts\/ensure-engine\.sh/,
    );
  });
});

function engine(runc: string | undefined, commit = ""): EngineVersion {
  return {
    version: "20.10.24",
    apiVersion: "1.41",
    components: runc === undefined ? {} : { runc },
    componentCommits: runc === undefined ? {} : { runc: commit },
  };
}

describe("assessRuntime (CVE-2024-21626)", () => {
  it.each([
    ["1.1.12", "", true],
    ["1.1.14", "v1.1.14-0-g2c9f560", true],
    ["1.2.0", "", true],
    ["1.1.5+ds1", "1.1.5+ds1-1+deb12u1", true],
    ["1.1.11", "v1.1.11-0-g4bccb38", false],
    ["1.1.5+ds1", "1.1.5+ds1-1", false],
    ["1.0.0-rc93", "", false],
  ])("runc %s (%s) safe: %s", (version, commit, safe) => {
    expect(assessRuntime(engine(version, commit)).safe).toBe(safe);
  });

  it("is not safe when the engine does not say", () => {
    expect(assessRuntime(engine(undefined))).toMatchObject({ safe: false, runc: "unknown" });
  });
});

describe("gVisor's platform at start", () => {
  const config = {
    defaultRuntime: "runc" as const,
    allowedRuntimes: ["runc", "runsc"] as const,
    runscPlatform: "systrap" as const,
    seccompBaseProfile: "builtin",
    readonlyDefault: true,
    allowVulnerableRuntime: false,
  };

  it("needs the platform's registration, with and without a network, for each allowed runtime", () => {
    expect(engineRuntimesNeeded(["runc", "runsc"], ["systrap", "ptrace"])).toEqual([
      "runc",
      "runsc-systrap",
      "runsc-systrap-network",
      "runsc",
      "runsc-network",
    ]);
    expect(engineRuntimesNeeded(["runsc"], ["ptrace", "ptrace"])).toEqual(["runsc", "runsc-network"]);
    expect(engineRuntimesNeeded(["runc"], ["kvm"])).toEqual(["runc"]);
  });

  it("serves when every registration is there, and names the missing ones in the log otherwise", async () => {
    const engine = new FakeEngine();
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    await checkRuntimeSafety({ engine, config, seccompProfile: undefined, logger });
    expect(lines.join("")).not.toContain("not registered");

    engine.registeredRuntimes = ["runc", "runsc", "runsc-network"];
    await checkRuntimeSafety({ engine, config, seccompProfile: undefined, logger });
    const warning = lines.map((line) => JSON.parse(line)).find((line) => String(line.msg).includes("not registered"));
    expect(warning?.missing).toEqual(["runsc-systrap", "runsc-systrap-network"]);
    expect(warning?.msg).toContain("RUNSC_PLATFORM");
  });

  it("refuses to serve when the default runtime's registration is missing", async () => {
    const engine = new FakeEngine();
    engine.registeredRuntimes = ["runc", "runsc", "runsc-network"];
    await expect(
      checkRuntimeSafety({
        engine,
        config: { ...config, defaultRuntime: "runsc", runscPlatform: "kvm" },
        seccompProfile: undefined,
        logger: pino({ level: "silent" }),
      }),
    ).rejects.toThrow(/runsc-kvm is not registered/);
  });
});
