"""A scan of every simulated site-server profile gives each host the verdict its profile calls for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scanner.model.records import Verdict
from simulator.fleet import Fleet
from tests.support.fleet import new_password, scan
from tests.support.scans import is_read_only

pytestmark = pytest.mark.network
profiles = pytest.importorskip("simulator.profiles")

MUST_COVER = ("x64-wow6432", "custom-path", "rolled-log", "utf16-log")


def _scan_all(tmp_path: Path, **fleet_options: object) -> tuple[list[tuple[str, Any, Any]], list[str]]:
    password = new_password()
    names = list(profiles.PROFILE_NAMES)
    with Fleet(profiles=names, password=password, **fleet_options) as fleet:  # type: ignore[arg-type]
        result = scan(fleet, tmp_path, password, scheme="https" if fleet.tls else "http", timeout=20.0)
        by_port = result.by_port()
        rows = [(h.profile, by_port[h.port], h.counters) for h in fleet.hosts]
        commands = [c for h in fleet.hosts for c in h.commands]
        utf16 = next(h for h in fleet.hosts if h.profile == "utf16-log")
        files = {path.lower(): data for path, data in utf16.machine.files.items()}  # type: ignore[attr-defined]
        _assert_lossless(tmp_path / "run", by_port[utf16.port], files)
    return rows, commands


def _assert_lossless(run_dir: Path, host: object, files: dict[str, bytes]) -> None:
    """The kept evidence is the server's log, converted from UTF-16 to UTF-8 by `type`, byte for byte."""
    import gzip
    import hashlib

    (log,) = [lf for lf in host.facts.logs if lf.path.lower().endswith(".log")]  # type: ignore[attr-defined]
    original = files[log.path.lower()]
    assert original.startswith(b"\xff\xfe")
    kept = gzip.decompress((run_dir / log.saved_as).read_bytes())
    assert kept == original.decode("utf-16").encode("utf-8")
    assert log.sha256 == hashlib.sha256(kept).hexdigest() and not log.truncated


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
        assert counters.connections == 1, profile  # type: ignore[attr-defined]  # one connection per host


def test_basic_over_https_with_ca_file(tmp_path: Path) -> None:
    """Over HTTPS with Basic, validated against the simulator's CA, the verdicts are the same."""
    rows, _ = _scan_all(tmp_path, tls=True, auth="basic")
    _check(rows)


def test_log_cap_keeps_the_tail(tmp_path: Path) -> None:
    """With --max-log-bytes below the log's size, the newest bytes are kept and marked truncated."""
    import gzip

    password = new_password()
    with Fleet(profiles=["sp1-affected"], password=password) as fleet:
        result = scan(fleet, tmp_path, password, max_log_bytes=4096)
        files = {p.lower(): d for p, d in fleet.hosts[0].machine.files.items()}  # type: ignore[attr-defined]
    host = result.outcome.results.hosts[0]
    (log,) = [lf for lf in host.facts.logs if lf.path.lower().endswith(".log")]
    kept = gzip.decompress((tmp_path / "run" / log.saved_as).read_bytes())  # type: ignore[operator]
    assert log.truncated and log.size == 4096 and kept == files[log.path.lower()][-4096:]
    assert host.verdict is not Verdict.ERROR
