"""A scan of every simulated site-server profile gives each host the verdict its profile calls for."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.records import Verdict
from simulator.fleet import Fleet
from tests.scanner.fleet_helpers import is_read_only, new_password, scan

pytestmark = pytest.mark.network
profiles = pytest.importorskip("simulator.profiles")

MUST_COVER = ("x64-wow6432", "custom-path", "rolled-log", "utf16-log")


def _scan_all(tmp_path: Path, **fleet_options: object) -> tuple[list[tuple[str, object, object]], list[str]]:
    password = new_password()
    names = list(profiles.PROFILE_NAMES)
    with Fleet(profiles=names, password=password, **fleet_options) as fleet:  # type: ignore[arg-type]
        result = scan(fleet, tmp_path, password, scheme="https" if fleet.tls else "http", timeout=20.0)
        by_port = result.by_port()
        rows = [(h.profile, by_port[h.port], h.counters) for h in fleet.hosts]
        commands = [c for h in fleet.hosts for c in h.commands]
    return rows, commands


def _check(rows: list[tuple[str, object, object]]) -> None:
    wrong = [(profile, host.verdict, host.error, host.reasons[:1])  # type: ignore[attr-defined]
             for profile, host, _ in rows
             if host.verdict is not Verdict(str(profiles.expected_verdict(profile)))]  # type: ignore[attr-defined]
    assert not wrong
    assert {p for p, _, _ in rows} >= set(MUST_COVER)


def test_ntlm_over_http_with_encryption(tmp_path: Path) -> None:
    """Over HTTP with NTLM and message encryption every profile (64-bit, custom path, rolled, UTF-16) is right."""
    rows, commands = _scan_all(tmp_path, tls=False, auth="ntlm")
    _check(rows)
    assert all(is_read_only(c) for c in commands)
    for profile, host, counters in rows:
        # one shell, two commands: Create, Command, Receive(s), Command, Receive(s), Delete
        big_logs = sum(lf.size for lf in host.facts.logs) // 100_000  # type: ignore[attr-defined]
        assert host.requests <= 6 + big_logs, profile  # type: ignore[attr-defined]
        assert counters.requests <= host.requests + 3, profile  # type: ignore[attr-defined]  # NTLM handshake


def test_basic_over_https_with_ca_file(tmp_path: Path) -> None:
    """Over HTTPS with Basic, validated against the simulator's CA, the verdicts are the same."""
    rows, _ = _scan_all(tmp_path, tls=True, auth="basic")
    _check(rows)
