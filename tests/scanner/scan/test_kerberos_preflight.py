"""Kerberos problems of the jump box end the run before any host is contacted: one line on stderr, exit 64,
and a wrong password costs the account exactly one failed pre-authentication at the KDC."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

import scanner.scan.kerberos_setup as kerberos_setup
from scanner.cli.main import main
from scanner.winrm.kerberos import gssapi_missing
from simulator import Fleet
from tests.paths import REPO
from tests.support.kerberos import LabRealm, kerberos_fleet, require_kerberos
from tests.support.scans import new_password

pytestmark = [pytest.mark.network]
# Linux/macOS: a ticket from kinit or a keytab, python-gssapi. On Windows pyspnego uses SSPI and the logged-on
# account, with no ticket cache or gssapi to check (tests/scanner/scan/test_windows_logon.py).
GSSAPI_JUMP_BOX = pytest.mark.skipif(sys.platform == "win32", reason="Kerberos through gssapi and a ticket cache; "
                                                                      "Windows uses SSPI")

LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)
needs_faketime = pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime missing (apt-get install faketime; "
                                                                 "make test does this as root)")


def run_cli(tmp_path: Path, inventory: Path, *args: str) -> list[str]:
    return ["scan", str(inventory), "-o", str(tmp_path / "run"), "--no-history", "--quiet", "--timeout", "10",
            *args]


def contacted(fleet) -> int:
    return sum(h.counters.connections for h in fleet.hosts)


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("cmaudit: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@GSSAPI_JUMP_BOX
def test_ticketless_negotiate_scan_stops_before_any_host(tmp_path, capsys):
    """`--auth negotiate` without user, password or ticket is exit 64 naming the missing ticket and kinit (it
    used to "work" only because the simulator leaked its NTLM account file to the client)."""
    with Fleet(hosts=3, scenario="sp1-affected", password=new_password(), auth="negotiate") as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = main(run_cli(tmp_path, inventory, "--auth", "negotiate"))
        assert contacted(fleet) == 0
    line = one_line_error(capsys.readouterr().err)
    assert status == 64 and "Kerberos" in line
    if gssapi_missing() is None:
        assert "no Kerberos ticket" in line and "kinit" in line


@pytest.mark.kerberos
@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_wrong_password_is_one_failed_preauthentication(kdc, tmp_path, monkeypatch, capsys, auth):
    """A wrong password for user@REALM is refused by the KDC once, before any host: exit 64, one line, one
    PREAUTH_FAILED in the KDC's log for four hosts (at --max-auth-failures 1 --concurrency 1 it used to be four)."""
    monkeypatch.setenv("CMAUDIT_PASSWORD", "not-" + kdc.password)
    with kerberos_fleet(kdc, hosts=4, auth=auth) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = main(run_cli(tmp_path, inventory, "--username", kdc.user, "--max-auth-failures", "1",
                              "--concurrency", "1"))
        assert contacted(fleet) == 0
    line = one_line_error(capsys.readouterr().err)
    assert status == 64 and "password was refused" in line and kdc.user in line
    assert kdc.preauth_failures() == 1 and kdc.tgts_issued() == 0
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.kerberos
def test_kerberos_with_a_netbios_user_name_is_bad_usage(kdc, tmp_path, capsys, monkeypatch):
    """`--auth kerberos --username LAB\\auditor` is exit 64 asking for user@REALM."""
    monkeypatch.setenv("CMAUDIT_PASSWORD", kdc.password)
    with kerberos_fleet(kdc, hosts=1) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = main(run_cli(tmp_path, inventory, "--username", "LAB\\auditor"))
        assert contacted(fleet) == 0
    assert status == 64 and "user@REALM" in one_line_error(capsys.readouterr().err)


@GSSAPI_JUMP_BOX
def test_missing_gssapi_is_bad_usage_for_kerberos_and_a_warning_for_negotiate(tmp_path, capsys, monkeypatch):
    """Without python-gssapi, Kerberos is exit 64 naming the extra to install; negotiate with a password
    warns and logs on with NTLM."""
    monkeypatch.setattr(kerberos_setup, "gssapi_missing", lambda: "Kerberos needs the python package gssapi")
    password = new_password()
    monkeypatch.setenv("CMAUDIT_PASSWORD", password)
    with Fleet(hosts=1, scenario="sp1-affected", password=password, auth="negotiate") as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        assert main(run_cli(tmp_path, inventory, "--auth", "kerberos")) == 64
        line = one_line_error(capsys.readouterr().err)
        assert "cmaudit[kerberos]" in line
        status = main(run_cli(tmp_path, inventory, "--username", "LAB\\auditor"))
        assert fleet.hosts[0].counters.ntlm_logons >= 1
    err = capsys.readouterr().err
    assert status == 1 and "falls back to NTLM" in err


def _child_scan(tmp_path: Path, inventory: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`cmaudit scan` in a child process (to shift its clock with libfaketime)."""
    command = [sys.executable, "-m", "scanner", *run_cli(tmp_path, inventory, *args)]
    return subprocess.run(command, cwd=REPO, env=env, text=True, capture_output=True, timeout=120)


@pytest.mark.kerberos
@needs_faketime
def test_expired_ticket_stops_the_run(kdc, tmp_path):
    """A ticket cache whose TGT has expired (the jump box's clock 11 h after kinit) is exit 64 saying so,
    with the kinit hint, before any host is contacted."""
    ccache = f"FILE:{tmp_path / 'ticket'}"
    kdc.kinit(ccache)
    with kerberos_fleet(kdc, hosts=1) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        env = {**os.environ, "KRB5CCNAME": ccache, "LD_PRELOAD": LIBFAKETIME or "", "FAKETIME": "+11h",
               "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        done = _child_scan(tmp_path, inventory, env)
        assert contacted(fleet) == 0
    assert done.returncode == 64, done.stderr
    line = one_line_error(done.stderr)
    assert "ticket expired" in line and "kinit" in line


@pytest.mark.kerberos
@needs_faketime
def test_clock_skew_with_the_kdc_stops_the_run(tmp_path, monkeypatch, capsys):
    """A KDC whose clock is an hour off (and a client that does not correct for it) refuses the logon with
    "clock skew too great": exit 64 with the time-sync hint, and no wrong password in the KDC's log."""
    require_kerberos()
    skew = {"LD_PRELOAD": LIBFAKETIME or "", "FAKETIME": "+1h", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    with LabRealm(kdc_env=skew, libdefaults="    kdc_timesync = 0") as realm:
        for name, value in realm.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CMAUDIT_PASSWORD", realm.password)
        with kerberos_fleet(realm, hosts=1) as fleet:
            inventory = fleet.write_inventory(tmp_path / "hosts.csv")
            status = main(run_cli(tmp_path, inventory, "--username", realm.user))
            assert contacted(fleet) == 0
        assert realm.preauth_failures() == 0
    line = one_line_error(capsys.readouterr().err)
    assert status == 64 and "clock skew" in line and "clock" in line.split("hint:", 1)[1]
