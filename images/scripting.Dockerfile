# The "scripting" family: Ruby, PHP, Perl, Lua, Tcl, R, SQLite, AWK and TypeScript (Debian's node-typescript).
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

LABEL dev.aurea.family="scripting"
USER 10001:10001
WORKDIR /workspace
