#!/bin/bash
# Starts Aurea's compiler loader for the JVM (CompilerLoader.java) in source-file mode: the JVM
# compiles and runs a single source file, but only one it can seek in (a pipe will not do), so
# the source is written to a fresh directory under /tmp first. The compile container serves one
# compile and is removed, so the file is left there.
#
# Started as: bash -c "<this file>" aurea-compiler-loader SOURCE COUNT LAUNCH... LOADER_ARG...
# where SOURCE is CompilerLoader.java's text, LAUNCH is COUNT words (the JVM and its options) and
# the LOADER_ARGs are CompilerLoader's (values from src/sandbox/sandbox-scripts.ts; nothing is
# interpolated into this text).

directory=$(mktemp -d /tmp/aurea-compiler-loader.XXXXXX) || exit 125
printf '%s' "$1" >"$directory/CompilerLoader.java" || exit 125
count=$2
shift 2
exec "${@:1:count}" "$directory/CompilerLoader.java" "${@:count+1}"
