# The "native" family: compilers that make native programs: C, C++, Fortran, D, Go, Rust, Pascal, COBOL and NASM.
# Built FROM the core sandbox image (Dockerfile.sandbox), so it shares its user (uid/gid 10001),
# its hardening and the supervisor's programs; images/harden.sh runs again after the install.
# Go: the standard library is compiled once here into a read-only build cache (GOCACHE in
# languages/go.json): hello world then compiles in about half a second (bench:languages), where
# an empty cache took 12 s here.
ARG CORE_IMAGE=aurea-sandbox:latest
FROM ${CORE_IMAGE}

USER root
# Build-time only: ARG, unlike ENV, leaves nothing behind in the environment programs see.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc g++ gfortran gdc golang-go rustc fp-compiler fp-units-rtl gnucobol3 nasm binutils libc6-dev \
 && mkdir -p /usr/local/lib/aurea/go-cache \
 && GOCACHE=/usr/local/lib/aurea/go-cache go build std \
 && chmod -R a+rX /usr/local/lib/aurea/go-cache \
 && sh /usr/local/lib/aurea/harden.sh

LABEL dev.aurea.family="native"
USER 10001:10001
WORKDIR /workspace
