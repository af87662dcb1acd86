"""Fixtures shared by the test packages: a headless Chromium (Debian's) driven by Playwright's sync API."""

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

CHROMIUM = os.environ.get("CMAUDIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


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


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """`cmaudit demo` run once per test session (it takes seconds), in a thread of its own so no other
    event loop (Playwright's) can be in its way; its password is fixed so the leak test can search for it."""
    from scanner.cli.main import main

    home = tmp_path_factory.mktemp("demo-home")
    root = home / "demo"
    password = "Pw-demo-" + secrets.token_urlsafe(18)
    out, err = io.StringIO(), io.StringIO()
    result: dict[str, int] = {}

    def run() -> None:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result["status"] = main(["demo", "-o", str(root), "--quiet", "--faults", DEMO_FAULTS])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(secrets, "token_urlsafe", lambda n=None: password)
        mp.chdir(home)
        worker = threading.Thread(target=run, name="demo-run")
        worker.start()
        worker.join()
    return DemoRun(root, home, result.get("status", -1), out.getvalue(), err.getvalue(), password)
