import type { Logger } from "pino";
import { engineRuntimeName, type Runtime, type RunscPlatform, sessionRunscPlatform } from "../sandbox/runtimes.js";
import { maskedPaths } from "./container-options.js";
import { sandboxUser } from "../sandbox/limits.js";
import type { EngineClient, EngineVersion } from "./engine-client.js";
import { deniedSyscalls } from "./seccomp-profile.js";

/**
 * Whether the engine's container runtime is known to be open to CVE-2024-21626 ("Leaky Vessels":
 * a leaked file descriptor lets a container reach the host file system through runc). Fixed in
 * runc 1.1.12 upstream, and in distribution builds that backport the fix, which keep an older
 * version number and say so in the package revision the engine reports as runc's commit.
 */
export type RuntimeAssessment =
  | { readonly safe: true; readonly runc: string; readonly reason: string }
  | { readonly safe: false; readonly runc: string; readonly reason: string };

/** Distribution builds of runc older than 1.1.12 that carry the CVE-2024-21626 fix. */
const patchedDistributionBuilds = [/^1\.1\.5\+ds1-1\+deb12u1$/];

function olderThan(version: string, minimum: readonly number[]): boolean {
  const parts = version
    .split(/[.+~-]/)
    .slice(0, minimum.length)
    .map(Number);
  for (let i = 0; i < minimum.length; i++) {
    const part = parts[i] ?? 0;
    if (Number.isNaN(part)) return true;
    const least = minimum[i] ?? 0;
    if (part !== least) return part < least;
  }
  return false;
}

export function assessRuntime(engine: EngineVersion): RuntimeAssessment {
  const runc = engine.components.runc;
  const commit = engine.componentCommits.runc ?? "";
  if (runc === undefined) {
    return { safe: false, runc: "unknown", reason: "the engine does not report its runc version" };
  }
  const label = commit ? `${runc} (${commit})` : runc;
  if (!olderThan(runc, [1, 1, 12])) return { safe: true, runc: label, reason: "runc 1.1.12 or later" };
  if (patchedDistributionBuilds.some((build) => build.test(commit))) {
    return { safe: true, runc: label, reason: "a distribution build with the CVE-2024-21626 fix backported" };
  }
  return { safe: false, runc: label, reason: "runc before 1.1.12 without a known backport of the CVE-2024-21626 fix" };
}

/**
 * The engine runtime names sandboxes of the allowed runtimes are created with, on gVisor's
 * platforms in use (runs' and sessions'), with and without a network. Pure.
 */
export function engineRuntimesNeeded(allowed: readonly Runtime[], platforms: readonly RunscPlatform[]): string[] {
  const names = allowed.flatMap((runtime) =>
    platforms.flatMap((platform) => [false, true].map((networked) => engineRuntimeName(runtime, platform, networked))),
  );
  return [...new Set(names)];
}

/**
 * Every engine runtime an allowed runtime needs is registered, or the log says which is not
 * (runs needing it are refused UNAVAILABLE). A server whose default runtime is missing cannot run
 * anything: it refuses to serve.
 */
async function checkRuntimesRegistered(
  engine: EngineClient,
  config: RuntimeSafetyCheck["config"],
  logger: Logger,
): Promise<void> {
  let registered: string[];
  try {
    registered = await engine.runtimes(5000);
  } catch {
    logger.warn("container engine unreachable at start: its runtimes could not be listed yet");
    return;
  }
  const platforms = [config.runscPlatform, sessionRunscPlatform];
  const missing = engineRuntimesNeeded(config.allowedRuntimes, platforms).filter((name) => !registered.includes(name));
  if (missing.length === 0) return;
  const advice = "run scripts/ensure-engine.sh, or choose another RUNSC_PLATFORM (ptrace, systrap; kvm where it works)";
  logger.warn({ missing, registered }, `engine runtimes not registered: sandboxes needing them are refused; ${advice}`);
  const defaultName = engineRuntimeName(config.defaultRuntime, config.runscPlatform, false);
  if (missing.includes(defaultName)) {
    throw new Error(`refusing to serve: the default runtime's engine runtime ${defaultName} is not registered; ${advice}`);
  }
}

export interface RuntimeSafetyCheck {
  readonly engine: EngineClient;
  /** The settings logged at start (config.ts names them; the engine layer reads only these). */
  readonly config: {
    readonly defaultRuntime: Runtime;
    readonly allowedRuntimes: readonly Runtime[];
    readonly runscPlatform: RunscPlatform;
    readonly seccompBaseProfile: string;
    readonly readonlyDefault: boolean;
    readonly allowVulnerableRuntime: boolean;
  };
  /** The seccomp profile in force; undefined for the engine's built-in one. */
  readonly seccompProfile: string | undefined;
  readonly logger: Logger;
}

/**
 * At start: logs the effective sandbox security settings, and refuses to serve on a runtime open
 * to a known escape unless the operator said otherwise (throws). An engine that does not answer
 * yet is logged and let be: health reports it until it does.
 */
export async function checkRuntimeSafety({ engine, config, seccompProfile, logger }: RuntimeSafetyCheck): Promise<void> {
  let version: EngineVersion;
  try {
    version = await engine.version(5000);
  } catch {
    logger.warn("container engine unreachable at start: its runtime could not be checked yet");
    return;
  }
  const assessment = assessRuntime(version);
  logger.info(
    {
      runc: assessment.runc,
      runtime_safe: assessment.safe,
      reason: assessment.reason,
      default_runtime: config.defaultRuntime,
      allowed_runtimes: config.allowedRuntimes,
      runsc_platform: config.runscPlatform,
      runsc_session_platform: sessionRunscPlatform,
      seccomp: seccompProfile
        ? `engine default from ${config.seccompBaseProfile}, denying ${deniedSyscalls.join(" ")}`
        : "engine built-in default",
      user: sandboxUser,
      capabilities: "none",
      no_new_privileges: true,
      network: "none",
      readonly_root_default: config.readonlyDefault,
      masked_paths: maskedPaths,
    },
    "sandbox security settings",
  );
  await checkRuntimesRegistered(engine, config, logger);
  if (assessment.safe) return;
  const message = `container runtime ${assessment.runc} is open to CVE-2024-21626 (${assessment.reason})`;
  if (!config.allowVulnerableRuntime) {
    throw new Error(`refusing to serve: ${message}; upgrade runc, or set ALLOW_VULNERABLE_RUNTIME=true to accept the risk`);
  }
  logger.warn({ runc: assessment.runc }, `serving anyway (ALLOW_VULNERABLE_RUNTIME): ${message}`);
}
