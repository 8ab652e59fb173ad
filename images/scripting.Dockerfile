# The "scripting" family: Ruby, PHP, Perl, Lua, Tcl, R, SQLite, AWK and TypeScript (npm's current release).
# Built FROM the core sandbox image (Dockerfile.sandbox), so it shares its user (uid/gid 10001),
# its hardening and the supervisor's programs; images/harden.sh runs again after the install.
ARG CORE_IMAGE=aurea-sandbox:latest
FROM ${CORE_IMAGE}

USER root
# Build-time only: ARG, unlike ENV, leaves nothing behind in the environment programs see.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ruby php-cli perl lua5.4 tcl r-base-core sqlite3 gawk node-typescript \
 && sh /usr/local/lib/aurea/harden.sh
# TypeScript's current release from npm's registry (Debian packages 4.9). The tarball is pinned by
# the SHA-512 npm publishes for it, which is what makes it trusted: the build container may reach
# the registry through a proxy whose certificate authority it does not hold, so TLS is not what
# is relied on. Debian's @types/node (node-typescript's dependency) stays.
ARG TYPESCRIPT_VERSION=5.9.3
ARG TYPESCRIPT_SHA512=jl1vZzPDinLr9eUt3J/t7V6FgNEw9QjvBPdysz9KfQDD41fQrC2Y4vKQdiaUpFT4bXlb1RHhLpp8wtm6M5TgSw==
RUN python3 -c "import base64, hashlib, ssl, urllib.request; \
data = urllib.request.urlopen('https://registry.npmjs.org/typescript/-/typescript-${TYPESCRIPT_VERSION}.tgz', timeout=120, context=ssl._create_unverified_context()).read(); \
assert base64.b64encode(hashlib.sha512(data).digest()).decode() == '${TYPESCRIPT_SHA512}', 'integrity mismatch'; \
open('/tmp/typescript.tgz', 'wb').write(data)" \
 && mkdir -p /usr/local/lib/typescript \
 && tar -xzf /tmp/typescript.tgz -C /usr/local/lib/typescript --strip-components=1 --no-same-owner \
 && rm /tmp/typescript.tgz \
 && ln -sf /usr/local/lib/typescript/bin/tsc /usr/local/bin/tsc \
 && sh /usr/local/lib/aurea/harden.sh

LABEL dev.aurea.family="scripting"
USER 10001:10001
WORKDIR /workspace
