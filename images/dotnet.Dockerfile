# The "dotnet" family: C# on Mono (mcs and the Mono runtime).
# Built FROM the core sandbox image (Dockerfile.sandbox), so it shares its user (uid/gid 10001),
# its hardening and the supervisor's programs; images/harden.sh runs again after the install.
ARG CORE_IMAGE=aurea-sandbox:latest
FROM ${CORE_IMAGE}

USER root
# Build-time only: ARG, unlike ENV, leaves nothing behind in the environment programs see.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      mono-mcs mono-runtime \
 && sh /usr/local/lib/aurea/harden.sh

LABEL dev.aurea.family="dotnet"
USER 10001:10001
WORKDIR /workspace
