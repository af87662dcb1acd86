#!/bin/sh
# Browser tests drive Debian's chromium through Playwright (Playwright's own browser download cannot
# work offline), and read printed reports back with poppler's pdftotext. Install both when we can (root
# with apt); otherwise the browser tests (or only the PDF checks) skip with a reason.
missing=""
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
    missing="chromium"
fi
if ! command -v pdftotext >/dev/null 2>&1; then
    missing="$missing poppler-utils"
fi
if [ -z "$missing" ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's$missing for the browser tests..."
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing) >/tmp/cmaudit-chromium-install.log 2>&1 \
        || echo "$missing could not be installed (see /tmp/cmaudit-chromium-install.log); browser tests will skip"
else
    echo "$missing not found and not root: browser tests (or their PDF checks) will skip"
fi
exit 0
