"""One log, one server, one clock: time order is checked exactly, cheaply where the log is ordinary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.advisory.clock import ALLOWANCE, Clock, _in_order_fast, _read_order
from scanner.advisory.engine import evaluate
from scanner.advisory.logs import LogBuffer
from scanner.advisory.timeline import Timeline
from scanner.model.records import Verdict
from scanner.model.snapshot import LogBlob, Snapshot
from tests.scanner.advisory.test_engine import ADVISORY, SP1

START = datetime(2008, 6, 20, 1, 0)
STATMSG = 'STATMSG: ID={n} SEV=I LEV=M SOURCE="SMS Server" COMP="SMS_WSUS_SYNC_MANAGER" SYS=CM01 SITE=P01 GMTDATE={g}'


def server(msg: str, local: datetime, bias: int = 60) -> str:
    return f"{msg}  $$<SMS_WSUS_SYNC_MANAGER><{local:%m-%d-%Y %H:%M:%S}.000{bias:+d}><thread=1 (0x1)>"


def statmsg(n: int, local: datetime, bias: int = 60, gmt_bias: int | None = None) -> str:
    gmt = local + timedelta(minutes=bias if gmt_bias is None else gmt_bias)
    return server(STATMSG.format(n=n, g=f"{gmt:%a %b %d %H:%M:%S}.000 {gmt:%Y}"), local, bias)


def healthy(at: datetime, bias: int = 60, gmt_bias: int | None = None) -> list[str]:
    """A sync cycle with a successful legacy sync, then an hour of polling."""
    def t(minutes: int) -> datetime:
        return at + timedelta(minutes=minutes)
    return [statmsg(6701, t(0), bias, gmt_bias), statmsg(6702, t(5), bias, gmt_bias),
            server("Performing legacy sync", t(6), bias), statmsg(6709, t(6), bias, gmt_bias),
            server("Security updates summary: 1200 processed, 240 matched, 3 outdated, 12 updated", t(8), bias),
            statmsg(6710, t(9), bias, gmt_bias), server("Wakeup for a polling cycle", t(70), bias)]


def judge(lines: list[str]) -> object:
    return evaluate(Snapshot(build=SP1, logs=(LogBlob("wsyncmgr.log", ("\r\n".join(lines) + "\r\n").encode()),)),
                    ADVISORY)


def test_a_daylight_saving_change_is_not_time_running_backwards():
    """The bias changes from +60 to 0 and local time steps back an hour: UTC runs on, the host is cleared."""
    j = judge(healthy(START, bias=60) + healthy(START + timedelta(hours=3), bias=0))
    assert j.verdict is Verdict.NOT_AFFECTED, j.reasons  # type: ignore[attr-defined]


def test_gmtdate_that_disagrees_by_different_amounts_is_no_clock_to_trust():
    """GMTDATE two hours off the lines' own time in one STATMSG and right in another: the clock is not trusted."""
    j = judge(healthy(START, gmt_bias=-60) + healthy(START + timedelta(hours=3)))
    assert j.verdict is Verdict.AT_RISK  # type: ignore[attr-defined]
    assert any("disagrees with their own times by different amounts" in r for r in j.reasons)  # type: ignore


def test_a_cmtrace_log_running_backwards_is_caught_line_by_line():
    """CMTrace lines take the slow path, and a day back in the middle still stops a clearing verdict."""
    def cm(msg: str, local: datetime) -> str:
        return (f'<![LOG[{msg}]LOG]!><time="{local:%H:%M:%S}.000+60" date="{local.month}-{local.day}-{local.year}" '
                'component="SMS_WSUS_SYNC_MANAGER" context="" type="1" thread="1" file="x.cpp:1">')
    lines = [cm("Wakeup for a polling cycle", START + timedelta(days=1)), *[cm(ln.split("  $$<")[0], START)
                                                                          for ln in healthy(START)]]
    j = judge(lines)
    assert j.verdict is Verdict.AT_RISK and any("time runs backwards" in r for r in j.reasons)  # type: ignore


def test_the_window_is_the_earliest_and_latest_line():
    """A first line dated a day later than the rest does not start the window."""
    lines = [server("Wakeup for a polling cycle", START + timedelta(days=1)), *healthy(START)]
    j = judge(lines)
    assert j.window.first == "2008-06-20T02:00:00.000Z"  # type: ignore[attr-defined]  # local 01:00, bias +60
    assert j.window.last == "2008-06-21T02:00:00.000Z"  # type: ignore[attr-defined]


def _buffer(times: list[int], bias: int = 60) -> LogBuffer:
    lines = [server("Wakeup", START + timedelta(minutes=m), bias) for m in times]
    return LogBuffer("wsyncmgr.log", ("\r\n".join(lines) + "\r\n").encode())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60 * 24 * 400), min_size=1, max_size=30))
def test_the_fast_check_agrees_with_reading_every_line(minutes):
    """Whatever the times: the C-level check passes only time-ordered files, and the line-by-line reading finds a
    step back exactly where one of more than an hour is (also across a new year)."""
    buf = _buffer(minutes)
    order = _read_order(buf, 0, timedelta(0), Timeline(()))
    steps = [b - a for a, b in zip(minutes, minutes[1:], strict=False)]
    assert (order.backwards is not None) == any(s < -ALLOWANCE.total_seconds() / 60 for s in steps)
    if _in_order_fast(buf):
        assert all(s >= 0 for s in steps)
    assert order.earliest is not None and order.latest is not None
    utc = START.replace(tzinfo=UTC) + timedelta(minutes=60)  # the lines' bias is +60
    assert order.earliest.time == utc + timedelta(minutes=min(minutes))
    assert order.latest.time == utc + timedelta(minutes=max(minutes))


def test_servers_are_read_from_every_statmsg_line():
    """SYS= and SITE= values are collected from the whole timeline, in order of first appearance."""
    lo_ = ("\r\n".join(healthy(START)) + "\r\n").encode()
    log = ("\r\n".join(healthy(START + timedelta(hours=3))) + "\r\n").encode().replace(b"SYS=CM01", b"SYS=CM02")
    clock = Clock(Timeline((LogBlob("wsyncmgr.lo_", lo_), LogBlob("wsyncmgr.log", log))))
    assert clock.servers == (("CM01", "CM02"), ("P01",))
