#!/usr/bin/env bash
# Brings up a Docker engine with the gVisor (runsc) runtime registered, idempotently.
# Used by `npm start` and by CI. Needs root only when something must be installed or started.
set -euo pipefail

log() { echo "[ensure-engine] $*" >&2; }

engine_answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if engine_answers; then
  log "engine already answers"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  log "no Docker engine answers and this is not root: start dockerd yourself (see README)"
  exit 1
fi

if ! command -v dockerd >/dev/null || ! command -v runsc >/dev/null; then
  log "installing docker.io and runsc from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io runsc >/dev/null
fi

# runsc needs --network=none in its own arguments, or containers with NetworkMode none fail to
# start ("cannot run with network enabled in root network namespace").
mkdir -p /etc/docker
cat >/etc/docker/daemon.json <<'JSON'
{
  "runtimes": {
    "runsc": {
      "path": "/usr/bin/runsc",
      "runtimeArgs": ["--platform=ptrace", "--network=none"]
    }
  }
}
JSON

if ! pgrep -x dockerd >/dev/null; then
  log "starting dockerd (log: /var/log/aurea-dockerd.log)"
  nohup dockerd >/var/log/aurea-dockerd.log 2>&1 &
else
  pkill -HUP -x dockerd || true
fi

for _ in $(seq 1 60); do
  if engine_answers; then
    log "engine ready: $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}')"
    exit 0
  fi
  sleep 0.5
done
log "dockerd did not answer within 30 s; see /var/log/aurea-dockerd.log"
exit 1
