"""The verdict table: evaluate(snapshot, advisory) on small hand-written logs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.advisory.attempts import judge_attempts
from scanner.advisory.engine import evaluate
from scanner.advisory.timeline import Timeline
from scanner.model.records import Verdict
from scanner.model.snapshot import LogBlob, Snapshot
from scanner.scan.advisory_file import ADVISORY_DIR, load_advisory

ADVISORY = load_advisory()
RTM, SP1, SP2 = "4.00.5931.0000", "4.00.6221.1000", "4.00.6487.2000"
SMS2003, CM2012 = "2.50.4160.2000", "5.00.7804.1000"

_clock = [0]


def line(msg: str) -> str:
    """One server-format line, a minute after the previous one (local time, bias +60)."""
    _clock[0] += 1
    h, m = divmod(_clock[0], 60)
    stamp = f"06-{10 + h // 24:02d}-2008 {h % 24:02d}:{m:02d}:00.000+60"
    return f"{msg}  $$<SMS_WSUS_SYNC_MANAGER><{stamp}><thread=5976 (0x1758)>"


def statmsg(n: int) -> str:
    return line(f'STATMSG: ID={n} SEV=I LEV=M SOURCE="SMS Server" COMP="SMS_WSUS_SYNC_MANAGER" SYS=CM01 SITE=P01')


SIGNATURE = "Error 0x80004005, unexpected DeploymentAction for update 1293995. Returned from CreateUpdateNode"
NOISE = ["Wakeup for a polling cycle", "Next scheduled sync is a regular sync at 6/11/2008 2:00:00 AM"]


def attempt(outcome: str) -> list[str]:
    """A legacy sync attempt ending "ok", "fail" (the advisory's), "other" or "open" (no outcome)."""
    out = [line("Performing legacy sync"), statmsg(6709), line("Preprocessing updates...")]
    if outcome == "ok":
        out += [line("Security updates summary: 1520 processed, 312 matched, 4 outdated, 12 updated"), statmsg(6710)]
    elif outcome == "fail":
        out += [line(SIGNATURE), line("Security updates summary: 0 processed, 0 matched, 0 outdated, 0 updated")]
    elif outcome == "empty":
        out += [line("Security updates summary: 0 processed, 0 matched, 0 outdated, 0 updated")]
    elif outcome == "empty-then-done":
        out += [line("Security updates summary: 0 processed, 0 matched, 0 outdated, 0 updated"), statmsg(6710)]
    elif outcome == "other":
        out += [line("Failed to open C:\\wsusscn2.cab, error 0x80070005"), statmsg(6711)]
    return out


def sync_cycle() -> list[str]:
    """A completed regular sync cycle: STATMSG 6701 (started), an update, 6702 (done)."""
    return [statmsg(6701), line("Synchronizing update 7f1e2a3b - Security Update for Windows (KB951376)"),
            statmsg(6702)]


def log(*outcomes: str, cycle: bool = False, quiet: int = 0) -> bytes:
    """Noise, a sync cycle if asked, the attempts, then `quiet` polling lines a minute apart."""
    lines = [line(n) for n in NOISE] + (sync_cycle() if cycle else [])
    for o in outcomes:
        lines += attempt(o) + [line(n) for n in NOISE]
    lines += [line(NOISE[0]) for _ in range(quiet)]
    return ("\r\n".join(lines) + "\r\n").encode()


def snap(*outcomes: str, build: str | None = None, cycle: bool = False, quiet: int = 0, **kw) -> Snapshot:
    return Snapshot(build=build, logs=(LogBlob("wsyncmgr.log", log(*outcomes, cycle=cycle, quiet=quiet)),), **kw)


def headline(verdict: Verdict) -> str:
    """The advisory's headline for a verdict, up to where the engine names the cause."""
    return ADVISORY.verdict_text[verdict.value].split("{cause}")[0]


@pytest.mark.parametrize(("snapshot", "expected"), [
    pytest.param(snap("ok", build=SP1, setup_key_found=False), Verdict.NOT_APPLICABLE, id="no-setup-key"),
    pytest.param(snap("fail", build=SMS2003), Verdict.NOT_APPLICABLE, id="sms2003"),
    pytest.param(snap("fail", build=CM2012), Verdict.NOT_APPLICABLE, id="cm2012"),
    pytest.param(snap("ok", "fail", build=SP1), Verdict.AFFECTED, id="last-fails-sp1"),
    pytest.param(snap("ok", "fail"), Verdict.AFFECTED, id="last-fails-unknown-build"),
    pytest.param(snap("fail", "ok", build=RTM), Verdict.RECOVERED, id="recovered"),
    pytest.param(snap("fail", "other", "ok", build=RTM), Verdict.RECOVERED, id="recovered-after-other"),
    pytest.param(snap("ok", "ok", build=RTM), Verdict.NOT_AFFECTED, id="always-ok"),
    pytest.param(snap("ok", "other", build=SP1), Verdict.AT_RISK, id="other-failure-sp1"),
    pytest.param(snap("ok", "other", build=SP2), Verdict.NOT_AFFECTED, id="other-failure-sp2"),
    pytest.param(snap("ok", "other"), Verdict.AT_RISK, id="other-failure-unknown-build"),
    pytest.param(snap("fail", "open", build=SP1), Verdict.AFFECTED, id="open-attempt-ignored"),
    pytest.param(snap("ok", "empty", build=SP1), Verdict.AT_RISK, id="nothing-processed-sp1"),
    pytest.param(snap("ok", "empty-then-done", build=SP1), Verdict.AT_RISK, id="nothing-processed-then-6710"),
    pytest.param(snap(build=SP2), Verdict.NOT_AFFECTED, id="no-attempt-sp2"),
    pytest.param(snap(build=RTM, cycle=True, quiet=12), Verdict.NOT_AFFECTED, id="no-attempt-after-a-sync-cycle-rtm"),
    pytest.param(snap(cycle=True, quiet=12), Verdict.NOT_AFFECTED, id="no-attempt-after-a-sync-cycle-unknown-build"),
    pytest.param(snap(build=RTM, cycle=True), Verdict.AT_RISK, id="logs-end-at-the-sync-cycle-rtm"),
    pytest.param(snap(cycle=True), Verdict.UNKNOWN, id="logs-end-at-the-sync-cycle-unknown-build"),
    pytest.param(snap(build=RTM), Verdict.AT_RISK, id="no-attempt-no-sync-cycle-rtm"),
    pytest.param(snap(), Verdict.UNKNOWN, id="no-attempt-no-sync-cycle-unknown-build"),
    pytest.param(snap("open", build=SP1), Verdict.AT_RISK, id="only-open-attempt-sp1"),
    pytest.param(snap("open"), Verdict.UNKNOWN, id="only-open-attempt-unknown"),
    pytest.param(Snapshot(build=SP1, log_error="wsyncmgr.log: access denied"), Verdict.AT_RISK, id="no-log-sp1"),
    pytest.param(Snapshot(build=SP2), Verdict.NOT_AFFECTED, id="no-log-sp2"),
    pytest.param(Snapshot(build=None), Verdict.UNKNOWN, id="no-log-unknown"),
    pytest.param(Snapshot(build="4.00.6000.1"), Verdict.UNKNOWN, id="no-log-unlisted-build"),
    pytest.param(snap(build=SP1, log_error="wsyncmgr.lo_: access denied"), Verdict.AT_RISK, id="partial-log-sp1"),
    pytest.param(Snapshot(build=SP1, logs=(LogBlob("wsyncmgr.log", b"\x00" * 300),)), Verdict.AT_RISK,
                 id="unreadable-log-sp1"),
])
def test_verdict_table(snapshot, expected):
    """Each row of the verdict table gives its verdict, with the advisory's headline as first reason."""
    j = evaluate(snapshot, ADVISORY)
    assert j.verdict is expected, j.reasons
    assert j.reasons[0].startswith(headline(expected))
    assert j.advisory_id == "ms-954474" and j.build == snapshot.build


def test_affected_evidence_names_the_failure_line():
    """AFFECTED cites the failing line with file, line number, UTC time and the update id."""
    data = log("ok", "fail")
    j = evaluate(Snapshot(logs=(LogBlob("wsyncmgr.log", data),)), ADVISORY)
    (failure,) = [e for e in j.evidence if e.role == "failure"]
    assert failure.file == "wsyncmgr.log"
    assert data.decode().split("\r\n")[failure.line - 1].startswith(SIGNATURE)
    assert failure.time is not None and failure.time.endswith("Z")
    assert any("1293995" in r for r in j.reasons)
    assert {e.role for e in j.evidence} >= {"sync-start", "failure", "summary"}


def test_other_failure_carries_the_other_error_line():
    """A failure for another reason shows that other error, not just the failed status message."""
    j = evaluate(snap("other", build=SP1), ADVISORY)
    (other,) = [e for e in j.evidence if e.role == "other-error"]
    assert "0x80070005" in other.text
    assert any(e.role == "sync-failed" for e in j.evidence)


def test_reasons_are_prose_with_times_to_the_second_and_the_error_first():
    """Reasons give times to the second in UTC and the log's file name (the evidence keeps the milliseconds and
    the full path), and a failure for another reason names its error before where it was found."""
    path = "C:\\Program Files\\Microsoft Configuration Manager\\Logs\\wsyncmgr.log"
    j = evaluate(Snapshot(build=SP1, logs=(LogBlob(path, log("ok", "other")),)), ADVISORY)
    assert j.verdict is Verdict.AT_RISK
    other = next(e for e in j.evidence if e.role == "other-error")
    assert other.file == path and other.time is not None and other.time.endswith(".000Z")
    assert j.reasons[1].startswith("The last legacy sync attempt failed for another reason (Failed to open "
                                   "C:\\wsusscn2.cab, error 0x80070005) at "
                                   f"{other.time[:10]} {other.time[11:19]} UTC (wsyncmgr.log:{other.line})"), j.reasons
    assert not any(re.search(r"\d\d:\d\d\.\d{3}|\dT\d|Program Files", r) for r in j.reasons), j.reasons


def test_recovered_cites_earlier_failure_and_later_success():
    """RECOVERED shows both the earlier advisory failure and the success that followed."""
    j = evaluate(snap("fail", "ok"), ADVISORY)
    roles = [e.role for e in j.evidence]
    assert "earlier-failure" in roles and "sync-done" in roles
    assert roles.index("earlier-failure") < roles.index("sync-done")


def test_no_attempt_states_window():
    """NOT_AFFECTED without legacy sync says which time span the logs cover, and cites the sync cycle seen."""
    j = evaluate(snap(build=RTM, cycle=True, quiet=12), ADVISORY)
    assert j.verdict is Verdict.NOT_AFFECTED
    assert j.window is not None and j.window.first is not None and j.window.last is not None
    assert j.window.first < j.window.last
    first, last = (f"{t[:10]} {t[11:19]} UTC" for t in (j.window.first, j.window.last))
    assert any(f"from {first} to {last}" in r for r in j.reasons), j.reasons
    assert [e.role for e in j.evidence][:4] == ["window-start", "window-end", "cycle-start", "cycle-done"]


def test_rolled_log_is_read_before_current():
    """Evidence from wsyncmgr.lo_ precedes wsyncmgr.log: a failure in .lo_ then success in .log recovers."""
    j = evaluate(Snapshot(logs=(LogBlob("wsyncmgr.lo_", log("fail")), LogBlob("wsyncmgr.log", log("ok")))), ADVISORY)
    assert j.verdict is Verdict.RECOVERED
    files = [e.file for e in j.evidence]
    assert files.index("wsyncmgr.lo_") < files.index("wsyncmgr.log")


def test_attempt_split_across_roll_over():
    """An attempt that starts in .lo_ and ends in .log is still one attempt."""
    lines = log("fail").decode().split("\r\n")
    cut = next(i for i, text in enumerate(lines) if text.startswith("Error 0x80004005")) + 1
    lo_ = "\r\n".join(lines[:cut]).encode()
    log_ = ("\r\n".join(lines[cut:]) + "\r\n" + "\r\n".join(attempt("other"))).encode()
    j = evaluate(Snapshot(build=SP1, logs=(LogBlob("wsyncmgr.lo_", lo_), LogBlob("wsyncmgr.log", log_))), ADVISORY)
    assert j.verdict is Verdict.AT_RISK
    j = evaluate(Snapshot(build=SP1, logs=(LogBlob("wsyncmgr.lo_", lo_), LogBlob("wsyncmgr.log", log_[:400]))),
                 ADVISORY)
    assert j.verdict is Verdict.AFFECTED


def test_statmsg_confirms_summary_closed_attempt():
    """A failed status message right after the summary belongs to the same attempt, not a new one."""
    data = "\r\n".join([*attempt("fail"), statmsg(6711)]).encode()
    j = evaluate(Snapshot(build=SP1, logs=(LogBlob("wsyncmgr.log", data),)), ADVISORY)
    assert j.verdict is Verdict.AFFECTED


def test_evaluate_is_pure_and_repeatable():
    """The same snapshot always yields the same judgement."""
    s = snap("fail", "ok", build=SP1)
    assert evaluate(s, ADVISORY) == evaluate(s, ADVISORY)


def test_second_advisory_uses_its_own_signatures(tmp_path: Path):
    """A second advisory file with other STATMSG ids and tokens is judged without engine changes."""
    text = (ADVISORY_DIR / "ms-954474.toml").read_text(encoding="utf-8")
    text = (text.replace('id = "ms-954474"', 'id = "ms-999999"')
            .replace('failure_all_of = ["CreateUpdateNode", "DeploymentAction", "0x80004005"]',
                     'failure_all_of = ["Preprocessing"]'))
    path = tmp_path / "ms-999999.toml"
    path.write_text(text, encoding="utf-8")
    other = load_advisory(path)
    j = evaluate(snap("ok"), other)
    assert (j.verdict, j.advisory_id) == (Verdict.AFFECTED, "ms-999999")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["ok", "fail", "other", "open", "quiet", "empty", "empty-then-done"]), max_size=10),
       st.integers(0, 40), st.integers(64, 3000))
