#!/usr/bin/env bash
# Builds the Aurea server's own image (Dockerfile) as aurea:latest, or as $1. Works where no
# registry answers: the base is the bootstrapped Debian 13 then (scripts/ensure-base-image.sh).
# The context holds only what the image needs, assembled from the tracked files.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-aurea:latest}
base=$(bash scripts/ensure-base-image.sh)
context=$(mktemp -d /tmp/aurea-server-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
git ls-files -z -- package.json package-lock.json tsconfig.json tsconfig.build.json src gen bench scripts \
  playground Dockerfile Dockerfile.sandbox images languages | xargs -0 cp --parents -t "$context"
seccomp=/usr/local/share/aurea/docker-default-seccomp.json
[ -s "$seccomp" ] || bash scripts/ensure-engine.sh >&2
cp "$seccomp" "$context/docker-default-seccomp.json"
# npm inside the build trusts what npm here trusts (a proxy's authority, where there is one).
cafile=$(npm config get cafile 2>/dev/null || true)
if [ -n "$cafile" ] && [ "$cafile" != null ] && [ -s "$cafile" ]; then cp "$cafile" "$context/npm-ca.crt"; else : >"$context/npm-ca.crt"; fi
docker build -q --build-arg "BASE_IMAGE=$base" -t "$tag" "$context"
