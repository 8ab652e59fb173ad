import { pino } from "pino";
import type { SandboxLimits, SandboxShape } from "../../src/sandbox/limits.js";
import { isRunscPlatform, type RunscPlatform } from "../../src/sandbox/runtimes.js";

/** Fixtures shared by the unit tests of the stateful core (run lifecycle, warm pool). */

export const silentLogger = pino({ level: "silent" });

/** gVisor's platform in tests: the server's default unless RUNSC_PLATFORM names another. */
export const testRunscPlatform: RunscPlatform = isRunscPlatform(process.env.RUNSC_PLATFORM)
  ? process.env.RUNSC_PLATFORM
  : "ptrace";

/** A run's limits at the server's maxima in these tests. */
export const testLimits: SandboxLimits = {
  cpu: 1,
  memoryBytes: 256 << 20,
  pids: 64,
  workspaceBytes: 64 << 20,
  workspaceFiles: 4096,
  tmpBytes: 16 << 20,
};

export const runcShape: SandboxShape = {
  image: "aurea-sandbox:latest",
  readonlyRootfs: true,
  runtime: "runc",
  runscPlatform: testRunscPlatform,
  seccompProfile: undefined,
};

/** A recycler's settings for unit tests with the fake engine: small, quick, silent. */
export const testRecyclerSettings = {
  maxRuns: 5,
  maxIdlePerCaller: 2,
  maxIdle: 3,
  idleTimeoutMs: 60_000,
  scrubTimeoutMs: 200,
  logger: silentLogger,
} as const;
