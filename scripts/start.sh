#!/usr/bin/env bash
# `npm start`: makes sure a Docker engine answers and a base image exists for the sandbox image,
# compiles, and runs the server. The server builds the sandbox image itself when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-engine.sh
if ! docker image inspect "${SANDBOX_IMAGE:-aurea-sandbox:latest}" >/dev/null 2>&1; then
  SANDBOX_BASE_IMAGE=$(bash scripts/ensure-base-image.sh)
  export SANDBOX_BASE_IMAGE
fi
npm run --silent build
exec node dist/src/main.js
