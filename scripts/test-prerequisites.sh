#!/usr/bin/env bash
# Runs before `npm test`: the suite starts real servers itself (PostgreSQL, Ceph's radosgw as the S3
# server, Chromium for the dashboard), from Debian's packages. Installs the missing ones when it can
# (root with apt-get, as on CI and fresh machines); otherwise names them and stops.
set -euo pipefail

packages=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || packages+=(postgresql)
command -v radosgw >/dev/null || packages+=(radosgw ceph-mon ceph-osd)
[ -x /usr/bin/chromium ] || packages+=(chromium)
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "The tests need these Debian packages: ${packages[*]}" >&2
  echo "Install them with: sudo apt-get install -y --no-install-recommends ${packages[*]}" >&2
  exit 1
fi
echo "Installing the test servers from Debian's packages: ${packages[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
