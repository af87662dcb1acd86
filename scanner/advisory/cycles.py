"""Regular sync cycles (STATMSG 6701 ... 6702): the only ground for saying legacy sync is not in use.

A legacy sync starts right after a regular sync: logs that end on a cycle's 6702 may be a scan taken just
before it. So "not in use" needs two completed cycles without a legacy sync, or a dated line well after the
last 6702 (the advisory's `cycle_settle_minutes`); see the engine's verdict table.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.advisory.attempts import STATMSG_PREFIX
from scanner.advisory.loader import Signatures
from scanner.advisory.timeline import Hit, Timeline


@dataclass(frozen=True, slots=True)
class Cycles:
    """The last two completed cycles the logs show, newest first (None where there is none)."""

    last: tuple[Hit, Hit] | None  # (6701, 6702)
    previous: tuple[Hit, Hit] | None

    @property
    def count(self) -> int:
        return (self.last is not None) + (self.previous is not None)


def _last_statmsg(timeline: Timeline, ids: frozenset[int], before: tuple[int, int] | None = None) -> Hit | None:
    """The last `STATMSG: ID=<one of ids>` line of the timeline (before (file, offset), when given)."""
    end_file = len(timeline.files) - 1 if before is None else before[0]
    for index in range(end_file, -1, -1):
        buf = timeline.files[index]
        hi = before[1] if before is not None and index == before[0] else len(buf.buf)
        best = -1
        for number in ids:
            needle = STATMSG_PREFIX + str(number).encode("ascii")
            pos = buf.rfind(needle, 0, hi)
            while pos >= 0 and buf.buf[pos + len(needle):pos + len(needle) + 1].isdigit():  # 67020 is not 6702
                pos = buf.rfind(needle, 0, pos + len(needle) - 1)
            best = max(best, pos)
        if best >= 0:
            start = buf.line_start(best)
            return Hit(index, start, buf.line_end(start))
    return None


def _cycle_before(timeline: Timeline, sig: Signatures, before: tuple[int, int] | None) -> tuple[Hit, Hit] | None:
    done = _last_statmsg(timeline, sig.sync_done_statmsg, before)
    if done is None:
        return None
    start = _last_statmsg(timeline, sig.sync_start_statmsg, before=(done.file, done.start))
    return None if start is None else (start, done)


def completed_cycles(timeline: Timeline, sig: Signatures) -> Cycles:
    """The last completed cycle, and the one before it (its 6702 before the last cycle's 6701)."""
    if not sig.sync_start_statmsg or not sig.sync_done_statmsg:
        return Cycles(None, None)
    last = _cycle_before(timeline, sig, None)
    if last is None:
        return Cycles(None, None)
    return Cycles(last, _cycle_before(timeline, sig, (last[0].file, last[0].start)))