def test_reading_only_the_tail_decides_like_reading_everything(outcomes, split, tail):
    """Judging from the end of the logs finds the same deciding attempt and earlier failure as a full read."""
    lines = [line(n) for n in NOISE]
    for o in outcomes:
        lines += (attempt(o) if o != "quiet" else []) + [line(n) for n in NOISE]
    cut = min(split, len(lines))
    blobs = (LogBlob("wsyncmgr.lo_", "\r\n".join(lines[:cut]).encode()),
             LogBlob("wsyncmgr.log", "\r\n".join(lines[cut:]).encode()))
    timeline = Timeline(blobs)
    fast = judge_attempts(timeline, ADVISORY.signatures, tail=tail)
    full = judge_attempts(timeline, ADVISORY.signatures, tail=1 << 30)
    assert fast.decisive == full.decisive
    assert (fast.earlier_failure and fast.earlier_failure.signature) == (
        full.earlier_failure and full.earlier_failure.signature)
    if full.decisive is None:
        assert fast.attempts == full.attempts


@pytest.mark.parametrize("snapshot", [
    pytest.param(snap("fail", build=SMS2003), id="other-product"),
    pytest.param(snap("fail", build=SP1, setup_key_found=False), id="no-setup-key"),
    pytest.param(snap("ok", build=SP1), id="judged-by-logs"),
])
def test_every_verdict_reports_the_window(snapshot):
    """Even a verdict decided without the logs states the time span they cover."""
    j = evaluate(snapshot, ADVISORY)
    assert j.window is not None and j.window.first and j.window.last


