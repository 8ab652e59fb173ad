#!/usr/bin/env bash
# Builds the sandbox images: the core family from Dockerfile.sandbox on a Debian 13 base that
# works on this machine (see ensure-base-image.sh), then each family named on the command line
# from images/<family>.Dockerfile, FROM the core image; with no names, every family there is.
# Layers are cached, so a rebuild with no change takes seconds.
#
#   scripts/build-sandbox-images.sh              # core and every family
#   scripts/build-sandbox-images.sh core native  # only these
set -euo pipefail
cd "$(dirname "$0")/.."

core=${SANDBOX_IMAGE:-aurea-sandbox:latest}
# The image of a family, named after the core image as src/service/image-families.ts does.
family_image() {
  local repo=${core%:*} tag=${core##*:}
  if [ "$repo" = "$core" ] || [[ $tag == */* ]]; then echo "$core-$1"; else echo "$repo-$1:$tag"; fi
}

if [ $# -eq 0 ]; then
  set -- core
  for dockerfile in images/*.Dockerfile; do
    name=$(basename "$dockerfile" .Dockerfile)
    set -- "$@" "$name"
  done
fi

build() {
  local started=$SECONDS log
  log=$(mktemp)
  # Quiet unless it fails: the engine's build output then says where.
  "$@" >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; return 1; }
  rm -f "$log"
  echo "[build-sandbox-images] $image: $(docker image inspect --format '{{.Id}}' "$image") ($((SECONDS - started)) s)" >&2
}

core_built=false
for family in "$@"; do
  if [ "$family" = core ] || { [ "$core_built" = false ] && ! docker image inspect "$core" >/dev/null 2>&1; }; then
    base=$(bash scripts/ensure-base-image.sh)
    image=$core
    echo "[build-sandbox-images] building $image (family core) from $base" >&2
    # The core Dockerfile copies images/harden.sh, which every family runs again.
    build docker build -q -f Dockerfile.sandbox --build-arg "BASE_IMAGE=$base" -t "$core" images
    core_built=true
    [ "$family" = core ] && continue
  fi
  [ -f "images/$family.Dockerfile" ] || { echo "[build-sandbox-images] no images/$family.Dockerfile" >&2; exit 2; }
  image=$(family_image "$family")
  echo "[build-sandbox-images] building $image (family $family) FROM $core" >&2
  build docker build -q -f "images/$family.Dockerfile" --build-arg "CORE_IMAGE=$core" -t "$image" images
done
