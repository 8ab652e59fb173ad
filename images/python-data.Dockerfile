# The "python-data" family: Python 3 with Debian's numpy, scipy, pandas, matplotlib, sympy and pillow,
# and pip, for sessions whose network policy allows a package index (`pip install --user ...`).
# Built FROM the core sandbox image (Dockerfile.sandbox), so it shares its user (uid/gid 10001),
# its hardening and the supervisor's programs; images/harden.sh runs again after the install.
ARG CORE_IMAGE=aurea-sandbox:latest
FROM ${CORE_IMAGE}

USER root
# Build-time only: ARG, unlike ENV, leaves nothing behind in the environment programs see.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3-numpy python3-scipy python3-pandas python3-matplotlib python3-sympy python3-pil fonts-dejavu-core python3-pip \
 && printf "backend: Agg\n" >/etc/matplotlibrc \
 && sh /usr/local/lib/aurea/harden.sh

LABEL dev.aurea.family="python-data"
USER 10001:10001
WORKDIR /workspace
