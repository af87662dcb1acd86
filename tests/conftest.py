"""Fixtures shared by the test packages: a headless Chromium (Debian's) driven by Playwright's sync API,
the shared demo run, and a throwaway Kerberos realm on loopback."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulator.ntlm_store import SimulatorUnavailable
from tests.support.kerberos import LabRealm, require_kerberos

CHROMIUM = os.environ.get("CMAUDIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(autouse=True)
def _no_accounts_left_unproven() -> Iterator[None]:
    """Every test starts without the accounts an earlier test's scans left unproven: one process runs them all,
    and a scan starts more carefully after another one in its process stopped for a password."""
    from scanner.scan.accounts import UNPROVEN

    UNPROVEN.forget()
    yield


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One browser per test module keeps the suite fast; each test gets its own context/page."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium or set CMAUDIT_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A test that needs the simulator on a pyspnego without the private pieces it relies on is skipped, naming
    them (SimulatorUnavailable), not failed: pyproject bounds pyspnego to the series they were checked on."""
    outcome = yield
    if call.excinfo is not None and call.excinfo.errisinstance(SimulatorUnavailable):
        report = outcome.get_result()  # type: ignore[attr-defined]
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {call.excinfo.value}")


# Hosts of the shared demo run that misbehave, so the no-secret test also covers error paths.
DEMO_FAULTS = "2=badauth,4=badxml,6=reset,8=http503x1,10=huge:4"


@dataclass(frozen=True)
class DemoRun:
    """One `cmaudit demo` run, shared by every test that checks what the demo leaves behind."""

    root: Path  # the -o folder: the second scan's reports, baseline/, history.sqlite3
    home: Path  # the working directory it ran in (everything it wrote is below)
    status: int
    stdout: str
    stderr: str
    password: str  # the fleet's random password, known to the test so it can search for it
    trace: Path  # its --debug trace (inside `home`, so the no-secret search covers it)
    history: Path  # the history database the demo recorded its runs in: its own, in its folder
    production_history: Path  # $CMAUDIT_HISTORY during the run: the history real audits use, never the demo's


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """`cmaudit demo --debug` run once per test session (it takes seconds), in a thread of its own so no other
    event loop (Playwright's) can be in its way; its password is fixed so the leak test can search for it."""
    from scanner.cli.main import main

    home = tmp_path_factory.mktemp("demo-home")
    root = home / "demo"
    production_history = home / "production" / "history.sqlite3"
    password = "Pw-demo-" + secrets.token_urlsafe(18)
    out, err = io.StringIO(), io.StringIO()
    result: dict[str, int] = {}

    def run() -> None:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result["status"] = main(["demo", "-o", str(root), "--quiet", "--faults", DEMO_FAULTS,
                                     "--debug", str(home / "debug-trace.log")])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(secrets, "token_urlsafe", lambda n=None: password)
        mp.setenv("CMAUDIT_HISTORY", str(production_history))  # where real audits record: the demo must not
        mp.chdir(home)
        worker = threading.Thread(target=run, name="demo-run")
        worker.start()
        worker.join()
    return DemoRun(root, home, result.get("status", -1), out.getvalue(), err.getvalue(), password,
                   home / "debug-trace.log", root / "history.sqlite3", production_history)


# -- Kerberos -------------------------------------------------------------------------------------------------
_KRB5_VARIABLES = ("KRB5_CONFIG", "KRB5CCNAME", "KRB5_CLIENT_KTNAME", "KRB5_KTNAME", "KRB5_KDC_PROFILE",
                   "KRB5RCACHETYPE", "KRB5RCACHEDIR", "KRB5_TRACE", "NTLM_USER_FILE")


@pytest.fixture(scope="session", autouse=True)
def no_kerberos_outside_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test may use the box's Kerberos set-up: /etc/krb5.conf (the apt install writes one for
    ATHENA.MIT.EDU, whose KDC is looked up in DNS), a developer's own ticket, or an NTLM_USER_FILE.
    Every test starts with a realm that has no KDC and a ticket cache that does not exist."""
    folder = tmp_path_factory.mktemp("no-kerberos")
    conf = folder / "krb5.conf"
    conf.write_text("[libdefaults]\n    default_realm = NO-KDC.INVALID\n    dns_lookup_kdc = false\n"
                    "    dns_lookup_realm = false\n    dns_canonicalize_hostname = false\n    rdns = false\n"
                    "[realms]\n    NO-KDC.INVALID = {\n    }\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        for name in _KRB5_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setenv("KRB5_CONFIG", str(conf))
        mp.setenv("KRB5CCNAME", f"FILE:{folder / 'no-ticket-here'}")
        mp.setenv("KRB5RCACHETYPE", "none")
        yield


@pytest.fixture
def kdc(monkeypatch: pytest.MonkeyPatch) -> Iterator[LabRealm]:
    """A fresh MIT KDC for LAB.TEST on loopback, the process pointed at it (and at an empty ticket cache).

    Skips with the reason where MIT Kerberos or gssapi are not installed (`make test` installs both as root).
    """
    require_kerberos()
    with LabRealm() as realm:
        for name, value in realm.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("KRB5CCNAME", f"FILE:{realm.tmpdir / 'empty-ccache'}")
        yield realm
