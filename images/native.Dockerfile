# The "native" family: compilers that make native programs: C, C++, Fortran, D, Go, Rust, Pascal, COBOL and NASM.
# Built FROM the core sandbox image (Dockerfile.sandbox), so it shares its user (uid/gid 10001),
# its hardening and the supervisor's programs; images/harden.sh runs again after the install.
# Go: the standard library is compiled once here into a read-only build cache (GOCACHE in
# languages/go.json): hello world then compiles in about half a second (bench:languages), where
# an empty cache took 12 s here.
ARG CORE_IMAGE=aurea-sandbox:latest
FROM ${CORE_IMAGE}

USER root
# libxml-version-check-off.so (COBOL's LD_PRELOAD): Debian 13's libxml2 is 2.9.14 relabelled
# "2.12.7+really2.9.14", and gnucobol3 was built against 2.12's headers, so libcob's start printed
# "Warning: program compiled against libxml 212 using older 209" on every program's stderr. The
# library is 2.9.14's ABI either way; the check, which only prints, is made a no-op.
# Build-time only: ARG, unlike ENV, leaves nothing behind in the environment programs see.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc g++ gfortran gdc golang-go rustc fp-compiler fp-units-rtl gnucobol3 nasm binutils libc6-dev \
 && mkdir -p /usr/local/lib/aurea/go-cache \
 && GOCACHE=/usr/local/lib/aurea/go-cache go build std \
 && chmod -R a+rX /usr/local/lib/aurea/go-cache \
 && printf 'void xmlCheckVersion(int version) { (void) version; }\n' > /tmp/libxml-version-check-off.c \
 && gcc -shared -fPIC -O2 -o /usr/local/lib/aurea/libxml-version-check-off.so /tmp/libxml-version-check-off.c \
 && rm /tmp/libxml-version-check-off.c \
 && sh /usr/local/lib/aurea/harden.sh

LABEL dev.aurea.family="native"
USER 10001:10001
WORKDIR /workspace
