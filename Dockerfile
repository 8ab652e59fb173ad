# The Aurea server itself (not the sandboxes it runs code in: those are Dockerfile.sandbox and
# images/, which the server builds on the engine at start). Built by scripts/build-server-image.sh,
# which assembles the context and picks the base: debian:trixie-slim where a registry answers, or
# the same Debian 13 bootstrapped from Debian's mirror (scripts/ensure-base-image.sh) where none
# does. Node.js 20 comes from Debian 13's own package, npm packages from npm: nothing else.
ARG BASE_IMAGE=debian:trixie-slim

FROM ${BASE_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# The certificate authorities the building machine's npm trusts (an egress proxy's, say); empty
# when it names none. Only this build stage uses them.
COPY npm-ca.crt /tmp/npm-ca.crt
RUN if [ -s /tmp/npm-ca.crt ]; then npm config set cafile /tmp/npm-ca.crt; fi \
 && npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY gen gen
COPY bench bench
COPY scripts scripts
COPY playground playground
RUN npm run build && npm prune --omit=dev && rm -rf dist/bench dist/scripts

FROM ${BASE_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && useradd --uid 10002 --user-group --no-create-home --home-dir /app aurea \
 && install -d -o 10002 -g 10002 /var/lib/aurea/snapshots
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
# What the server builds the sandbox images from, and its language files.
COPY Dockerfile.sandbox ./
COPY images images
COPY languages languages
# The engine's default seccomp profile that Aurea hardens (taken from the build machine's engine).
COPY docker-default-seccomp.json /usr/local/share/aurea/docker-default-seccomp.json
LABEL dev.aurea.image="server"
ENV NODE_ENV=production PORT=8000
EXPOSE 8000
# The engine's socket is the one privilege it needs: run it with the socket's group (compose.yaml).
USER 10002:10002
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 CMD ["node", "dist/src/health-probe.js"]
CMD ["node", "dist/src/main.js"]
