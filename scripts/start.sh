#!/usr/bin/env bash
# `npm start`: makes sure a Docker engine answers and a base image exists for the sandbox image,
# compiles, and runs the server. The server builds the sandbox image itself when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-engine.sh
# On every start, not only when the sandbox image is missing: BuildImage needs a base it can use
# later too (a rebuild on a machine with no registry builds from the bootstrapped one).
SANDBOX_BASE_IMAGE=$(bash scripts/ensure-base-image.sh)
export SANDBOX_BASE_IMAGE
npm run --silent build
exec node dist/src/main.js
