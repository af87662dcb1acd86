"""A throwaway MIT Kerberos realm on 127.0.0.1 for the Kerberos tests: nothing system-wide is touched.

    with LabRealm() as realm:
        keytabs = realm.add_hosts(["cm000.lab.test"])   # HTTP/, WSMAN/, host/ principals + one keytab per host
        realm.env                                       # KRB5_CONFIG etc. for this process or a child
        realm.kinit(ccache)                             # a ticket cache for auditor@LAB.TEST
        realm.preauth_failures()                        # wrong passwords the KDC counted

The realm lives in a temp dir (database, stash, keytabs, logs); `krb5kdc -n` runs as a direct child
(never through a wrapper, so terminating it cannot orphan it) and listens on a free loopback port, TCP
and UDP. krb5.conf turns off DNS lookups and hostname canonicalisation, so SPNs are exactly the names
given and no packet leaves the box. Principals need pre-authentication (`+preauth`), as in Active
Directory, so a wrong password is "Preauthentication failed" and is logged as such by the KDC.
Setting up and tearing down takes well under a second.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from simulator import Fleet
from simulator.kerberos import KerberosKeys

REALM = "LAB.TEST"
DOMAIN = "lab.test"
USER = "auditor"
PASSWORD = "Aud1t'or P@ss! " + "x"  # quotes, spaces and ! must survive kadmin and every client
SERVICES = ("HTTP", "WSMAN", "host")
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
PROGRAMS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit")


def _which(program: str) -> str | None:
    found = shutil.which(program)
    if found:
        return found
    for folder in _SBIN:
        candidate = os.path.join(folder, program)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def unavailable_reason() -> str | None:
    """Why the Kerberos tests cannot run here (None when they can)."""
    missing = [p for p in PROGRAMS if _which(p) is None]
    if missing:
        return (f"MIT Kerberos programs missing ({', '.join(missing)}): apt-get install krb5-kdc "
                "krb5-admin-server krb5-user libkrb5-dev (make test does this as root)")
    for module in ("gssapi", "krb5"):
        if importlib.util.find_spec(module) is None:
            return f"python module {module} missing: pip install 'cmaudit[kerberos]' (make test does this)"
    return None


def require_kerberos() -> None:
    """Skip the calling test with the reason when Kerberos cannot run here; fail instead where it must run
    (CMAUDIT_REQUIRE_KERBEROS=1, set by .ci/run)."""
    import pytest

    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CMAUDIT_REQUIRE_KERBEROS"):
        pytest.fail(f"Kerberos tests required but cannot run: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    """A port free on 127.0.0.1 for both TCP and UDP (the KDC listens on both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port for the KDC")


class LabRealm:
    """An MIT KDC for realm LAB.TEST with the user auditor@LAB.TEST (password PASSWORD)."""

    def __init__(self, realm: str = REALM, *, kdc_env: dict[str, str] | None = None,
                 libdefaults: str = "") -> None:
        self.realm = realm
        self.kdc_env = dict(kdc_env or {})
        self._libdefaults = libdefaults
        self.tmpdir = Path(tempfile.mkdtemp(prefix="cmaudit-krb-"))
        self.port = _free_port()
        self.krb5_conf = self.tmpdir / "krb5.conf"
        self.kdc_conf = self.tmpdir / "kdc.conf"
        self.kdc_log = self.tmpdir / "kdc.log"
        self.client_keytab = self.tmpdir / "client.keytab"
        self.user = f"{USER}@{realm}"
        self.password = PASSWORD
        self.env = {
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.kdc_conf),
            "KRB5CCNAME": "FILE:" + str(self.tmpdir / "default-ccache-unused"),
            "KRB5RCACHETYPE": "none",
            "KRB5RCACHEDIR": str(self.tmpdir),
        }
        self._kdc: subprocess.Popen[bytes] | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> LabRealm:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        self._write_conf()
        self._run(_which("kdb5_util") or "kdb5_util", "create", "-s", "-W", "-r", self.realm,
                  "-P", "master-not-secret")
        password = self.password.replace('"', '\\"')
        self.kadmin(f'addprinc -pw "{password}" {self.user}',
                    f"ktadd -k {self.client_keytab} -norandkey {self.user}")
        env = {**os.environ, **self.env, **self.kdc_env}
        self._kdc = subprocess.Popen([_which("krb5kdc") or "krb5kdc", "-n", "-r", self.realm], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while "commencing operation" not in self.kdc_log_text():
            if self._kdc.poll() is not None:
                raise RuntimeError(f"krb5kdc exited: {self.kdc_log_text()[-500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("krb5kdc did not start within 30 s")
            time.sleep(0.01)  # polling a child's log for readiness, not synchronising the code under test

    def stop(self) -> None:
        kdc, self._kdc = self._kdc, None
        if kdc is not None and kdc.poll() is None:
            kdc.terminate()
            try:
                kdc.wait(10)
            except subprocess.TimeoutExpired:
                kdc.kill()
                kdc.wait()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    # -- set-up -----------------------------------------------------------------------------------------
    def _write_conf(self) -> None:
        self.krb5_conf.write_text(f"""[libdefaults]
    default_realm = {self.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
{self._libdefaults}
[realms]
    {self.realm} = {{
        kdc = 127.0.0.1:{self.port}
    }}
[domain_realm]
    .{DOMAIN} = {self.realm}
    {DOMAIN} = {self.realm}
""", encoding="utf-8")
        self.kdc_conf.write_text(f"""[kdcdefaults]
    kdc_ports = {self.port}
    kdc_tcp_ports = {self.port}
    kdc_listen = 127.0.0.1:{self.port}
    kdc_tcp_listen = 127.0.0.1:{self.port}
[realms]
    {self.realm} = {{
        database_name = {self.tmpdir}/principal
        key_stash_file = {self.tmpdir}/stash
        acl_file = {self.tmpdir}/kadm5.acl
        kdc_listen = 127.0.0.1:{self.port}
        kdc_tcp_listen = 127.0.0.1:{self.port}
        max_life = 10h
        default_principal_flags = +preauth
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}
[logging]
    kdc = FILE:{self.kdc_log}
    default = FILE:{self.tmpdir}/other.log
""", encoding="utf-8")
        (self.tmpdir / "kadm5.acl").write_text("", encoding="utf-8")

    def _run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, env={**os.environ, **self.env}, input=stdin, text=True, capture_output=True,
                              check=True, timeout=60)

    def kadmin(self, *commands: str) -> str:
        """Run kadmin.local commands in one process (its parser honours "double quotes")."""
        done = self._run(_which("kadmin.local") or "kadmin.local", "-r", self.realm, stdin="\n".join(commands) + "\n")
        if any(word in done.stderr.lower() for word in ("error", "fail", "unknown")):
            raise RuntimeError(f"kadmin.local: {done.stderr.strip()}")
        return done.stdout

    def add_hosts(self, names: list[str], services: tuple[str, ...] = SERVICES) -> dict[str, str]:
        """Register `service/name` SPNs for each host; answer {name: keytab file holding that host's keys}."""
        commands: list[str] = []
        keytabs: dict[str, str] = {}
        for name in names:
            host = name.lower()
            keytab = str(self.tmpdir / f"{host}.keytab")
            keytabs[name] = keytab
            for service in services:
                commands += [f"addprinc -randkey {service}/{host}@{self.realm}",
                             f"ktadd -k {keytab} {service}/{host}@{self.realm}"]
        if commands:
            self.kadmin(*commands)
        return keytabs

    # -- helpers for tests -------------------------------------------------------------------------------
    def kinit(self, ccache: str, *, password: str | None = None, lifetime: str | None = None) -> None:
        """Fill `ccache` (FILE:...) with a TGT for the realm's user, as an admin would with kinit."""
        args = [_which("kinit") or "kinit", "-c", ccache]
        if lifetime:
            args += ["-l", lifetime]
        self._run(*args, self.user, stdin=(self.password if password is None else password) + "\n")

    def kdc_log_text(self) -> str:
        try:
            return self.kdc_log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tgts_issued(self) -> int:
        """AS exchanges that ended with a TGT for the realm's user."""
        return sum(1 for line in self.kdc_log_text().splitlines()
                   if "AS_REQ" in line and "ISSUE:" in line and f" {self.user} for krbtgt/" in line)

    def preauth_failures(self) -> int:
        """Wrong passwords the KDC counted for the realm's user (what locks an AD account out). MIT logs a
        skewed pre-authentication timestamp as PREAUTH_FAILED too, with another reason: not counted."""
        return sum(1 for line in self.kdc_log_text().splitlines()
                   if "AS_REQ" in line and "PREAUTH_FAILED" in line and f" {self.user} for " in line
                   and line.rstrip().endswith("Preauthentication failed"))

    def service_tickets(self, spn: str) -> int:
        """TGS exchanges that issued a ticket for `spn` (e.g. HTTP/cm000.lab.test)."""
        return sum(1 for line in self.kdc_log_text().splitlines()
                   if "TGS_REQ" in line and "ISSUE:" in line and f" for {spn}@" in line)


def kerberos_fleet(realm: LabRealm, *, hosts: int = 1, profiles: list[str] | None = None,
                   registered: list[str] | None = None, services: tuple[str, ...] = SERVICES,
                   **kwargs: Any) -> Fleet:
    """A fleet of hosts CM00i.lab.test that accept the realm's user (also as LAB\\auditor over NTLM).

    `registered`: the host names whose SPNs the KDC knows (default: all); `services`: which SPN classes.
    Other keyword arguments go to Fleet (auth for the inventory, default kerberos; faults, tls, ...).
    """
    count = len(profiles) if profiles is not None else hosts
    names = [f"CM{i:03d}.{DOMAIN}" for i in range(count)]
    keytabs = realm.add_hosts([n for n in names if registered is None or n in registered], services)
    options: dict[str, Any] = {"scenario": "sp1-affected"} if profiles is None else {}
    options["auth"] = "kerberos"  # what the inventory it writes says
    options.update(kwargs)
    return Fleet(profiles=profiles, hosts=count, password=realm.password, username=f"LAB\\{USER}", domain=DOMAIN,
                 kerberos=KerberosKeys(keytabs), **options)
