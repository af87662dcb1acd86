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
    """The kept evidence is the server's log, converted from UTF-16 by `type` into the shell's code page (UTF-8, or
    437 on a host that refuses it), byte for byte."""
    import gzip
    import hashlib

    (log,) = [lf for lf in host.facts.logs if lf.path.lower().endswith(".log")]  # type: ignore[attr-defined]
    original = files[log.path.lower()]
    assert original.startswith(b"\xff\xfe")
    kept = gzip.decompress((run_dir / log.saved_as).read_bytes())
    codec = {65001: "utf-8", 437: "cp437"}[host.facts.codepage]  # type: ignore[attr-defined]
    assert kept == original.decode("utf-16").encode(codec, "replace")  # 437 has no "®": type writes "?"
    assert log.sha256 == hashlib.sha256(kept).hexdigest() and not log.truncated


def _check(rows: list[tuple[str, object, object]]) -> None:
    wrong = [(profile, host.verdict, host.error, host.reasons[:1])  # type: ignore[attr-defined]
             for profile, host, _ in rows
             if host.verdict is not Verdict(str(profiles.expected_verdict(profile)))]  # type: ignore[attr-defined]
    assert not wrong
    assert {p for p, _, _ in rows} >= set(MUST_COVER)


def _request_bound(era: str, log_bytes: int) -> int:
    """WS-Management requests a host of `era` may need: Create, Command, Receive(s), Command, Receive(s), Delete;
    before 2008 R2 the UTF-8 shell is refused (one Create more) or runs nothing (a whole shell more), and replies
    carry 32 KB at most instead of ~110 KB."""
    fallback = {"2003r2-winrm11": 1, "2008-winrm11": 4}.get(era, 0)
    per_reply = 100_000 if era == "modern" else 30_000
    return 6 + fallback + log_bytes // per_reply + (2 if era != "modern" else 0)


def test_ntlm_over_http_with_encryption(tmp_path: Path) -> None:
    """Over HTTP with NTLM and message encryption every profile (64-bit, custom path, rolled, UTF-16) of every era
    is right, in one connection per host and a bounded number of requests."""
    rows, commands = _scan_all(tmp_path, tls=False, auth="ntlm")
    _check(rows)
    assert all(is_read_only(c) for c in commands)
    for profile, host, counters in rows:
        era = profiles.load_profile(profile).era
        log_bytes = sum(lf.size for lf in host.facts.logs)  # type: ignore[attr-defined]
        assert host.requests <= _request_bound(era, log_bytes), profile  # type: ignore[attr-defined]
        assert counters.requests <= host.requests + 3, profile  # type: ignore[attr-defined]  # NTLM handshake
        assert counters.connections == 1, profile  # type: ignore[attr-defined]  # one connection per host
        assert counters.requests >= host.requests, profile  # type: ignore[attr-defined]


def test_ntlm_over_https_with_legacy_tls(tmp_path: Path) -> None:
    """Over HTTPS every era's listener (TLS 1.0 and a SHA-1/RSA-1024 certificate before 2012, tls=legacy in the
    inventory the simulator writes), validated against the fleet's CA, gives the same verdicts."""
    rows, _ = _scan_all(tmp_path, tls=True, auth="ntlm")
    _check(rows)


def test_basic_over_https_with_ca_file(tmp_path: Path) -> None:
    """Over HTTPS with Basic, validated against the simulator's CA, the verdicts are the same (on modern
    listeners: before 2012 Basic takes local accounts only, and UAC filters a local administrator)."""
    rows, _ = _scan_all(tmp_path, tls=True, auth="basic", eras="modern")
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
