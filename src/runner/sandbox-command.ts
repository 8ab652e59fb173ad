import { workspaceDir } from "../docker/container-options.js";
import { goFifo } from "./warm-loaders.js";

/**
 * The container's command: a small POSIX-shell supervisor that runs as PID 1 and
 *
 * 1. reads one header line from stdin: archive size, nonce, and what to collect afterwards;
 * 2. extracts the workspace archive that follows (exactly that many bytes: `head -c` never reads
 *    past its count from a pipe), so files reach a read-only root's tmpfs through the container's
 *    own processes, as the engine's archive API cannot; the archive is Aurea's own, built from
 *    validated names, so extracting it is safe;
 * 3. runs the program in the foreground; the program's stdin is whatever follows the archive;
 * 4. when the program ends, SIGKILLs every process left (`kill -KILL -1` spares only PID 1, and
 *    so daemons, double forks and `setsid` escapes die with the run);
 * 5. writes a trailer on stdout, marked with the nonce: a report line with the usage read from the
 *    container's own cgroup and, when artifacts are wanted, a manifest of every non-directory
 *    the program created or changed (type, size, name; NUL-separated) and a tar of the regular
 *    files among them that fit the per-file cap;
 * 6. exits with the program's status, which the engine then reports.
 *
 * "Created or changed" is "modified after 1970-01-01T00:00:01": the archive's entries carry
 * mtime 0 and tar restores it, so untouched input files are left out without being read.
 *
 * Why it cannot be fooled: PID 1 ignores SIGKILL and SIGSTOP from inside its namespace and
 * every signal it has no handler for, and its handlers for the rest do nothing, so the program
 * cannot kill or stop it; the trailer is written after every other process is
 * dead, so nothing the program wrote can follow or interleave with it; and the nonce arrives on
 * stdin before the program exists, so it is in no argv or environment the program could read,
 * and output without it is only output.
 */
/** Skipped entries the manifest may list beyond the artifact count cap. */
const manifestExtraEntries = 100;

const prologue = `
# PID 1 is immune to signals it has no handler for, but dash installs its own for some (SIGINT
# ends a non-interactive dash waiting on a job). No-op handlers keep every signal from ending it;
# caught signals go back to their defaults in the programs it starts.
trap : HUP INT QUIT TERM USR1 USR2 ALRM PIPE
`;

const extractWorkspace = `IFS=' ' read -r size nonce capture max_files max_file_bytes max_tar_bytes || exit 125
if [ "$size" -gt 0 ] && ! head -c "$size" | tar -x -C ${workspaceDir} --no-same-owner --no-same-permissions; then
  printf '\\0aurea-usage:%s setup-failed\\n' "$nonce"
  exit 125
fi
`;

/** After the program: kill what is left, report, collect artifacts, exit with its status. */
const epilogue = `kill -KILL -1 2>/dev/null
# Only builtins from here to the report: after a fork bomb the process limit may stay full of
# zombies until this shell exits, so a fork could fail, and dash exits on a failed fork or
# redirection. Each file is tested before it is read (gVisor provides none of them).
cg=/sys/fs/cgroup
peak=-; cpu=-; oom=-
[ -r $cg/memory/memory.max_usage_in_bytes ] && read -r peak < $cg/memory/memory.max_usage_in_bytes
[ -r $cg/cpuacct/cpuacct.usage ] && read -r cpu < $cg/cpuacct/cpuacct.usage
[ -r $cg/memory/memory.oom_control ] && while read -r key value; do [ "$key" = oom_kill ] && oom=$value; done < $cg/memory/memory.oom_control
[ "$peak" = - ] && [ -r $cg/memory.peak ] && read -r peak < $cg/memory.peak
[ "$cpu" = - ] && [ -r $cg/cpu.stat ] && while read -r key value; do [ "$key" = usage_usec ] && cpu=\${value}000; done < $cg/cpu.stat
[ "$oom" = - ] && [ -r $cg/memory.events ] && while read -r key value; do [ "$key" = oom_kill ] && oom=$value; done < $cg/memory.events
# stderr's end first, then the report that ends stdout: with both seen, Aurea has all the output.
printf '\\0aurea-end:%s\\n' "$nonce" >&2
printf '\\0aurea-usage:%s ok %s %s %s %s\\n' "$nonce" "$status" "$peak" "$cpu" "$oom"
if [ "$capture" = 1 ] && cd ${workspaceDir}; then
  find . -mindepth 1 -newermt @1 ! -type d -printf '%y %s %P\\0' 2>/dev/null | head -z -n $((max_files + ${manifestExtraEntries}))
  printf '\\0'
  find . -mindepth 1 -newermt @1 -type f -size -$((max_file_bytes + 1))c -printf '%P\\0' 2>/dev/null |
    head -z -n "$max_files" | tar -c -f - --null --no-recursion -T - 2>/dev/null | head -c "$max_tar_bytes"
fi
exit $status
`;

