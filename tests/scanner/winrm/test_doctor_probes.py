"""`cmaudit doctor` tests the logon the scan will do: the same transport, the same credential."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import spnego
from spnego.exceptions import BadMechanismError, NativeError

from scanner.cli.main import main
from simulator import Fleet
from tests.support.fleet import new_password, scan

pytestmark = pytest.mark.network


def _like_a_windows_jump_box_without_sspi(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """pyspnego as on a Windows jump box whose SSPI cannot get a credential for a password ("Getting SSPI
    credential"); hashes (NTLMHash) never go to SSPI, so pyspnego's own NTLM takes them, as on Windows."""
    real = spnego.client
    seen: list[str] = []

    def client(username: Any = None, password: str | None = None, *args: Any, **kwargs: Any) -> Any:
        seen.append(type(username).__name__)
        if isinstance(username, str) and password is not None:
            raise BadMechanismError(base_error=NativeError("no credentials", winerror=-2146893051),
                                    context_msg="Getting SSPI credential")
        return real(username, password, *args, **kwargs)

    monkeypatch.setattr(spnego, "client", client)
    return seen


def test_doctor_logs_on_with_the_credential_the_scan_uses(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a password would go to SSPI and fail (a Windows jump box), the scan logs on with the password's NTLM
    hashes and so does doctor: doctor's logon step passes exactly when the scan's logon works."""
    seen = _like_a_windows_jump_box_without_sspi(monkeypatch)
    password = new_password()
    monkeypatch.setenv("CMAUDIT_PASSWORD", password)
    with Fleet(hosts=1, scenario="sp1-affected", password=password) as fleet:
        scanned = scan(fleet, tmp_path / "scan", password)
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = main(["doctor", "--json", "--no-history", str(inventory), "--username", fleet.username,
                       "-o", str(tmp_path / "runs")])
    report = json.loads(capsys.readouterr().out)
    assert scanned.outcome.results.hosts[0].error is None
    checks = {check["name"]: check for check in report["hosts"][0]["checks"]}
    assert checks["logon"]["ok"], checks["logon"]
    assert status == 0 and set(seen) == {"NTLMHash"}
