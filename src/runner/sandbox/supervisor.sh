#!/bin/sh
# Aurea's supervisor: PID 1 of every sandbox container (POSIX sh; Debian's dash in the image).
#
# Started as: sh -c "<this file>" aurea-supervisor MODE WORKSPACE GO_FIFO REPORT_TAG END_TAG \
#               MANIFEST_EXTRA PROGRAM [ARG...]
# Every value comes from argv (src/runner/supervisor-protocol.ts decides them); nothing is
# interpolated into this text.
#   MODE            cold: run PROGRAM once the workspace files are in place;
#                   warm: PROGRAM is a language loader (loaders/), started at once and waiting on
#                   GO_FIFO, which this script opens once the files are in place.
#   WORKSPACE       where the archive is extracted and artifacts are collected from.
#   REPORT_TAG      the report is written as NUL REPORT_TAG ":" nonce " " ... on stdout;
#   END_TAG         stderr ends with NUL END_TAG ":" nonce.
#   MANIFEST_EXTRA  skipped entries the artifact manifest may list beyond the count cap.
#
# What it does:
# 1. reads one header line from stdin: archive size, nonce, and what to collect afterwards;
# 2. extracts the workspace archive that follows (exactly that many bytes: `head -c` never reads
#    past its count from a pipe), so files reach a read-only root's tmpfs through the container's
#    own processes, as the engine's archive API cannot;
# 3. runs the program; its stdin is whatever follows the archive;
# 4. when it ends, SIGKILLs every process left (`kill -KILL -1` spares only PID 1 and this shell,
#    so daemons, double forks and `setsid` escapes die with the run);
# 5. writes stderr's end marker, then the report (status and usage read from the container's own
#    cgroup) and, when artifacts are wanted, a manifest of every non-directory the program created
#    or changed (type, size, name; NUL-separated) and a tar of the regular files within the cap;
# 6. exits with the program's status.
#
# "Created or changed" is "modified after 1970-01-01T00:00:01": the archive's entries carry
# mtime 0 and tar restores it, so untouched input files are left out without being read.
#
# Why the program cannot fool it: PID 1 ignores SIGKILL and SIGSTOP from inside its namespace and
# every signal it has no handler for, and its handlers for the rest do nothing; the report is
# written after every other process is dead, so nothing the program wrote can follow it; and the
# nonce arrives on stdin before the program exists, so no argv or environment holds it.

# dash installs handlers of its own for some signals (SIGINT ends a non-interactive dash waiting
# on a job). No-op handlers keep every signal from ending it; caught signals go back to their
# defaults in the programs it starts.
trap : HUP INT QUIT TERM USR1 USR2 ALRM PIPE

mode=$1
workspace=$2
go_fifo=$3
report_tag=$4
end_tag=$5
manifest_extra=$6
shift 6

# Reads the header and extracts the archive. The archive is Aurea's own, built from validated
# names, so extracting it is safe.
receive_workspace() {
  IFS=' ' read -r size nonce capture max_files max_file_bytes max_tar_bytes || exit 125
  if [ "$size" -gt 0 ] && ! head -c "$size" | tar -x -C "$workspace" --no-same-owner --no-same-permissions; then
    printf '\0%s:%s setup-failed\n' "$report_tag" "$nonce"
    exit 125
  fi
}

if [ "$mode" = warm ]; then
  # The loader keeps the original stdin (as fd 3 here) and blocks opening the FIFO; this shell
  # reads the header and archive from the same stdin, then lets it go.
  mkfifo "$go_fifo" || exit 125
  exec 3<&0
  "$@" 0<&3 3<&- &
  child=$!
  receive_workspace
  printf 'go\n' >"$go_fifo"
  status=
  # Trapped signals interrupt wait; the loop outlasts them.
  while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    status=$?
  done
  [ -n "$status" ] || {
    wait "$child"
    status=$?
  }
else
  receive_workspace
  "$@"
  status=$?
fi

kill -KILL -1 2>/dev/null

# Only builtins from here to the report: after a fork bomb the process limit may stay full of
# zombies until this shell exits, so a fork could fail, and dash exits on a failed fork or
# redirection. Each file is tested before it is read (gVisor provides none of them).
cg=/sys/fs/cgroup
peak=-
cpu=-
oom=-
[ -r $cg/memory/memory.max_usage_in_bytes ] && read -r peak <$cg/memory/memory.max_usage_in_bytes
[ -r $cg/cpuacct/cpuacct.usage ] && read -r cpu <$cg/cpuacct/cpuacct.usage
[ -r $cg/memory/memory.oom_control ] && while read -r key value; do [ "$key" = oom_kill ] && oom=$value; done <$cg/memory/memory.oom_control
[ "$peak" = - ] && [ -r $cg/memory.peak ] && read -r peak <$cg/memory.peak
[ "$cpu" = - ] && [ -r $cg/cpu.stat ] && while read -r key value; do [ "$key" = usage_usec ] && cpu=${value}000; done <$cg/cpu.stat
[ "$oom" = - ] && [ -r $cg/memory.events ] && while read -r key value; do [ "$key" = oom_kill ] && oom=$value; done <$cg/memory.events

# stderr's end first, then the report that ends stdout: with both seen, Aurea has all the output.
printf '\0%s:%s\n' "$end_tag" "$nonce" >&2
printf '\0%s:%s ok %s %s %s %s\n' "$report_tag" "$nonce" "$status" "$peak" "$cpu" "$oom"
if [ "$capture" = 1 ] && cd "$workspace"; then
  find . -mindepth 1 -newermt @1 ! -type d -printf '%y %s %P\0' 2>/dev/null | head -z -n $((max_files + manifest_extra))
  printf '\0'
  find . -mindepth 1 -newermt @1 -type f -size -$((max_file_bytes + 1))c -printf '%P\0' 2>/dev/null |
    head -z -n "$max_files" | tar -c -f - --null --no-recursion -T - 2>/dev/null | head -c "$max_tar_bytes"
fi
exit "$status"