/** Cold: the program is started by the supervisor once its files are in place. */
const coldSupervisor = `${prologue}${extractWorkspace}"$@"
status=$?
${epilogue}`;

/**
 * Warm: the language's loader (warm-loaders.ts) starts with the container and waits on a FIFO,
 * holding the original stdin; the supervisor reads the header and archive from that same stdin,
 * then lets the loader go. The wait loop outlasts trapped signals, which interrupt wait.
 */
const warmSupervisor = `${prologue}mkfifo ${goFifo} || exit 125
exec 3<&0
"$@" 0<&3 3<&- &
child=$!
${extractWorkspace}printf 'go\\n' > ${goFifo}
status=
while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
[ -n "$status" ] || { wait "$child"; status=$?; }
${epilogue}`;


/** What the supervisor collects from the workspace after the program ends. */
export interface ArtifactCaps {
  readonly maxFiles: number;
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;
}

/** Tar's own bytes per file, generously: a header, a GNU long-name header and name, padding. */
const tarOverheadPerFile = 6 * 1024;

/** Most bytes of tar the supervisor sends for these caps. */
export function maxArtifactTarBytes(caps: ArtifactCaps): number {
  return caps.maxTotalBytes + (caps.maxFiles + 2) * tarOverheadPerFile;
}

/** Most bytes a trailer can take: report line, manifest, tar. */
export function maxTrailerBytes(caps: ArtifactCaps | undefined): number {
  const reportBytes = 1024;
  if (!caps) return reportBytes;
  const manifestBytes = (caps.maxFiles + manifestExtraEntries + 1) * (4096 + 32);
  return reportBytes + manifestBytes + maxArtifactTarBytes(caps);
}

/** argv of a cold container: the supervisor, then the program's own argv. */
export function sandboxCommand(program: readonly string[]): string[] {
  return ["/bin/sh", "-c", coldSupervisor, "aurea-supervisor", ...program];
}

/** argv of a warm container: the supervisor, then the language loader's argv. */
export function warmSandboxCommand(loader: readonly string[]): string[] {
  return ["/bin/sh", "-c", warmSupervisor, "aurea-supervisor", ...loader];
}

/** The line the supervisor expects before the archive. */
export function supervisorHeader(archiveBytes: number, nonce: string, artifacts: ArtifactCaps | undefined): Buffer {
  const collect = artifacts
    ? `1 ${artifacts.maxFiles} ${artifacts.maxFileBytes} ${maxArtifactTarBytes(artifacts)}`
    : "0 0 0 0";
  return Buffer.from(`${archiveBytes} ${nonce} ${collect}\n`, "ascii");
}

/** Bytes the supervisor writes last on stderr, after every other process is dead. */
export function stderrEndMarker(nonce: string): Buffer {
  return Buffer.from(`\0aurea-end:${nonce}`, "ascii");
}

/** Bytes that begin the usage trailer for a given nonce. */
export function trailerMarker(nonce: string): Buffer {
  return Buffer.from(`\0aurea-usage:${nonce} `, "ascii");
}

/** What the supervisor reported after the program ended. */
export type SupervisorReport =
  | { readonly kind: "setup-failed" }
  | {
      readonly kind: "finished";
      readonly status: number;
      /** Peak memory of the container's cgroup in bytes, if the runtime exposes it. */
      readonly peakMemoryBytes: number | undefined;
      /** CPU time of the container's cgroup in nanoseconds, if exposed. */
      readonly cpuTimeNs: number | undefined;
      /** Processes the kernel's OOM killer ended, if exposed. */
      readonly oomKills: number | undefined;
    };

/** A trailer split into the report line and what follows it (manifest and tar, if collected). */
export function splitTrailer(region: Buffer): { reportText: string; rest: Buffer } {
  const newline = region.indexOf(0x0a);
  if (newline < 0) return { reportText: region.toString("latin1"), rest: Buffer.alloc(0) };
  return { reportText: region.subarray(0, newline).toString("latin1"), rest: region.subarray(newline + 1) };
}

/** Parses the report line; undefined when it is not one. */
export function parseSupervisorReport(text: string): SupervisorReport | undefined {
  const fields = text.trim().split(" ");
  if (fields[0] === "setup-failed" && fields.length === 1) return { kind: "setup-failed" };
  if (fields[0] !== "ok" || fields.length !== 5) return undefined;
  const count = (field: string | undefined) => (field && /^\d+$/.test(field) ? Number(field) : undefined);
  const status = count(fields[1]);
  if (status === undefined) return undefined;
  return {
    kind: "finished",
    status,
    peakMemoryBytes: count(fields[2]),
    cpuTimeNs: count(fields[3]),
    oomKills: count(fields[4]),
  };
}
