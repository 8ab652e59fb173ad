#!/bin/bash
# Aurea's test-case runner: runs the program once per test case, each time as a fresh process in
# a fresh copy of the workspace, and reports each case as a frame on stdout.
#
# Started by the supervisor in its "cases" mode, as root (with the supervisor's few capabilities),
# after the workspace is in place:
#   bash -c "<this file>" aurea-cases WORKSPACE PRIVATE_DIR PROGRAM_USER PROCESSES CASE_TAG PROGRAM...
# (values from src/sandbox/supervisor-protocol.ts and the language's data file; nothing is
# interpolated into this text).
#
# Its stdin carries the cases, one at a time, each sent only once the previous one is reported
# (Aurea judges in between and may stop): a header line
#   ARCHIVE_BYTES ARGS_BYTES STDIN_BYTES TIMEOUT_SECONDS CPU_SECONDS OUTPUT_CAP TIMEOUT_MICROSECONDS
# then the workspace archive, the arguments (each NUL-terminated), and the case's stdin.
# End of stdin ends the cases. For each case it
# 1. empties the workspace and the program user's files in /tmp and /dev/shm, and extracts the
#    archive again, as the program's user: files one case writes never reach the next;
# 2. runs the program as that user with exactly STDIN_BYTES on its stdin (`head -c`, root's, so
#    the program can neither read past its case nor steer the reader; then a `cat` of the
#    program's user into a pipe of its own, so /dev/stdin opens by name), held to PROCESSES
#    processes (RLIMIT_NPROC) and CPU_SECONDS (RLIMIT_CPU), killed at TIMEOUT_SECONDS of wall time
#    (`timeout`); its stdout and stderr go through root's `head -c OUTPUT_CAP+1` into files of
#    PRIVATE_DIR, so a flood ends at the cap with a broken pipe;
# 3. kills every process of the program's user, so nothing survives a case;
# 4. writes the frame: NUL CASE_TAG " " index status wall_microseconds user_seconds
#    system_seconds max_rss_kilobytes timed_out oom_kills stdout_bytes stderr_bytes newline, then
#    that many bytes of stdout and of stderr.
# The program never holds this script's stdout, so nothing it writes can pose as a frame; frame
# lengths are this script's own count.

