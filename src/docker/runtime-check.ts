import type { EngineVersion } from "./engine-client.js";

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
