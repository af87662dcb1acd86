"""Judging is linear in the log whatever its shape, and gives up when asked (deadline passed, run stopping)."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.advisory.engine import evaluate
from scanner.advisory.logs import LogBuffer
from scanner.advisory.stop import Abandoned
from scanner.model.records import Verdict
from scanner.model.snapshot import LogBlob, Snapshot
from scanner.scan.advisory_file import load_advisory

ADVISORY = load_advisory()
BOUND = 30.0  # seconds: a linear pass takes well under one even on a loaded 2-core box; quadratic took minutes


def long_lines(count: int, length: int) -> bytes:
    """`count` lines of `length` bytes with no timestamp at all, as a hostile server can serve its log."""
    filler = b"x" * length
    return b"".join(b"Synchronizing update %d " % i + filler[: length - 30] + b"\r\n" for i in range(count))


def _judge_within(data: bytes, seconds: float = BOUND) -> tuple[object, float]:
    """Judge `data` in a daemon thread; (judgement or None if still running, seconds taken)."""
    done: dict[str, object] = {}
    started = time.monotonic()

    def work() -> None:
        done["judgement"] = evaluate(Snapshot(build="4.00.6221.1000", logs=(LogBlob("wsyncmgr.log", data),)),
                                     ADVISORY)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    return done.get("judgement"), time.monotonic() - started


@pytest.mark.parametrize("count, length", [pytest.param(2_100, 16 * 1024, id="2100-lines-of-16KB"),
                                           pytest.param(335, 100 * 1024, id="335-lines-of-100KB")])
def test_timestampless_long_lines_are_judged_in_linear_time(count, length):
    """33.6 MB of long lines without a timestamp (79 s and 312 s before) is judged at once, as unreadable."""
    judgement, _seconds = _judge_within(long_lines(count, length))
    assert judgement is not None, f"not judged within {BOUND} s"
    assert judgement.verdict is Verdict.AT_RISK and judgement.window is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("line", [
    pytest.param(b"CreateUpdateNode " * 60_000, id="one-line-of-failure-anchors"),
    pytest.param(b"STATMSG: ID=6709 " * 60_000, id="one-line-of-statmsg"),
    pytest.param(b"Performing legacy sync " * 40_000, id="one-line-of-start-text"),
    pytest.param(b"<![LOG[x\r\n" + b"CreateUpdateNode 0x80004005\r\n" * 150 + b"]LOG]!><time=\"bad\">\r\n",
                 id="cmtrace-message-of-anchor-lines"),
])
def test_tokens_repeated_on_a_line_are_read_once(line):
    """A line holding a token thousands of times costs one look, not one per token (quadratic in its length)."""
    judgement, _seconds = _judge_within(line * max(1, (2 << 20) // len(line)))
    assert judgement is not None, f"not judged within {BOUND} s"


SERVER = "Sync  $$<SMS_WSUS_SYNC_MANAGER><06-10-2008 02:13:12.001+480><thread=5976 (0x1758)>"
CMTRACE = '<![LOG[Sync]LOG]!><time="02:13:11.522+480" date="2-8-2020" component="C" context="" type="1" thread="1">'
_PIECES = [SERVER, CMTRACE, "<![LOG[open", "close]LOG]!><time=\"99:99:99\">", "$$<bad>", "]LOG]!><", "plain",
           SERVER.replace("06-10", "99-99"), ""]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.sampled_from(["\n", "\r\n"]))
def test_first_and_last_dated_entries_match_a_full_read(pieces, newline):
    """The token searches find the same first and last dated entries as parsing every line does."""
    buf = LogBuffer("x", newline.join(pieces).encode())
    dated = [e for e in LogBuffer("x", newline.join(pieces).encode()).entries() if e.time is not None]
    assert buf.first_timed() == (dated[0] if dated else None)
    assert buf.last_timed() == (dated[-1] if dated else None)


@pytest.mark.parametrize("data", [
    pytest.param(long_lines(2_100, 16 * 1024), id="33MB-of-long-lines"),
    pytest.param(b"a $$<C><not a time><thread=1>\r\n" * 200_000, id="200000-undated-server-tails"),
])
def test_judging_gives_up_when_asked(data):
    """Asked to stop mid-way (the host's deadline passed), judging ends at once with Abandoned."""
    asked: list[int] = []

    def should_stop() -> bool:  # "no" at the start, "yes" from then on: the work itself must ask again
        asked.append(1)
        return len(asked) > 1

    started = time.monotonic()
    with pytest.raises(Abandoned):
        evaluate(Snapshot(logs=(LogBlob("wsyncmgr.log", data),)), ADVISORY, should_stop=should_stop)
    assert time.monotonic() - started < BOUND


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"$$<", b"]LOG]!><", b"<![LOG[", b"STATMSG: ID=", b"ab", b"a"]),
       st.integers(0, 320), st.integers(0, 320))
def test_fast_searches_agree_with_bytes_find(data, needle, lo, hi):
    """The pivot-byte searches answer exactly what bytes.find and bytes.rfind answer, for any range."""
    haystack = data.replace(b"Q", needle)  # plenty of real occurrences among the noise
    buf = LogBuffer("x", b"")
    buf.buf = haystack
    assert buf.find(needle, lo, hi) == haystack.find(needle, lo, hi)
    assert buf.rfind(needle, lo, hi) == haystack.rfind(needle, lo, hi)
