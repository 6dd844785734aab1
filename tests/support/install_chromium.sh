#!/usr/bin/env bash
# Debian's chromium and chromium-driver for the report browser check (tests/integration/analytics/
# test_report_browser.py). Quiet and instant when both are there; installs them with apt-get when missing (as
# root, or through passwordless sudo); otherwise says what to install and leaves it to the test to fail clearly.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium/chromedriver missing and no apt-get here: install Chromium and its chromedriver" \
       "(the report browser check needs them)" >&2
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "chromium/chromedriver missing: run as root: apt-get install -y chromium chromium-driver" >&2
  exit 0
fi
echo "installing Debian's chromium and chromium-driver (apt-get; once)"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >/dev/null &&
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null ||
  { echo "apt-get could not install chromium chromium-driver" >&2; exit 1; }
