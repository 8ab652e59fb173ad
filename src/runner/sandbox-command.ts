import { workspaceDir } from "../docker/container-options.js";

/**
 * The container's command: a small POSIX-shell supervisor that runs as PID 1 and
 *
 * 1. reads one header line from stdin, `<archive bytes> <nonce>`;
 * 2. extracts the workspace archive that follows (exactly that many bytes: `head -c` never reads
 *    past its count from a pipe), so files reach a read-only root's tmpfs through the container's
 *    own processes, as the engine's archive API cannot;
 * 3. runs the program in the foreground; the program's stdin is whatever follows the archive;
 * 4. when the program ends, SIGKILLs every process left (`kill -KILL -1` spares only PID 1, and
 *    so daemons, double forks and `setsid` escapes die with the run);
 * 5. writes a usage trailer read from the container's own cgroup, marked with the nonce, on stdout;
 * 6. exits with the program's status, which the engine then reports.
 *
 * Why it cannot be fooled: PID 1 ignores every signal it has no handler for (it installs none),
 * so the program cannot kill or stop it; the trailer is written after every other process is
 * dead, so the real trailer is always the last bytes of stdout, whatever the program printed;
 * and the nonce arrives on stdin before the program exists, so it is not in any argv or
 * environment the program could read.
 */
const supervisor = `
IFS=' ' read -r size nonce || exit 125
if ! head -c "$size" | tar -x -C ${workspaceDir} --no-same-owner --no-same-permissions -m; then
  printf '\\0aurea-usage:%s setup-failed\\n' "$nonce"
  exit 125
fi
"$@"
status=$?
kill -KILL -1 2>/dev/null
cg=/sys/fs/cgroup
peak=-; cpu=-; oom=-
if [ -r $cg/memory/memory.max_usage_in_bytes ]; then
  read -r peak < $cg/memory/memory.max_usage_in_bytes
  read -r cpu < $cg/cpuacct/cpuacct.usage
  while read -r key value; do [ "$key" = oom_kill ] && oom=$value; done < $cg/memory/memory.oom_control
elif [ -r $cg/cpu.stat ]; then
  [ -r $cg/memory.peak ] && read -r peak < $cg/memory.peak
  while read -r key value; do [ "$key" = usage_usec ] && cpu=\${value}000; done < $cg/cpu.stat
  while read -r key value; do [ "$key" = oom_kill ] && oom=$value; done < $cg/memory.events
fi
printf '\\0aurea-usage:%s ok %s %s %s %s\\n' "$nonce" "$status" "$peak" "$cpu" "$oom"
exit $status
`;

/** argv of the container: the supervisor, then the program's own argv. */
export function sandboxCommand(program: readonly string[]): string[] {
  return ["/bin/sh", "-c", supervisor, "aurea-supervisor", ...program];
}

/** The line the supervisor expects before the archive. */
export function supervisorHeader(archiveBytes: number, nonce: string): Buffer {
  return Buffer.from(`${archiveBytes} ${nonce}\n`, "ascii");
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

/** Parses the text after the marker (up to the newline); undefined when it is not a report. */
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
