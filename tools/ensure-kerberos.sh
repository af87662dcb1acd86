#!/bin/sh
# The Kerberos tests run a throwaway MIT KDC on loopback and need python-gssapi, which builds from source
# against MIT krb5 (no Linux wheels). Install what they need when we can (root with apt, as
# tools/ensure-chromium.sh does for chromium), then the `kerberos` extra into the venv given as $1;
# otherwise the Kerberos tests skip with the reason. Never fails `make test` by itself.
PY="${1:?usage: ensure-kerberos.sh VENV_PYTHON}"
LOG=/tmp/cmaudit-kerberos-install.log
have_programs() {
    for p in krb5kdc kdb5_util kadmin.local kinit krb5-config; do
        command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || return 1
    done
    ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || return 1  # clock-skew and expiry tests
    command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1
}
if ! have_programs; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing MIT Kerberos (krb5-kdc krb5-admin-server krb5-user libkrb5-dev gcc faketime) for the Kerberos tests..."
        (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            krb5-kdc krb5-admin-server krb5-user libkrb5-dev gcc faketime) >"$LOG" 2>&1 \
            || echo "MIT Kerberos could not be installed (see $LOG); Kerberos tests will skip"
    else
        echo "MIT Kerberos (krb5-kdc, krb5-user, libkrb5-dev) not found and not root: Kerberos tests will skip"
    fi
fi
if "$PY" -c "import gssapi, krb5" >/dev/null 2>&1; then
    exit 0
fi
if command -v krb5-config >/dev/null 2>&1; then
    echo "installing cmaudit[kerberos] (python-gssapi builds from source: a few minutes the first time)..."
    "$PY" -m pip install -q -e '.[kerberos]' >>"$LOG" 2>&1 \
        || echo "cmaudit[kerberos] could not be installed (see $LOG); Kerberos tests will skip"
fi
exit 0
