#!/usr/bin/env bash
# Prepares this machine for `npm test` (its pretest step) and for CI, which calls it too, so there
# is one list: the tools of scripts/test-tools.txt, the container engine with gVisor registered,
# and every family's sandbox image. Idempotent; on a machine that has everything it takes seconds.
#
# As root on Debian it installs what is missing (one line says what). Otherwise it installs
# nothing and says what is missing; the tests that need a missing tool then fail at once, naming it
# and the command that installs it (test/support/required-tools.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[prepare-tests] $*" >&2; }
# shellcheck source=scripts/debian-trixie.sh
source scripts/debian-trixie.sh

# "command package suite" for every tool not on PATH.
missing_tools() {
  local command package suite _
  while read -r command package suite _; do
    case "$command" in '' | '#'*) continue ;; esac
    command -v "$command" >/dev/null 2>&1 || echo "$command $package $suite"
  done <scripts/test-tools.txt
}

install_tools() {
  local missing packages="" trixie=false command package suite
  missing=$(missing_tools)
  [ -n "$missing" ] || return 0
  while read -r command package suite; do
    if [ "$suite" = trixie ]; then packages="$packages $package/trixie"; trixie=true; else packages="$packages $package"; fi
  done <<<"$missing"
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "missing, and not installed (needs root on Debian):$packages; the tests that need them will fail naming them"
    return 0
  fi
  log "installing:$packages"
  [ "$trixie" = false ] || ensure_trixie_suite
  apt-get update -qq
  # shellcheck disable=SC2086 # a list of package names, split on purpose
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
}

install_tools
# The engine and images as `npm start` prepares them (scripts/start.sh), and every family's image
# besides, since every language's examples run in the tests. Without root and without an engine
# this says so and goes on: the unit tests need neither, and the engine tests fail at once with
# the same remedy (test/support/global-setup.ts).
if bash scripts/ensure-engine.sh; then
  # Makes the Debian 13 base first when no registry answers (scripts/ensure-base-image.sh).
  bash scripts/build-sandbox-images.sh
else
  log "no container engine: only the unit tests can pass (bash scripts/ensure-engine.sh, as root, starts one)"
fi
