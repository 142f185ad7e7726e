#!/usr/bin/env bash
# The integration tests start real servers from Debian's packages: PostgreSQL, Ceph's radosgw (the S3
# server) and Chromium (the dashboard's browser tests), and trace one with strace. This names the
# missing ones.
#
#   bash scripts/test-prerequisites.sh            check; install what is missing only when CI=true
#   bash scripts/test-prerequisites.sh --install  install what is missing (npm run test:servers)
#
# It runs before `npm test` (pretest). A person running the tests on their own machine is never
# surprised by apt-get: outside CI it only says what to install and how, unless asked to install.
set -euo pipefail

missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
command -v radosgw >/dev/null || missing+=(radosgw ceph-mon ceph-osd)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# What the server asks of the kernel (test/faults/durable-blobs.test.ts: fsync before a 201).
command -v strace >/dev/null || missing+=(strace)
[ ${#missing[@]} -eq 0 ] && exit 0

install=false
[ "${1:-}" = "--install" ] && install=true
[ "${CI:-}" = "true" ] && install=true

if ! $install; then
  echo "The integration tests need these Debian packages, which are missing: ${missing[*]}" >&2
  echo "Install them with: npm run test:servers   (as root: apt-get install)" >&2
  echo "           or: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "The unit specs need none of them: npm run test:unit" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "Cannot install ${missing[*]}: this needs root and apt-get (Debian)." >&2
  echo "Install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "Installing the test servers from Debian's packages: ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
