#!/usr/bin/env bash
# Brings up a Docker engine with the gVisor (runsc) runtime registered, idempotently.
# Used by `npm start` and by CI. Needs root only when something must be installed or started.
set -euo pipefail

log() { echo "[ensure-engine] $*" >&2; }
# shellcheck source=scripts/debian-trixie.sh
source "$(dirname "$0")/debian-trixie.sh"

# The engine's default seccomp profile, which Aurea's is derived from (src/docker/seccomp-profile.ts).
# The engine keeps it compiled in; Debian ships the same file, for the same version, in the
# engine's Go source package, from which only this one file is taken.
seccomp_base=/usr/local/share/aurea/docker-default-seccomp.json
install_seccomp_base() {
  [ -s "$seccomp_base" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "$seccomp_base is missing and this is not root: see README (Security model)"
    return 1
  fi
  log "installing the engine's default seccomp profile to $seccomp_base"
  local work
  work=$(mktemp -d)
  (cd "$work" && apt-get download -qq golang-github-docker-docker-dev >/dev/null 2>&1) || {
    apt-get update -qq && (cd "$work" && apt-get download -qq golang-github-docker-docker-dev >/dev/null)
  }
  dpkg-deb -x "$work"/golang-github-docker-docker-dev_*.deb "$work/x"
  mkdir -p "$(dirname "$seccomp_base")"
  cp "$work/x/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json" "$seccomp_base"
  rm -rf "$work"
}

# gVisor: Debian 13's runsc (a static binary with no package dependencies), registered with the
# engine as "runsc". Debian 12's build (2022-12-19) fails statx with EINVAL, which breaks `stat`
# and `ls -l` in every sandbox. Only this one file is taken from trixie: the suite is added with a
# low pin so nothing on the host upgrades from it. The release is in README (gVisor).
runsc_path=/usr/local/lib/aurea/runsc
runsc_version=0.0~20240729.0
install_runsc() {
  if [ -x "$runsc_path" ] && "$runsc_path" --version 2>/dev/null | grep -qF "$runsc_version"; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    log "$runsc_path (gVisor $runsc_version) is missing and this is not root: see README (gVisor)"
    return 1
  fi
  local work
  ensure_trixie_suite
  log "installing gVisor runsc $runsc_version from trixie to $runsc_path"
  work=$(mktemp -d)
  (cd "$work" && apt-get download -qq "runsc=$runsc_version*" >/dev/null 2>&1) || {
    apt-get update -qq && (cd "$work" && apt-get download -qq "runsc=$runsc_version*" >/dev/null)
  }
  dpkg-deb -x "$work"/runsc_*.deb "$work/x"
  install -D -m 0755 "$work/x/usr/bin/runsc" "$runsc_path"
  rm -rf "$work"
}

# runsc needs --network=none in its own arguments, or containers with NetworkMode none fail to
# start ("cannot run with network enabled in root network namespace"). gVisor is registered once
# per platform (RUNSC_PLATFORM picks one, src/sandbox/runtimes.ts names them): "runsc" is ptrace
# (the name a plain `docker run --runtime runsc` uses), "runsc-systrap" and, only where a KVM
# sandbox really starts, "runsc-kvm". Each has a "-network" twin for sandboxes with an egress
# policy: gVisor serving sockets from the container's own network namespace, whose only peer is
# the egress gateway.
# Whether gVisor's KVM platform starts a sandbox here: /dev/kvm present is not enough (on some
# hosts runsc hangs creating one). Probed once per runsc build; the answer is kept.
kvm_probe=/usr/local/lib/aurea/kvm-platform
kvm_works() {
  local version="" answer=""
  [ -s "$kvm_probe" ] && read -r version answer <"$kvm_probe"
  if [ "$version" != "$runsc_version" ]; then
    answer=no
    if [ -c /dev/kvm ] && timeout -k 2 20 "$runsc_path" --platform=kvm --network=none "do" true >/dev/null 2>&1; then
      answer=yes
    fi
    echo "$runsc_version $answer" >"$kvm_probe"
    log "gVisor's KVM platform starts a sandbox here: $answer"
  fi
  [ "$answer" = yes ]
}
runtime_entry() { # name platform network
  printf '    "%s": {\n      "path": "%s",\n      "runtimeArgs": ["--platform=%s", "--network=%s"]\n    }' "$1" "$runsc_path" "$2" "$3"
}
daemon_json() {
  local platforms=(ptrace systrap) platform name first=true
  kvm_works && platforms+=(kvm)
  echo '{'
  echo '  "runtimes": {'
  for platform in "${platforms[@]}"; do
    name=runsc
    [ "$platform" = ptrace ] || name=runsc-$platform
    $first || echo ','
    first=false
    runtime_entry "$name" "$platform" none
    echo ','
    runtime_entry "$name-network" "$platform" host
  done
  echo
  echo '  }'
  echo '}'
}

engine_answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if engine_answers; then
  log "engine already answers"
  install_seccomp_base
  install_runsc
  # An engine started before runsc was moved to trixie's build picks the new path up on SIGHUP.
  if [ "$(id -u)" = 0 ] && [ "$(cat /etc/docker/daemon.json 2>/dev/null)" != "$(daemon_json)" ]; then
    log "registering $runsc_path as runsc (an entry per platform)"
    daemon_json >/etc/docker/daemon.json
    pkill -HUP -x dockerd || true
    for _ in $(seq 1 40); do engine_answers && break; sleep 0.25; done
  fi
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  log "no Docker engine answers and this is not root: start dockerd yourself (see README)"
  exit 1
fi

if ! command -v dockerd >/dev/null; then
  log "installing docker.io from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
install_runsc
mkdir -p /etc/docker
daemon_json >/etc/docker/daemon.json

# A dockerd that was just killed may linger as a zombie until reaped: only a live one counts.
# pgrep cannot tell a zombie from a live process; ps shows the state.
# shellcheck disable=SC2009
live_dockerd() { ps -C dockerd -o stat= 2>/dev/null | grep -qv "^Z"; }

last_start=-100
start_dockerd() {
  # One start at a time: a dockerd just launched may not show in ps for a moment.
  [ $((SECONDS - last_start)) -ge 10 ] || return 0
  last_start=$SECONDS
  log "starting dockerd (log: /var/log/aurea-dockerd.log)"
  # A killed dockerd leaves its pid file, and dockerd refuses to start while that pid exists, as
  # an unreaped zombie does.
  rm -f /var/run/docker.pid
  # Detached (setsid): the engine must outlive whatever started it, a test process included.
  setsid nohup dockerd >>/var/log/aurea-dockerd.log 2>&1 </dev/null &
}

# A dockerd that is running but not answering is reloading (after SIGHUP) or shutting down; wait
# for it to answer, or to be gone and then start a new one.
if live_dockerd; then pkill -HUP -x dockerd || true; else start_dockerd; fi
for _ in $(seq 1 120); do
  if engine_answers; then
    log "engine ready: $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}')"
    install_seccomp_base
    exit 0
  fi
  live_dockerd || start_dockerd
  sleep 0.5
done
log "dockerd did not answer within 60 s; see /var/log/aurea-dockerd.log"
exit 1
