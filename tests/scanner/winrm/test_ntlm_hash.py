"""NTLM logons from hashes computed once per password: the hashes are right, hidden, and really used."""

from __future__ import annotations

from pathlib import Path

import pytest
import spnego._ntlm as spnego_ntlm

from scanner.model.records import Verdict
from scanner.model.redaction import REDACTOR
from scanner.winrm.ntlm import NtlmHashes
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password, scan


def test_hashes_match_the_published_vectors() -> None:
    """pyspnego's hash functions still give MS-NLMP's LM and NT hashes of "Password" (fails if they move)."""
    hashes = NtlmHashes.of("Password")
    assert hashes.lm == "E52CAC67419A9A224A3B108F3FA6CB6D"
    assert hashes.nt == "A4F49C406510BDCAB6824EE7C30FD852"


def test_hashes_never_show_in_a_repr() -> None:
    """Neither the hashes nor the credential built from them print the hashes (tracebacks, debuggers)."""
    hashes = NtlmHashes.of("Password")
    shown = repr(hashes) + repr(hashes.credential("LAB\\auditor"))
    assert hashes.nt not in shown.upper() and hashes.lm not in shown.upper()
    assert "E52CAC67419A9A224A3B108F3FA6CB6D:A4F49C406510BDCAB6824EE7C30FD852".lower() in hashes.secret_forms()


@pytest.mark.network
def test_a_fleet_is_hashed_once_and_the_trace_masks_the_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
