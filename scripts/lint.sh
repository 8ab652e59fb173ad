#!/usr/bin/env bash
# Lints everything that is not generated: TypeScript (Biome: lint rules and formatting), the shell
# scripts (shellcheck), and the programs that run inside a sandbox with their own language's
# checks. Run by CI and by `npm run lint`.
set -euo pipefail
cd "$(dirname "$0")/.."

npx biome check
shellcheck scripts/*.sh .ci/run src/runner/sandbox/supervisor.sh src/runner/sandbox/loaders/exec.sh src/runner/sandbox/cases.sh images/harden.sh
# The supervisor runs under Debian's dash in the image: check it as plain POSIX sh too.
sh -n src/runner/sandbox/supervisor.sh
for file in src/runner/sandbox/loaders/exec.sh src/runner/sandbox/cases.sh; do bash -n "$file"; done
sh -n images/harden.sh
# Compiled with warnings as errors (invalid escapes and the like), writing no bytecode anywhere.
python3 -W error -c 'import pathlib, sys; [compile(pathlib.Path(path).read_text(), path, "exec") for path in sys.argv[1:]]' \
  src/runner/sandbox/loaders/*.py src/runner/sandbox/kernels/*.py src/runner/sandbox/session-agent.py src/runner/sandbox/workspace-files.py
for file in src/runner/sandbox/loaders/*.cjs src/runner/sandbox/kernels/*.cjs; do node --check "$file"; done
ruby -wc src/runner/sandbox/loaders/ruby.rb >/dev/null
echo "lint: clean"
