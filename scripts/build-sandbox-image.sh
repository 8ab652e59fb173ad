#!/usr/bin/env bash
# Builds the sandbox image from Dockerfile.sandbox on a base that works on this machine
# (see ensure-base-image.sh). Layers are cached, so a rebuild with no change takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${SANDBOX_IMAGE:-aurea-sandbox:latest}
base=$(bash scripts/ensure-base-image.sh)
echo "[build-sandbox-image] building $image from $base" >&2
docker build -q -f Dockerfile.sandbox --build-arg "BASE_IMAGE=$base" -t "$image" . >/dev/null
echo "[build-sandbox-image] $image: $(docker image inspect --format '{{.Id}}' "$image")" >&2
