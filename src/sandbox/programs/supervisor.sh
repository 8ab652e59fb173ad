#!/bin/sh
# Aurea's supervisor: PID 1 of every sandbox container (POSIX sh; Debian's dash in the image).
#
# Started as: sh -c "<this file>" aurea-supervisor MODE WORKSPACE GO_FIFO PRIVATE_DIR REPORT_TAG \
#               END_TAG MANIFEST_EXTRA PROCESSES PROGRAM_USER OUTPUT PROGRAM [ARG...]
# Every value comes from argv (src/sandbox/supervisor-protocol.ts decides them); nothing is
# interpolated into this text.
#   MODE            cold: run PROGRAM once the workspace files are in place;
#                   cases: PROGRAM is the test-case runner (images/helper/aurea-cases.c), run
#                   as root, which runs the program once per test case;
#                   warm: PROGRAM is a language loader (loaders/), started at once and waiting on
#                   GO_FIFO, which this script opens once the files are in place;
#                   recycle: as warm, for one run after another: the run's input (the loader's
#                   message and the program's stdin) is counted in the header and handed to the
#                   loader through a pipe, so the container's stdin stays open; after each report
#                   it waits for "next NONCE" on stdin, scrubs the sandbox with the compiled
#                   aurea-scrub (images/helper/aurea-scrub.c) and writes NUL REPORT_TAG ":" NONCE
#                   " scrub clean" before the next loader's ready marker, or " scrub dirty STEP"
#                   and exits.
#   PRIVATE_DIR     a directory this script makes for itself, which only root may enter.
#   WORKSPACE       where the archive is extracted and artifacts are collected from.
#   REPORT_TAG      the report is written as NUL REPORT_TAG ":" nonce " " ... on stdout;
#   END_TAG         stderr ends with NUL END_TAG ":" nonce.
#   MANIFEST_EXTRA  skipped entries the artifact manifest may list beyond the count cap.
#   PROCESSES       most processes the program may have (RLIMIT_NPROC), or "-" to leave it to the
#                   container's pids limit.
#   PROGRAM_USER    uid:gid the program (and everything that touches its files) runs as. This
#                   script runs as root with only the capabilities to switch to that user and to
#                   kill what it leaves, so the program can neither signal, trace nor read it.
#   OUTPUT          direct: the program writes to the container's stdout and stderr itself;
#                   relay: it writes into pipes inside the sandbox and two relays copy them out in
#                   blocks, retrying partial writes (gVisor completes a large write to the
#                   container's stdout only partly, and most programs do not retry).
#
# What it does:
# 1. reads one header line from stdin: archive size, nonce, what to collect afterwards, and
#    (recycle mode) the size of the run's input;
# 2. extracts the workspace archive that follows (exactly that many bytes: aurea-receive and
#    `head -c` never read past their count from a pipe), so files reach a read-only root's tmpfs
#    through the container's own processes, as the engine's archive API cannot;
# 3. runs the program; its stdin is whatever follows the archive;
# 4. when it ends, SIGKILLs every process left (`kill -KILL -1` spares only PID 1 and this shell,
#    so daemons, double forks and `setsid` escapes die with the run);
# 5. writes stderr's end marker, then the report (status, usage and the limits the program ran
#    into, read from the container's own cgroup and the workspace's file system) and, when artifacts are wanted, a manifest of every non-directory the program created
#    or changed (type, size, name; NUL-separated) and a tar of the regular files within the cap;
# 6. exits with the program's status (recycle mode: unless it is told to scrub for the next run).
#
# "Created or changed" is "modified after 1970-01-01T00:00:01": the archive's entries carry
# mtime 0 and tar restores it, so untouched input files are left out without being read.
#
# Why the program cannot fool it: this script runs as another user than the program, so the
# program can neither signal, trace nor read it (and PID 1 ignores SIGKILL and SIGSTOP from inside
# its namespace, and its handlers for the rest do nothing); the report is written after every
# other process of the program is dead, so nothing the program wrote can follow it; and the nonce
# arrives on stdin before the program exists, so no argv or environment holds it.

# dash installs handlers of its own for some signals (SIGINT ends a non-interactive dash waiting
# on a job). No-op handlers keep every signal from ending it; caught signals go back to their
# defaults in the programs it starts.
trap : HUP INT QUIT TERM USR1 USR2 ALRM PIPE

