# Sourced, not run: adds Debian 13 (trixie) as a second apt suite with a low pin, so that single
# packages can be taken from it (`apt-get install -t trixie PKG`, `apt-get download PKG=VERSION`)
# while nothing on the host upgrades from it by accident. Idempotent; needs root.
# shellcheck shell=bash

ensure_trixie_suite() {
  [ -f /etc/apt/sources.list.d/aurea-trixie.sources ] && return 0
  local mirror
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
  echo "[debian-trixie] adding Debian 13 (trixie) as a low-priority apt suite" >&2
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" >/etc/apt/sources.list.d/aurea-trixie.sources
  printf 'Package: *\nPin: release n=trixie\nPin-Priority: 50\n' >/etc/apt/preferences.d/aurea-trixie
  apt-get update -qq
}
