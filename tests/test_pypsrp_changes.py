"""A pypsrp release that reshapes a private piece cmaudit relies on leaves the tests green: cmaudit falls back to
pypsrp's public path, and tests of the path it no longer takes skip, saying why."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.paths import REPO
from tests.support.pypsrp_changes import CHANGES, ENV, active

# every test that speaks WinRM through pypsrp's pieces, the session and the shell cleanup of a scan
WINRM_TESTS = ("tests/scanner/winrm", "tests/scanner/scan/test_scan_eras.py")


@pytest.mark.network
@pytest.mark.skipif(bool(active()), reason="already inside a run with a simulated pypsrp change")
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_winrm_tests_pass_with_a_changed_pypsrp(change: str) -> None:
    """With one of pypsrp's private pieces reshaped (tests.support.pypsrp_changes), the WinRM tests pass: no
    failure, only skips of the fast path's own tests, each with its reason."""
    env = dict(os.environ, **{ENV: change})
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.support.pypsrp_changes",
                          "-p", "no:cacheprovider", *WINRM_TESTS],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
