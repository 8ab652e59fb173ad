#!/bin/bash
# Aurea's warm loader for every language that has no loader of its own: the container (and this
# small Bash) is started ahead of time and waits here; the language's own command is started when
# the run arrives. Bash runs this way (its command is `bash main.sh`), and so do the programs of
# compiled languages (`./main`, `java Main`), whose files the compile phase made.
#
# Started as: bash -c "<this file>" aurea-loader GO_FIFO CODE_FILE READY_TAG COMMAND [ARG...]
# (values from src/sandbox/supervisor-protocol.ts and the language's data file; nothing is
# interpolated into this text).
#
# It writes NUL READY_TAG newline on stdout, blocks opening GO_FIFO until the supervisor has put
# the workspace in place, then reads one run message from stdin (see loaders/python.py for its
# layout), writes the code file when the message carries it, and execs COMMAND with the run's
# arguments after its own, in the run's environment. Everything after the message is the
# program's stdin: Bash's `read` takes a byte at a time from a pipe, so none of it is consumed.

go_fifo=$1
code_file=$2
printf '\0%s\n' "$3"
shift 3
read -r _ <"$go_fifo"
IFS= read -r _length
IFS= read -r -d '' count
args=()
for ((i = 0; i < count; i++)); do
  IFS= read -r -d '' value
  args+=("$value")
done
IFS= read -r -d '' count
for ((i = 0; i < count; i++)); do
  IFS= read -r -d '' entry
  export "${entry?}"
done
IFS= read -r -d '' inline
if [ "$inline" = 1 ]; then
  IFS= read -r -d '' code
  printf '%s' "$code" >"$code_file"
fi
unset i count value entry _length inline code go_fifo code_file
# The program's stdin: a pipe of this user's, fed by `cat`, so /dev/stdin opens by name (the
# container's stdin is root's pipe).
exec "$@" "${args[@]}" < <(exec cat)
