#!/usr/bin/env bash
# Debian's chromium for the browser tests and bench-web: Playwright cannot download its own builds
# here, so it drives this one by its executable path. Idempotent: does nothing once installed.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium is missing and installing it needs root: run 'apt-get install -y chromium' as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
echo "installed $(/usr/bin/chromium --version 2>/dev/null)"