mode=$1
workspace=$2
go_fifo=$3
private=$4
report_tag=$5
end_tag=$6
manifest_extra=$7
processes=$8
program_uid=${9%%:*}
program_gid=${9#*:}
output=${10}
shift 10

# Replaces this (sub)shell with a command run as the program's user: no supplementary groups, and
# no capabilities in any set (the switch from root empties the others; the bounding and
# inheritable sets are emptied here), with no-new-privileges keeping them from coming back.
exec_as_program() {
  exec setpriv --reuid="$program_uid" --regid="$program_gid" --clear-groups \
    --inh-caps=-all --bounding-set=-all -- "$@"
}

# Runs a command as the program's user and waits for it.
as_program() {
  (exec_as_program "$@")
}

# Starts the program itself: as its user, and, where the sandbox counts processes itself, held to
# its own process limit, below the container's, so this script can always fork.
start_program() {
  if [ "$processes" = - ]; then
    as_program "$@"
  else
    # shellcheck disable=SC3045 # dash's ulimit -p is RLIMIT_NPROC; the image's sh is dash
    (ulimit -p "$processes" && exec_as_program "$@")
  fi
}

# Waits for a child to end and sets `waited` to its exit status; trapped signals interrupt wait,
# so it is repeated while the child lives.
wait_for() {
  waited=
  while kill -0 "$1" 2>/dev/null; do
    wait "$1"
    waited=$?
  done
  [ -n "$waited" ] || {
    wait "$1"
    waited=$?
  }
}

# Reads the header and extracts the archive, as the program's user so the files are its own (the
# archive is Aurea's own, built from validated names, so extracting it is safe); in recycle mode
# also hands the run's input to the loader's FIFO (fd 6). The core image's aurea-receive
# (images/helper/aurea-receive.c) does both in one process; an image without it takes the shell's way.
receive=/usr/local/lib/aurea/aurea-receive
receive_workspace() {
  IFS=' ' read -r size nonce capture max_files max_file_bytes max_tar_bytes input_size || exit 125
  if [ -x "$receive" ]; then
    if [ "$mode" = recycle ]; then
      [ -n "$input_size" ] || exit 125
      "$receive" "$size" "$workspace" "$program_uid:$program_gid" "$input_size" && return
    else
      "$receive" "$size" "$workspace" "$program_uid:$program_gid" && return
    fi
  elif { [ "$size" = 0 ] || head -c "$size" | as_program tar -x -C "$workspace" --no-same-owner --no-same-permissions; } &&
    { [ "$mode" != recycle ] || { [ -n "$input_size" ] && head -c "$input_size" >&6; }; }; then
    return
  fi
  printf '\0%s:%s setup-failed\n' "$report_tag" "$nonce"
  exit 125
}

# Where the program's output goes, held as fds 4 and 5 until it has ended: the container's own
# stdout and stderr, or the relays' pipes, in a directory only root can enter (made once; the
# relays are started for each run and end with its last writer).
mkdir -m 0700 "$private" || exit 125
if [ "$output" = relay ]; then
  mkfifo -m 0600 "$private/out" "$private/err" || exit 125
  # The core image's relay copies in blocks, letting lines gather for 2 ms after a short read
  # (images/helper/aurea-relay.c says why); an image without it falls back to cat.
  relay=/usr/local/lib/aurea/aurea-relay
  relay_argument=2000
  [ -x "$relay" ] || {
    relay="cat"
    relay_argument=-
  }
fi
open_output() {
  if [ "$output" = relay ]; then
    "$relay" "$relay_argument" <"$private/out" &
    out_relay=$!
    "$relay" "$relay_argument" <"$private/err" >&2 &
    err_relay=$!
    exec 4>"$private/out" 5>"$private/err"
  else
    exec 4>&1 5>&2
  fi
}

# Ends everything the program left, once its main process has ended.
sweep() {
  exec 4>&- 5>&-
  if [ "$output" = relay ]; then
    # Every process of the program's user dies (kill -1 as that user reaches only its own); the
    # relays, root's, copy out what the pipes still hold and end with the last writer. A fork here
    # is safe: the program's processes are held below the container's count (start_program).
    # The sweep repeats while it finds anyone left to signal (a process forking during one sweep can
    # leave a child it missed), a bounded number of times: zombies count as found until reaped.
    # shellcheck disable=SC2016 # the inner script's own variables
    as_program /bin/sh -c 'n=0; while kill -KILL -1 2>/dev/null && [ $n -lt 200 ]; do n=$((n + 1)); done' 2>/dev/null
    wait_for "$out_relay"
    wait_for "$err_relay"
  else
    # As root with CAP_KILL: every process but PID 1. A builtin, because after a fork bomb the
    # process limit may be full and a fork would fail.
    kill -KILL -1 2>/dev/null
  fi
}

# The container's cgroup counters, read with builtins only: after a fork bomb the process limit
# may stay full of zombies until this shell exits, so a fork could fail, and dash exits on a failed
# fork or redirection. Each file is tested before it is read (gVisor provides few of them). Sets
# peak, cpu and oom, and the limits the program ran into whatever its status: forks refused at the
# pids limit, memory use at the memory limit (reclaim there counts, an OOM kill too).
cg=/sys/fs/cgroup
read_counters() {
  peak=-
  cpu=-
  oom=-
  [ -r $cg/memory/memory.max_usage_in_bytes ] && read -r peak <$cg/memory/memory.max_usage_in_bytes
  [ -r $cg/cpuacct/cpuacct.usage ] && read -r cpu <$cg/cpuacct/cpuacct.usage
  [ -r $cg/memory/memory.oom_control ] && while read -r key value; do [ "$key" = oom_kill ] && oom=$value; done <$cg/memory/memory.oom_control
  [ "$peak" = - ] && [ -r $cg/memory.peak ] && read -r peak <$cg/memory.peak
  [ "$cpu" = - ] && [ -r $cg/cpu.stat ] && while read -r key value; do [ "$key" = usage_usec ] && cpu=${value}000; done <$cg/cpu.stat
  [ "$oom" = - ] && [ -r $cg/memory.events ] && while read -r key value; do [ "$key" = oom_kill ] && oom=$value; done <$cg/memory.events
  pids_refused=-
  memory_at_limit=-
  for events in $cg/pids/pids.events $cg/pids.events; do
    [ "$pids_refused" = - ] && [ -r "$events" ] && while read -r key value; do [ "$key" = max ] && pids_refused=$value; done <"$events"
  done
  [ -r $cg/memory/memory.failcnt ] && read -r memory_at_limit <$cg/memory/memory.failcnt
  [ "$memory_at_limit" = - ] && [ -r $cg/memory.events ] && while read -r key value; do [ "$key" = max ] && memory_at_limit=$value; done <$cg/memory.events
  return 0
}

# A recycled container's counters count every run it served: this run's are what it added since
# `since_counters` (the peak is reset between runs by the server, outside the sandbox).
since_counters() {
  base_cpu=$cpu base_oom=$oom base_pids_refused=$pids_refused base_memory_at_limit=$memory_at_limit
}
counters_since() {
  case "$cpu$base_cpu" in *-*) ;; *) cpu=$((cpu - base_cpu)) ;; esac
  case "$oom$base_oom" in *-*) ;; *) oom=$((oom - base_oom)) ;; esac
  case "$pids_refused$base_pids_refused" in *-*) ;; *) pids_refused=$((pids_refused - base_pids_refused)) ;; esac
  case "$memory_at_limit$base_memory_at_limit" in *-*) ;; *) memory_at_limit=$((memory_at_limit - base_memory_at_limit)) ;; esac
}

