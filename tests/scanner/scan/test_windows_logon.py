"""Single sign-on from a domain-joined Windows jump box: with no user name, negotiate logs on as the logged-on
account through SSPI (as Invoke-Command does), no password is looked up or stored, doctor names the account,
and the account's rejections count towards the lockout breaker like a password's. SSPI is faked
(tests/support/sspi.py): it cannot run on Linux, and wine's crashes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import scanner.scan.credentials as credentials
from scanner.cli.main import main
from scanner.model.records import ErrorCategory
from scanner.winrm.kerberos import logged_on_account
from simulator import Fleet
from tests.support.fleet import healthy_machine
from tests.support.scans import new_password
from tests.support.sspi import logged_on_as

pytestmark = pytest.mark.network

ACCOUNT = "LAB\\auditor"  # the simulator's account: the one the jump box's user logged on with


@pytest.fixture
def no_password_anywhere(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No password in the environment, and every keyring lookup recorded (there must be none)."""
    for name in ("CMAUDIT_PASSWORD",):
        monkeypatch.delenv(name, raising=False)
    asked: list[str] = []
    monkeypatch.setattr(credentials, "keyring_password", lambda user: asked.append(user))
    return asked


def _scan(tmp_path: Path, inventory: Path, *extra: str) -> int:
    return main(["scan", str(inventory), "-o", str(tmp_path / "run"), "--auth", "negotiate", "--no-history",
                 "--quiet", "--timeout", "30", "--workers", "1", *extra])


def test_negotiate_without_a_user_logs_on_as_the_logged_on_account(tmp_path, monkeypatch, no_password_anywhere):
    """`cmaudit scan --auth negotiate` with no --username on Windows audits every host as the logged-on account:
    cmaudit hands SSPI no credential, and looks no password up anywhere."""
    secret = new_password()
    with Fleet(hosts=3, password=secret, username=ACCOUNT, machine_factory=healthy_machine, profiles=["h"] * 3,
               auth="negotiate") as fleet, logged_on_as(monkeypatch, ACCOUNT, secret) as session:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = _scan(tmp_path, inventory, "--debug", str(tmp_path / "trace.log"))
        logons = sum(h.counters.ntlm_logons for h in fleet.hosts)
    doc = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert status == 1 and [h["error"] for h in doc["hosts"]] == [None, None, None]  # judged: AT_RISK
    assert logons >= 3 and len(session.single_sign_on) >= 3 and session.with_credentials == 0
    assert no_password_anywhere == []
    written = "".join(p.read_text(encoding="utf-8", errors="replace") for p in tmp_path.rglob("*") if p.is_file()
                      and p.suffix in (".json", ".jsonl", ".csv", ".html", ".xml", ".log"))
    assert secret not in written


def test_logged_on_account_refused_counts_towards_the_breaker(tmp_path, monkeypatch, capsys, no_password_anywhere):
    """Hosts refusing the logged-on account are ERROR/auth naming it, and after --max-auth-failures of them the
    account's other hosts are skipped: its secret may be stale and the domain would lock it out."""
    with Fleet(hosts=4, password=new_password(), username=ACCOUNT, machine_factory=healthy_machine,
               profiles=["h"] * 4, auth="negotiate") as fleet, \
            logged_on_as(monkeypatch, ACCOUNT, "changed-" + new_password()):
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = _scan(tmp_path, inventory, "--max-auth-failures", "2", "--concurrency", "1")
        tried = [h.counters.requests > 0 for h in fleet.hosts]
    doc = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    errors = [h["error"] for h in doc["hosts"]]
    assert status & 2 and tried == [True, True, False, False]
    assert [e["category"] for e in errors] == [ErrorCategory.AUTH.value] * 2 + [ErrorCategory.AUTH_SKIPPED.value] * 2
    assert ACCOUNT in errors[0]["message"] and "--username" in errors[0]["hint"]


def test_doctor_names_the_account_it_logs_on_as(tmp_path, monkeypatch, capsys, no_password_anywhere):
    """`cmaudit doctor --auth negotiate` without --username says the hosts log on as the logged-on account, by
    name, with no password, and checks the logon with it."""
    secret = new_password()
    with Fleet(hosts=1, password=secret, username=ACCOUNT, machine_factory=healthy_machine, profiles=["h"],
               auth="negotiate") as fleet, logged_on_as(monkeypatch, ACCOUNT, secret) as session:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = main(["doctor", str(inventory), "--auth", "negotiate", "--json", "--no-history"])
    report = json.loads(capsys.readouterr().out)
    local = {c["name"]: c for c in report["local"]}
    assert ACCOUNT in local["kerberos"]["detail"] and "single sign-on" in local["kerberos"]["detail"]
    assert "password" not in local or local["password"]["ok"]
    assert status == 0, report["hosts"][0]["checks"]
    assert session.single_sign_on and no_password_anywhere == []


@pytest.mark.skipif(sys.platform != "win32", reason="asks Windows who this process runs as")
def test_logged_on_account_is_what_windows_says():
    """On Windows the logged-on account is read as DOMAIN\\user (what `whoami` prints)."""
    account = logged_on_account()
    assert account and "\\" in account
