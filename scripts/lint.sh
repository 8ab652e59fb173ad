#!/usr/bin/env bash
# Lints everything that is not generated: TypeScript (Biome: lint rules and formatting), the shell
# scripts (shellcheck), and the programs that run inside a sandbox with their own language's
# checks. Run by CI and by `npm run lint`.
set -euo pipefail
cd "$(dirname "$0")/.."

npx biome check
shellcheck scripts/*.sh .ci/run src/sandbox/programs/supervisor.sh src/sandbox/programs/loaders/*.sh images/harden.sh
# The supervisor runs under Debian's dash in the image: check it as plain POSIX sh too.
sh -n src/sandbox/programs/supervisor.sh
for file in src/sandbox/programs/loaders/*.sh; do bash -n "$file"; done
sh -n images/harden.sh
# Compiled with warnings as errors (invalid escapes and the like), writing no bytecode anywhere.
python3 -W error -c 'import pathlib, sys; [compile(pathlib.Path(path).read_text(), path, "exec") for path in sys.argv[1:]]' \
  src/sandbox/programs/loaders/*.py src/sandbox/programs/kernels/*.py src/sandbox/programs/session-agent/*.py src/sandbox/programs/workspace-files.py src/sandbox/programs/egress-gateway/*.py
# The Python client promises Python 3.9: its files must parse with 3.9's grammar.
python3 -W error -c 'import ast, pathlib, sys; [ast.parse(pathlib.Path(path).read_text(), path, feature_version=(3, 9)) for path in sys.argv[1:]]' \
  clients/python/src/aurea_client/*.py clients/python/tests/*.py
for file in src/sandbox/programs/loaders/*.cjs src/sandbox/programs/kernels/*.cjs; do node --check "$file"; done
ruby -wc src/sandbox/programs/loaders/ruby.rb >/dev/null
# The compiled helpers, with the warnings the image's build turns into errors, and a few more.
gcc -std=c11 -fsyntax-only -Wall -Wextra -Werror -Wshadow -Wconversion -Wformat=2 images/helper/*.c
# The JVM's compiler loader, by the javac it runs under (the jvm image's, which CI builds before
# this), every lint warning an error.
if ! docker image inspect aurea-sandbox-jvm:latest >/dev/null 2>&1; then
  echo "lint: CompilerLoader.java needs the jvm image: bash scripts/build-sandbox-images.sh" >&2
  exit 1
fi
docker run --rm --network none --user 10001:10001 --entrypoint javac \
  -v "$PWD/src/sandbox/programs/loaders:/loaders:ro" aurea-sandbox-jvm:latest \
  -Xlint:all -Werror -d /tmp /loaders/CompilerLoader.java
echo "lint: clean"