def test_partial_logs_are_not_called_unreadable():
    """When one of the logs could not be read, the reason says so rather than calling the rest unreadable."""
    j = evaluate(snap(build=SP1, log_error="wsyncmgr.lo_: access denied"), ADVISORY)
    assert j.verdict is Verdict.AT_RISK
    assert any("incomplete" in r and "access denied" in r for r in j.reasons)


_PIECES = [*attempt("ok"), *attempt("fail"), *attempt("other"), statmsg(6711), statmsg(6710), line(NOISE[0])]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=60).map(lambda b: b.decode("latin-1"))),
                max_size=40),
       st.integers(0, 40), st.sampled_from([None, RTM, SP1, SP2, SMS2003, "garbage", "4.00.1"]))
def test_any_log_gets_a_verdict_with_evidence_where_it_says(pieces, split, build):
    """Whatever the logs hold, evaluate returns a verdict and each evidence line is at the file and line cited."""
    blobs = tuple(LogBlob(name, "\n".join(part).encode("utf-8", "surrogateescape"))
                  for name, part in (("wsyncmgr.lo_", pieces[:split]), ("wsyncmgr.log", pieces[split:])))
    j = evaluate(Snapshot(build=build, logs=blobs), ADVISORY)
    assert j.verdict in Verdict and j.verdict is not Verdict.ERROR
    by_name = {b.name: b.data.split(b"\n") for b in blobs}
    for e in j.evidence:
        if e.line:
            cited = by_name[e.file][e.line - 1].decode("utf-8", "replace").replace("\x00", "")
            assert e.text.split("\n")[0][:100] in cited


def test_rolled_log_handed_over_second_is_still_read_first():
    """A snapshot listing wsyncmgr.log before wsyncmgr.lo_ is judged as if the .lo_ came first."""
    blobs = (LogBlob("wsyncmgr.log", log("ok")), LogBlob("wsyncmgr.lo_", log("fail")))
    assert evaluate(Snapshot(logs=blobs), ADVISORY).verdict is Verdict.RECOVERED


def test_capped_log_says_line_numbers_are_relative():
    """A tail-capped log's reasons warn that its line numbers count from the kept tail."""
    j = evaluate(Snapshot(logs=(LogBlob("wsyncmgr.log", log("fail"), truncated=True),)), ADVISORY)
    assert any("was cut to its last" in r and "tail" in r and "line numbers" in r for r in j.reasons)
