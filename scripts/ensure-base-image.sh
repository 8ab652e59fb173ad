#!/usr/bin/env bash
# Prints the name of a Debian 13 (trixie) base image for Dockerfile.sandbox, making one if needed.
# Order: $SANDBOX_BASE_IMAGE if set; debian:trixie-slim if local or pullable; else a minimal
# trixie root file system bootstrapped from Debian's mirror and imported as aurea-base:trixie
# (for machines that reach Debian's packages but no container registry).
set -euo pipefail

log() { echo "[ensure-base-image] $*" >&2; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

if [ -n "${SANDBOX_BASE_IMAGE:-}" ]; then
  echo "$SANDBOX_BASE_IMAGE"
  exit 0
fi

official=debian:trixie-slim
bootstrapped=aurea-base:trixie

for image in "$official" "$bootstrapped"; do
  if have "$image"; then echo "$image"; exit 0; fi
done

if timeout 30 docker pull -q "$official" >/dev/null 2>&1; then
  echo "$official"
  exit 0
fi

log "no registry reachable; bootstrapping $bootstrapped from Debian's mirror"
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /tmp/aurea-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase trixie "$root" "$mirror" >/tmp/aurea-debootstrap.log 2>&1 ||
  { log "debootstrap failed; see /tmp/aurea-debootstrap.log"; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" --exclude=./proc --exclude=./sys --exclude=./dev -c . |
  docker import --change 'CMD ["/bin/bash"]' - "$bootstrapped" >/dev/null
log "imported $bootstrapped"
echo "$bootstrapped"