workspace=$1
private=$2
program_uid=${3%%:*}
program_gid=${3#*:}
processes=$4
case_tag=$5
shift 5

as_program() {
  setpriv --reuid="$program_uid" --regid="$program_gid" --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"
}

# Files of /proc and /sys are read whole with mapfile, never line by line with an early break:
# bash's `read` buffers ahead on a seekable file and, when it cannot seek back there, serves the
# rest to the next `read` that redirects the same descriptor (a status file's "Gid:" line once
# came back as GNU time's numbers).

# Sets `oom` to the cgroup's OOM kill count (cgroup v1 or v2), or 0 where the runtime shows none.
read_oom_kills() {
  local events line lines
  oom=0
  for events in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do
    [ -r "$events" ] || continue
    mapfile -t lines <"$events"
    for line in "${lines[@]}"; do
      [ "${line%% *}" = oom_kill ] && oom=${line##* } && return
    done
  done
}

# SIGKILLs every live process of the program's user, again until a pass finds none (a process
# forking during a pass can leave a child it missed). Builtins only, no fork: a fork bomb may
# have filled the process limit; and only that user's processes, never this script's helpers.
sweep() {
  local pass dir line lines state uid found
  for ((pass = 0; pass < 50; pass++)); do
    found=0
    for dir in /proc/[0-9]*; do
      state='' uid='' lines=()
      { mapfile -t lines <"$dir/status"; } 2>/dev/null
      for line in "${lines[@]}"; do
        case $line in
          State:*) state=${line#State:} state=${state//[[:space:]]/} state=${state:0:1} ;;
          Uid:*) uid=${line#Uid:} uid=${uid#"${uid%%[![:space:]]*}"} uid=${uid%%[[:space:]]*} && break ;;
        esac
      done
      if [ "$uid" = "$program_uid" ] && [ "$state" != Z ]; then
        kill -KILL "${dir#/proc/}" 2>/dev/null && found=1
      fi
    done
    [ "$found" = 0 ] && return
  done
}

# A directory of its own, root's alone: the supervisor's relays have theirs.
mkdir -m 0700 "$private" && mkfifo -m 0600 "$private/case-out" "$private/case-err" || exit 125
index=0
while IFS=' ' read -r archive_bytes args_bytes stdin_bytes timeout_seconds cpu_seconds output_cap timeout_microseconds; do
  # Everything of the program's user there, in one pass; a directory it made unreadable first
  # gets its permissions back.
  if ! as_program find "$workspace" /tmp /dev/shm -mindepth 1 -user "$program_uid" -delete 2>/dev/null; then
    as_program chmod -R u+rwx "$workspace" 2>/dev/null
    as_program find "$workspace" /tmp /dev/shm -mindepth 1 -user "$program_uid" -delete 2>/dev/null
  fi
  if [ "$archive_bytes" -gt 0 ] && ! head -c "$archive_bytes" | as_program tar -x -C "$workspace" --no-same-owner --no-same-permissions; then
    exit 125
  fi
  args=()
  if [ "$args_bytes" -gt 0 ]; then
    while IFS= read -r -d '' arg; do args+=("$arg"); done < <(head -c "$args_bytes")
  fi

  # A shell to set the limits only when there are limits to set: one process less per case.
  limited=()
  if [ "$processes" != - ] || [ "$cpu_seconds" != 0 ]; then
    # shellcheck disable=SC2016 # the inner script's own variables
    limited=(/bin/sh -c '{ [ "$1" = - ] || ulimit -p "$1"; } && { [ "$2" = 0 ] || { ulimit -t $(($2 + 1)) && ulimit -S -t "$2"; }; } && shift 2 && exec "$@"'
      program "$processes" "$cpu_seconds")
  fi
  head -c $((output_cap + 1)) <"$private/case-out" >"$private/out" &
  out_reader=$!
  head -c $((output_cap + 1)) <"$private/case-err" >"$private/err" &
  err_reader=$!
  rm -f "$private/usage"
  read_oom_kills
  oom_before=$oom
  started=$EPOCHREALTIME
  # shellcheck disable=SC2016 # the inner script's own variables
  head -c "$stdin_bytes" |
    timeout --foreground -s KILL "$timeout_seconds" /usr/bin/time -q -o "$private/usage" -f '%U %S %M' \
      setpriv --reuid="$program_uid" --regid="$program_gid" --clear-groups --inh-caps=-all --bounding-set=-all -- \
      bash -c 'exec "$@" < <(exec cat)' aurea-stdin "${limited[@]}" "$@" "${args[@]}" >"$private/case-out" 2>"$private/case-err"
  status=$?
  ended=$EPOCHREALTIME
  # The program's leftovers first: they may hold the output pipes open.
  sweep
  wait "$out_reader" "$err_reader"
  wall=$((${ended/./} - ${started/./}))
  # timeout says 124, or 137 when its signal is KILL (as here): the wall time tells them apart
  # from a program killed otherwise.
  timed_out=0
  if [ "$status" = 124 ] || { [ "$status" = 137 ] && [ "$wall" -ge "$timeout_microseconds" ]; }; then timed_out=1; fi
  usage="- - -"
  if [ -s "$private/usage" ]; then
    mapfile -t lines <"$private/usage"
    # Only GNU time's three numbers go into a frame, whatever the file holds.
    [[ ${lines[0]-} =~ ^[0-9.]+\ [0-9.]+\ [0-9]+$ ]] && usage=${lines[0]}
  fi
  { read -r out_bytes && read -r err_bytes; } < <(stat -c %s "$private/out" "$private/err")
  read_oom_kills
  # shellcheck disable=SC2086 # usage is three numbers, split on purpose
  printf '\0%s %d %d %d %s %s %s %d %s %d %d\n' "$case_tag" "$index" "$status" "$wall" $usage "$timed_out" \
    "$((oom - oom_before))" "$out_bytes" "$err_bytes"
  cat "$private/out" "$private/err"
  index=$((index + 1))
done
exit 0