# The workspace's free blocks and file slots: a fork, so only when one cannot fail (the pids
# limit may still be full of a fork bomb's zombies under runc; under gVisor the program is held
# below the container's count, and no pids files are visible).
fork_is_safe() {
  for dir in $cg/pids $cg; do
    if [ -r "$dir/pids.current" ] && [ -r "$dir/pids.max" ]; then
      read -r current <"$dir/pids.current"
      read -r most <"$dir/pids.max"
      [ "$most" = max ] || [ $((most - current)) -gt 4 ]
      return
    fi
  done
  return 0
}

# The core image's static free-space probe (images/helper/aurea-free.c), as `stat -f -c '%a %d'`.
free_helper=/usr/local/lib/aurea/aurea-free

# stderr's end first, then the report that ends stdout: with both seen, Aurea has all the output.
report() {
  free_blocks=-
  free_files=-
  if fork_is_safe; then
    # shellcheck disable=SC2046 # two numbers, split on purpose
    if [ -x "$free_helper" ]; then
      set -- $("$free_helper" "$workspace" 2>/dev/null) - -
    else
      set -- $(stat -f -c '%a %d' "$workspace" 2>/dev/null) - -
    fi
    free_blocks=$1
    free_files=$2
  fi
  printf '\0%s:%s\n' "$end_tag" "$nonce" >&2
  printf '\0%s:%s ok %s %s %s %s %s %s %s %s\n' "$report_tag" "$nonce" "$status" "$peak" "$cpu" "$oom" \
    "$pids_refused" "$memory_at_limit" "$free_blocks" "$free_files"
}

