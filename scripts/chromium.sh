#!/usr/bin/env bash
# Makes sure headless Chromium is there for the browser tests
# (TestPortalPagesInABrowser): Debian's chromium package, installed when
# missing. CHROMIUM=/path/to/browser skips the install.
set -euo pipefail
if [ -n "${CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
echo "installing chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get install -y chromium >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y chromium >/dev/null; }
command -v chromium >/dev/null
