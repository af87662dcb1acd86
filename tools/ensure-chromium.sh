#!/bin/sh
# Browser tests drive Debian's chromium through Playwright (Playwright's own browser download cannot
# work offline). Install it when we can (root with apt); otherwise the browser tests skip with a reason.
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests..."
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/tmp/cmaudit-chromium-install.log 2>&1 \
        || echo "chromium could not be installed (see /tmp/cmaudit-chromium-install.log); browser tests will skip"
else
    echo "chromium not found and not root: browser tests will skip"
fi
exit 0
