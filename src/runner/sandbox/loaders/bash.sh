#!/bin/bash
# Aurea's warm loader for Bash: the shell is started ahead of time and waits here.
#
# Started as: bash -c "<this file>" aurea-loader GO_FIFO CODE_FILE READY_TAG
# (values from src/runner/supervisor-protocol.ts; nothing is interpolated into this text).
#
# It writes NUL READY_TAG newline on stdout, blocks opening GO_FIFO until the supervisor has put
# the workspace in place, then reads one run message from stdin (see loaders/python.py for its
# layout), writes the code file when the message carries it, and execs bash on it with the
# arguments and environment. Everything after the message is the program's stdin.

go_fifo=$1
code_file=$2
printf '\0%s\n' "$3"
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
unset i count value entry _length inline code go_fifo
exec bash "$code_file" "${args[@]}"
