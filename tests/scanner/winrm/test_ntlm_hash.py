"""NTLM logons from hashes computed once per password: the hashes are right, hidden, and really used."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from scanner.model.records import Verdict
from scanner.model.redaction import REDACTOR
from scanner.winrm.ntlm import NtlmHashes
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password, scan

PRIVATE = "spnego._ntlm_raw.crypto"  # where pyspnego keeps lmowfv1/ntowfv1 (0.11, 0.12)


@pytest.fixture
def spnego_ntlm() -> Any:
    """pyspnego's private NTLM module, for the tests that check or count its hash functions (skipped where an
    installed pyspnego keeps them elsewhere: cmaudit then logs on with the password, tested below)."""
    pytest.importorskip(PRIVATE, reason=f"the installed pyspnego has no {PRIVATE}: cmaudit does not hash")
    return pytest.importorskip("spnego._ntlm", reason="the installed pyspnego has no spnego._ntlm")


def test_hashes_match_the_published_vectors(spnego_ntlm: Any) -> None:
    """pyspnego's hash functions still give MS-NLMP's LM and NT hashes of "Password" (fails if they move)."""
    hashes = NtlmHashes.of("Password")
    assert hashes.lm == "E52CAC67419A9A224A3B108F3FA6CB6D"
    assert hashes.nt == "A4F49C406510BDCAB6824EE7C30FD852"


def test_hashes_never_show_in_a_repr(spnego_ntlm: Any) -> None:
    """Neither the hashes nor the credential built from them print the hashes (tracebacks, debuggers)."""
    hashes = NtlmHashes.of("Password")
    shown = repr(hashes) + repr(hashes.credential("LAB\\auditor"))
    assert hashes.nt not in shown.upper() and hashes.lm not in shown.upper()
    assert "E52CAC67419A9A224A3B108F3FA6CB6D:A4F49C406510BDCAB6824EE7C30FD852".lower() in hashes.secret_forms()


@pytest.mark.network
def test_a_fleet_is_hashed_once_and_the_trace_masks_the_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               spnego_ntlm: Any) -> None:
    """Four NTLM hosts log on with one pre-computed hash (pyspnego never hashes the password per host), and the
    run's redactor scrubs the hashes like the password while the run lasts."""
    password = new_password()
    calls = {"pyspnego": 0}
    real = vars(spnego_ntlm)["lmowfv1"]

    def counting(secret: str) -> bytes:
        calls["pyspnego"] += 1
        return real(secret)

    monkeypatch.setattr(spnego_ntlm, "lmowfv1", counting)
    hashes = NtlmHashes.of(password)
    scrubbed: list[str] = []
    with Fleet(hosts=4, password=password, machine_factory=healthy_machine, profiles=["h"] * 4) as fleet:
        result = scan(fleet, tmp_path, password, concurrency=2,
                      on_runner=lambda _runner: scrubbed.extend(REDACTOR.redact(form) for form in (
                          hashes.nt, hashes.lm.lower(), f"{hashes.lm}:{hashes.nt}")))
    assert [h.verdict is not Verdict.ERROR and h.error is None for h in result.outcome.results.hosts] == [True] * 4
    assert calls["pyspnego"] == 0
    assert scrubbed == ["<secret>"] * 3
    texts = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert not [t for t in texts for form in hashes.secret_forms() if form.encode() in t]


@pytest.mark.network
def test_without_pyspnegos_hash_functions_hosts_log_on_with_the_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A pyspnego release that moved its private hash functions changes nothing a user sees: one debug line says
    so, and the NTLM hosts log on with the password (pyspnego hashes it per host) and are judged."""
    password = new_password()
    with Fleet(hosts=2, password=password, machine_factory=healthy_machine, profiles=["h"] * 2) as fleet:
        monkeypatch.setitem(sys.modules, PRIVATE, None)  # `from spnego._ntlm_raw.crypto import ...` now fails
        with pytest.raises(LookupError):
            NtlmHashes.of(password)
        with caplog.at_level(logging.DEBUG, logger="scanner.winrm.ntlm"):
            result = scan(fleet, tmp_path, password, concurrency=2)
    assert [h.verdict is not Verdict.ERROR and h.error is None for h in result.outcome.results.hosts] == [True] * 2
    lines = [r.getMessage() for r in caplog.records if r.name == "scanner.winrm.ntlm"]
    assert len(lines) == 1 and "log on with the password" in lines[0]
