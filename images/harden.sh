#!/bin/sh
# Hardens a sandbox image after its packages are installed; run as the last root step of
# Dockerfile.sandbox and of every family's Dockerfile under images/ (the core image keeps this
# file at /usr/local/lib/aurea/harden.sh for them).
#
# - the package lists and caches are dropped (nothing in a sandbox installs packages);
# - no file keeps a setuid or setgid bit, so nothing in the image can raise privileges;
# - no directory stays world-writable but /tmp (a tmpfs at run time), so a writable root file
#   system would offer the program nowhere else to write;
# - the sandbox user (uid/gid 10001) and its workspace exist, whatever the family installed.
set -eu

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log

find / -xdev -perm /6000 -type f -exec chmod ug-s {} +
chmod 0755 /var/tmp
find / -xdev -type d -perm -0002 ! -path /tmp -exec chmod o-w {} +

if ! getent group sandbox >/dev/null; then groupadd --gid 10001 sandbox; fi
if ! getent passwd sandbox >/dev/null; then
  useradd --uid 10001 --gid 10001 --home-dir /workspace --no-create-home --shell /bin/bash sandbox
fi
mkdir -p /workspace
chown sandbox:sandbox /workspace
chmod 0700 /workspace
