"""Verdicts never claim more than the logs show: a cut log, a window without a sync cycle, unfinished attempts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scanner.advisory.engine import evaluate
from scanner.model.records import Verdict
from scanner.model.snapshot import LogBlob, Snapshot
from simulator.fleet import Fleet
from tests.paths import REPO
from tests.scanner.advisory.test_engine import ADVISORY, NOISE, RTM, SP1, SP2, attempt, line, statmsg, sync_cycle
from tests.support.fleet import new_password, scan


def _cut(text: bytes, keep: int) -> LogBlob:
    """The last `keep` bytes of a log, as --max-log-bytes keeps them, with the file's real size."""
    return LogBlob("wsyncmgr.log", text[-keep:], truncated=True, size=len(text))


def _log(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.mark.parametrize("head", [pytest.param("fail", id="was-affected"), pytest.param("fail-ok", id="was-recovered")])
@pytest.mark.parametrize(("build", "expected"), [pytest.param(RTM, Verdict.AT_RISK, id="rtm"),
                                                 pytest.param(SP1, Verdict.AT_RISK, id="sp1"),
                                                 pytest.param(SP2, Verdict.NOT_AFFECTED, id="sp2")])
def test_a_cut_log_is_not_judged_as_whole(head, build, expected):
    """The failure (or recovery) cut away with the head of the log: AT_RISK on RTM/SP1 saying what was cut."""
    outcomes = ["fail"] if head == "fail" else ["fail", "ok"]
    text = _log([ln for o in outcomes for ln in attempt(o)] + sync_cycle() + [line(NOISE[0]) for _ in range(40)])
    kept = len(_log([line(NOISE[0]) for _ in range(20)]))  # polling lines only: no attempt in what is kept
    j = evaluate(Snapshot(build=build, logs=(_cut(text, kept),)), ADVISORY)
    assert j.verdict is expected, j.reasons
    if expected is Verdict.AT_RISK:
        assert any(f"was cut to its last {kept:,} of {len(text):,} bytes" in r and "cut away may hold" in r
                   for r in j.reasons), j.reasons


def test_a_cut_log_whose_tail_succeeds_says_a_recovery_may_be_hidden():
    """A kept tail with a successful attempt is NOT_AFFECTED, saying an earlier failure (RECOVERED) may be cut away."""
    text = _log(attempt("fail") + [line(NOISE[0]) for _ in range(30)] + attempt("ok"))
    j = evaluate(Snapshot(build=SP1, logs=(_cut(text, len(_log(attempt("ok"))) + 10),)), ADVISORY)
    assert j.verdict is Verdict.NOT_AFFECTED
    assert any("would make this RECOVERED" in r for r in j.reasons)


def test_legacy_sync_not_observed_without_a_completed_sync_cycle():
    """RTM/SP1 logs covering hours of update lines but no completed sync cycle are AT_RISK, naming the window."""
    busy = [statmsg(6701)] + [line(f"Synchronizing update {i:032x} - Security Update for Windows") for i in range(200)]
    j = evaluate(Snapshot(build=SP1, logs=(LogBlob("wsyncmgr.log", _log(busy)),)), ADVISORY)
    assert j.verdict is Verdict.AT_RISK
    assert j.window is not None and j.window.first is not None and j.window.last is not None
    first, last = (f"{t[:10]} {t[11:19]} UTC" for t in (j.window.first, j.window.last))
    assert any(r.startswith(f"Legacy sync not observed: the logs cover only {first} to {last}")
               for r in j.reasons), j.reasons
    assert [e.role for e in j.evidence if e.role.startswith("window")] == ["window-start", "window-end"]


def test_a_completed_sync_cycle_without_legacy_sync_is_not_affected():
    """The same logs with a sync cycle that ended (6701 ... 6702) and no legacy sync in the quarter of an hour the
    logs run on after it are NOT_AFFECTED."""
    cycle = sync_cycle()
    quiet = [line(NOISE[0]) for _ in range(15)]
    j = evaluate(Snapshot(build=SP1, logs=(LogBlob("wsyncmgr.log", _log(cycle + quiet)),)), ADVISORY)
    assert j.verdict is Verdict.NOT_AFFECTED
    roles = [e.role for e in j.evidence]
    assert roles[roles.index("cycle-start"):][:2] == ["cycle-start", "cycle-done"]


def test_only_unfinished_attempts_are_at_risk_and_the_readme_says_so():
    """An RTM/SP1 log whose only legacy attempts never finished is AT_RISK, and the README's verdict table says so."""
    j = evaluate(Snapshot(build=RTM, logs=(LogBlob("wsyncmgr.log", _log(sync_cycle() + attempt("open"))),)), ADVISORY)
    assert j.verdict is Verdict.AT_RISK and any("never finished" in r for r in j.reasons)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    row = re.search(r"^\| `AT_RISK` \|(.*)\|$", readme, re.MULTILINE)
    assert row is not None
    for rule in ("never finished", "cut", "sync cycle"):
        assert rule in row.group(1), rule
    not_affected = re.search(r"^\| `NOT_AFFECTED` \|(.*)\|$", readme, re.MULTILINE)
    assert not_affected is not None and "sync cycle" in not_affected.group(1)


@pytest.mark.network
def test_scan_with_a_small_log_cap_never_clears_a_failing_host(tmp_path: Path):
    """`--max-log-bytes` small enough to cut the failure away: AFFECTED/RECOVERED hosts are AT_RISK, never cleared."""
    password = new_password()
    profiles = ["sp1-affected", "sp1-recovered", "rtm-affected", "sp2"]
    with Fleet(profiles=profiles, password=password) as fleet:
        result = scan(fleet, tmp_path, password, timeout=30.0, max_log_bytes=4096)
    verdicts = [h.verdict for h in result.outcome.results.hosts]
    assert verdicts == [Verdict.AT_RISK, Verdict.AT_RISK, Verdict.AT_RISK, Verdict.NOT_AFFECTED]
    assert all(any("was cut to its last 4,096 of" in r for r in h.reasons) for h in result.outcome.results.hosts[:3])
