#!/bin/sh
# `make test-windows` runs the suite on Windows CPython under wine (tools/windows_python.py). Install Debian's
# wine64 when it is missing and we are root with apt (as tools/ensure-chromium.sh does for chromium); unlike the
# browser tests, the Windows run cannot skip: without wine it fails, saying why.
if command -v wine >/dev/null 2>&1 || command -v wine64 >/dev/null 2>&1; then
    exit 0
fi
LOG=/tmp/cmaudit-wine-install.log
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's wine64 for the Windows test run..."
    if (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wine64) >"$LOG" 2>&1; then
        exit 0
    fi
    echo "wine64 could not be installed (see $LOG)" >&2
else
    echo "wine is not installed and this is not root with apt: install wine64 (Debian/Ubuntu) to run make test-windows" >&2
fi
exit 1
