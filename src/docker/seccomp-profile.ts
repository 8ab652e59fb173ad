/**
 * The seccomp profile every sandbox runs under: the engine's own default profile, read from the
 * file its distribution ships (see scripts/ensure-engine.sh), with these system calls removed
 * from every allow rule and denied outright. The Engine API takes the profile's JSON text, not a
 * path, so the result is passed inline in SecurityOpt.
 */
export const deniedSyscalls: readonly string[] = [
  // Tracing and reading other processes' memory: would let a program inspect or steer the
  // supervisor that reports on it.
  "ptrace",
  "process_vm_readv",
  "process_vm_writev",
  // Large, fast-moving kernel attack surfaces with a long record of container escapes.
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  "keyctl",
  "add_key",
  "request_key",
  "bpf",
  "userfaultfd",
  "perf_event_open",
  // Changing the execution domain (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE) weakens ASLR and NX.
  "personality",
];

interface SeccompRule {
  names?: string[];
  name?: string;
  action: string;
  [key: string]: unknown;
}

interface SeccompProfile {
  defaultAction: string;
  syscalls?: SeccompRule[];
  [key: string]: unknown;
}

/** EPERM: what a denied call returns, as under the engine's default profile. */
const eperm = 1;

/**
 * Removes `denied` from every rule of `baseJson` and adds one rule refusing them with EPERM.
 * Pure; throws on a profile that is not an allowlist (a default action other than an error),
 * since removing names from a denylist would allow more, not less.
 */
export function hardenSeccompProfile(baseJson: string, denied: readonly string[] = deniedSyscalls): string {
  const profile = JSON.parse(baseJson) as SeccompProfile;
  if (typeof profile.defaultAction !== "string" || !profile.defaultAction.startsWith("SCMP_ACT_ERRNO")) {
    throw new Error(`the base seccomp profile must deny by default (defaultAction ${String(profile.defaultAction)})`);
  }
  const deny = new Set(denied);
  const rules: SeccompRule[] = [];
  for (const rule of profile.syscalls ?? []) {
    const names = (rule.names ?? (rule.name ? [rule.name] : [])).filter((name) => !deny.has(name));
    if (names.length === 0) continue;
    const { name: _single, ...rest } = rule;
    rules.push({ ...rest, names });
  }
  rules.push({ names: [...denied], action: "SCMP_ACT_ERRNO", errnoRet: eperm });
  return JSON.stringify({ ...profile, syscalls: rules });
}

/** `builtin` as the base profile path: keep the engine's built-in default, without Aurea's denials. */
export const builtinSeccomp = "builtin";

/**
 * Reads the base profile and hardens it; undefined for `builtin`. Throws, naming the path and the
 * remedy, when the file is missing or not a usable profile: a sandbox must never silently run
 * with less than it was configured for.
 */
export function loadSeccompProfile(path: string, read: (path: string) => string): string | undefined {
  if (path === builtinSeccomp) return undefined;
  let text: string;
  try {
    text = read(path);
  } catch (error) {
    throw new Error(
      `SANDBOX_SECCOMP_BASE_PROFILE ${path} cannot be read (${(error as Error).message}); ` +
        `run scripts/ensure-engine.sh to install the engine's default profile, or set it to "builtin"`,
    );
  }
  return hardenSeccompProfile(text);
}
