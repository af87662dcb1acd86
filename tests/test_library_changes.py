"""A release of pypsrp or pyspnego that reshapes a private piece cmaudit relies on leaves the tests green:
cmaudit falls back to the library's public path, and tests of the path it no longer takes skip, saying why."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.paths import REPO
from tests.support.pypsrp_changes import CHANGES, ENV, active

# every test that speaks WinRM through pypsrp's pieces, the session and the shell cleanup of a scan
WINRM_TESTS = ("tests/scanner/winrm", "tests/scanner/scan/test_scan_eras.py")
# the NTLM hashing, the logon driven by pyspnego, a scan on the simulator, the simulator's own check
PYSPNEGO_TESTS = ("tests/scanner/winrm/test_ntlm_hash.py", "tests/scanner/winrm/test_logon.py",
                  "tests/scanner/winrm/test_rejections.py", "tests/simulator/test_server_kerberos.py")
INSIDE = "CMAUDIT_LIBRARY_CHANGE_RUN"


def _pytest(plugin: str, tests: tuple[str, ...], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", plugin, "-p", "no:cacheprovider",
                           *tests], cwd=REPO, env=dict(os.environ, **env, **{INSIDE: "1"}), capture_output=True,
                          text=True, timeout=900, check=False)


inside_a_change = pytest.mark.skipif(bool(active() or os.environ.get(INSIDE)),
                                     reason="already inside a run with a simulated library change")


@pytest.mark.network
@inside_a_change
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_winrm_tests_pass_with_a_changed_pypsrp(change: str) -> None:
    """With one of pypsrp's private pieces reshaped (tests.support.pypsrp_changes), the WinRM tests pass: no
    failure, only skips of the fast path's own tests, each with its reason."""
    run = _pytest("tests.support.pypsrp_changes", WINRM_TESTS, **{ENV: change})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout


@pytest.mark.network
@inside_a_change
def test_the_ntlm_tests_pass_with_pyspnegos_private_modules_moved() -> None:
    """With pyspnego's private modules moved (tests.support.pyspnego_moved), NTLM logons still work through its
    public API, and what needs the private pieces (hashing, the simulator) skips naming them."""
    run = _pytest("tests.support.pyspnego_moved", PYSPNEGO_TESTS)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
    assert "spnego._ntlm_raw.crypto" in run.stdout  # a skip says what is missing