# The manifest and tar of what the program created or changed, when asked for.
collect() {
  [ "$capture" = 1 ] || return 0
  # As the program's user: the workspace is its own, and nothing of it runs any more.
  # shellcheck disable=SC2016 # the inner script's own variables
  as_program /bin/sh -c 'cd "$1" || exit 0
    find . -mindepth 1 -newermt @1 ! -type d -printf "%y %s %P\0" 2>/dev/null | head -z -n "$2"
    printf "\0"
    find . -mindepth 1 -newermt @1 -type f -size -"$3"c -printf "%P\0" 2>/dev/null |
      head -z -n "$4" | tar -c -f - --null --no-recursion -T - 2>/dev/null | head -c "$5"' \
    collect "$workspace" $((max_files + manifest_extra)) $((max_file_bytes + 1)) "$max_files" "$max_tar_bytes"
}

if [ "$mode" = recycle ]; then
  # One loader per run. Its stdin is a FIFO in the private directory, opened by root before the
  # switch of user; this shell holds it open read-write (so neither open blocks) until it has
  # written the run's input, which the server sends only when it fits the pipe's buffer, so the
  # write never waits for a program that may not read. The container's stdin is never the
  # program's: after each run it carries the server's next command.
  mkfifo -m 0644 "$go_fifo" && mkfifo -m 0600 "$private/input" || exit 125
  workspace_mode=$(stat -c %a "$workspace") || exit 125
  scrub=/usr/local/lib/aurea/aurea-scrub
  while :; do
    open_output
    exec 6<>"$private/input"
    # Redirections on a function call make dash keep copies of the fds they replace (fd 6, the
    # FIFO's writer, among them) for as long as the call runs: the loader would never see its
    # input end. A subshell's own `exec` closes them for good.
    (
      exec 6<&- 4>&- 5>&-
      start_program "$@"
    ) <"$private/input" >&4 2>&5 &
    child=$!
    receive_workspace
    exec 6>&-
    read_counters
    since_counters
    printf 'go\n' >"$go_fifo"
    wait_for "$child"
    status=$waited
    sweep
    read_counters
    counters_since
    report
    # Artifacts end the container's output with a tar of unknown length: such a run is its last.
    [ "$capture" = 1 ] && {
      collect
      exit "$status"
    }
    IFS=' ' read -r command next_nonce || exit "$status"
    [ "$command" = next ] || exit "$status"
    # As the program's user, so it removes exactly what that user could have left. It runs in the
    # foreground, its verdict in a file: while this shell waits for it, it reaps the zombies the
    # sweep left (PID 1's wait takes any child), which it would not while reading a command
    # substitution's output.
    verdict="dirty no-scrub-helper"
    if [ -x "$scrub" ]; then
      as_program "$scrub" "$workspace_mode" "$workspace" /tmp /dev/shm /dev/mqueue >"$private/verdict" 2>/dev/null
      read -r verdict <"$private/verdict" || verdict=${verdict:-dirty scrub-failed}
    fi
    printf '\0%s:%s scrub %s\n' "$report_tag" "$next_nonce" "$verdict"
    [ "$verdict" = clean ] || exit "$status"
  done
fi

open_output
if [ "$mode" = warm ]; then
  # The loader keeps the original stdin (as fd 3 here) and blocks opening the FIFO, which only
  # root may write; this shell reads the header and archive from the same stdin, then lets it go.
  mkfifo -m 0644 "$go_fifo" || exit 125
  exec 3<&0
  start_program "$@" 0<&3 3<&- >&4 2>&5 4>&- 5>&- &
  child=$!
  receive_workspace
  printf 'go\n' >"$go_fifo"
  wait_for "$child"
  status=$waited
elif [ "$mode" = cases ]; then
  # PROGRAM is the test-case runner (images/helper/aurea-cases.c), root's like this script: it
  # starts the program as its user once per case, and its frames are the output.
  receive_workspace
  "$@" >&4 2>&5 4>&- 5>&-
  status=$?
else
  receive_workspace
  # The program's stdin is a pipe its own user made, fed by a `cat` of that user: the container's
  # stdin is root's pipe, which the program could read but not open by name (/dev/stdin).
  # shellcheck disable=SC2016 # the inner script's own variables
  start_program bash -c 'exec "$@" < <(exec cat)' aurea-stdin "$@" >&4 2>&5 4>&- 5>&-
  status=$?
fi
sweep
read_counters
report
collect
exit "$status"
