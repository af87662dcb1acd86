"""Whether a log file's STATMSG GMTDATEs agree with the lines' own times: one correction per file, and the lines
that disagree with it.

A STATMSG line's `GMTDATE=` is UTC, written by the same call as the line's own local time and bias. Where most
STATMSG lines of a file agree on one difference (every line written with a wrong bias), GMTDATE is trusted and
the whole file is corrected by that one difference. A line whose GMTDATE disagrees with the file's other lines is
a clock problem, said as one: it never moves that line alone (one wrong GMTDATE would otherwise move a success
by days, silently). Where no difference has a majority, no correction is trusted and the file's clock is not
either. Server-format lines are read by one C-level findall; others (CMTrace) one entry at a time. A file whose
first and last STATMSG lines carry no GMTDATE is taken to have none (its lines' own times are used either way).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from operator import le

from scanner.advisory.attempts import STATMSG_PREFIX
from scanner.advisory.logs import LogBuffer
from scanner.advisory.logs.formats import gmtdate
from scanner.advisory.timeline import Hit

AGREE = timedelta(minutes=1)  # GMTDATE and the line's own time are written by the same call
MAX_SHOWN = 3  # disagreeing lines kept as evidence
_NEEDLE = b" GMTDATE="
_MAX_BIAS = 24 * 60
# GMTDATE (month name, day, h, m, s, year), then the line's own server timestamp (month, day, year, h, m, s, bias);
# every other GMTDATE= matches with empty groups (one pass tells whether the findall read them all); no scan runs
# past the next GMTDATE=, so a line holding thousands costs what reading it once does. A line a crash cut (NUL
# bytes) is not compared: the time at its end may be the next line's, written after the restart.
_SERVER = re.compile(
    rb" GMTDATE=(?:[A-Za-z]{3} ([A-Za-z]{3}) {1,2}(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d{1,7})? (\d{4})"
    rb"[^\r\nG$\x00]{0,1024}(?:G(?!MTDATE=)[^\r\nG$\x00]{0,1024}){0,16}"
    rb"\$\$<[^<>\r\n\x00]{0,256}><(\d{1,2})-(\d{1,2})-(\d{4}) (\d{1,2}):(\d{1,2}):(\d{1,2})"
    rb"(?:\.\d{1,7})?([+-]\d{1,4})><thread=)?")
_MONTHS = {m.encode(): i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                                "Nov", "Dec"), start=1)}


@dataclass(frozen=True, slots=True)
class GmtCheck:
    """What one file's STATMSG GMTDATEs say about its clock."""

    offset: timedelta = timedelta(0)  # added to every line's own time: the difference most lines agree on
    lines: int = 0  # STATMSG lines whose GMTDATE could be compared with their own time
    agreeing: int = 0  # of those, the lines that agree with the majority's difference
    trusted: bool = True  # more than half the lines agree on one difference (else no correction is trusted)
    odd: tuple[tuple[Hit, timedelta], ...] = ()  # the first lines that disagree (with `offset`), and by how much
    in_order: bool = True  # the GMTDATEs never decrease in file order


def _seconds(year: bytes, month: int, day: bytes, hour: bytes, minute: bytes, second: bytes,
             days: dict[tuple[bytes, int, bytes], int]) -> int:
    key = (year, month, day)
    ordinal = days.get(key)
    if ordinal is None:
        ordinal = days[key] = date(int(year), month, int(day)).toordinal()
    return ordinal * 86400 + int(hour) * 3600 + int(minute) * 60 + int(second)


def _server_pairs(found: list[tuple[bytes, ...]]) -> list[tuple[int, int] | None]:
    """(GMTDATE, its difference to the line's own UTC time), in seconds, per matched line (None: not a time)."""
    days: dict[tuple[bytes, int, bytes], int] = {}
    out: list[tuple[int, int] | None] = []
    for gmon, gday, gh, gm, gs, gy, mo, d, y, h, mi, s, bias in found:
        try:
            minutes = int(bias)
            gmt = _seconds(gy, _MONTHS[gmon], gday, gh, gm, gs, days)
            own = _seconds(y, int(mo), d, h, mi, s, days) + minutes * 60
        except (KeyError, ValueError):
            out.append(None)
            continue
        out.append(None if abs(minutes) > _MAX_BIAS else (gmt, gmt - own))
    return out


def _entry_pairs(buf: LogBuffer) -> tuple[list[tuple[int, int] | None], list[int]]:
    """The same, one entry at a time (CMTrace, or server lines the findall could not read), with where each is."""
    out: list[tuple[int, int] | None] = []
    where: list[int] = []
    pos = buf.find(_NEEDLE)
    while pos >= 0:
        entry = buf.entry_at(pos, numbered=False)
        gmt = gmtdate(entry.text)
        damaged = buf.buf.find(b"\x00", entry.start, entry.end) >= 0  # a crash joined it to a later line's time
        if gmt is not None and entry.time is not None and not damaged:
            out.append((int(gmt.timestamp()), int((gmt - entry.time).total_seconds())))
            where.append(entry.start)
        pos = buf.find(_NEEDLE, max(entry.end, pos + 1))
        buf.stop.check()
    return out, where


def _writes_gmtdate(buf: LogBuffer) -> bool:
    """The server that wrote this file puts GMTDATE on its STATMSG lines: its first or last one has it (a search of
    two lines, where a search of the whole file for a token it lacks costs as much as judging it)."""
    first = buf.find(STATMSG_PREFIX)
    if first < 0:
        return False
    last = buf.rfind(STATMSG_PREFIX)
    return any(buf.buf.find(_NEEDLE, at, buf.line_end(at)) >= 0 for at in (first, last))


def check_file(buf: LogBuffer, index: int) -> GmtCheck:
    """One file's GMTDATE check (linear in the file; no Python step per line where there is no GMTDATE)."""
    if not _writes_gmtdate(buf):
        return GmtCheck()
    found = _SERVER.findall(buf.buf)
    where: list[int] | None = None
    if all(g[0] for g in found):
        pairs = _server_pairs(found)
    else:
        pairs, where = _entry_pairs(buf)
    dated = [p for p in pairs if p is not None]
    if not dated:
        return GmtCheck()
    deltas = [d for _, d in dated]
    mode = Counter(round(d / 60) for d in deltas).most_common(1)[0][0] * 60
    agreeing = sum(1 for d in deltas if abs(d - mode) <= AGREE.total_seconds())
    trusted = agreeing * 2 > len(deltas)
    offset = mode if trusted and abs(mode) > AGREE.total_seconds() else 0
    gmts = [g for g, _ in dated]
    in_order = all(map(le, gmts, gmts[1:]))
    odd = () if agreeing == len(deltas) and trusted else _odd_lines(buf, index, pairs, where, offset)
    return GmtCheck(timedelta(seconds=offset), len(deltas), agreeing, trusted, odd, in_order)


def _odd_lines(buf: LogBuffer, index: int, pairs: list[tuple[int, int] | None], where: list[int] | None,
               offset: int) -> tuple[tuple[Hit, timedelta], ...]:
    """The first lines whose difference is not the file's offset (found again only where some are)."""
    starts = where if where is not None else [m.start() for m in _SERVER.finditer(buf.buf)]
    shown: list[tuple[Hit, timedelta]] = []
    for pair, at in zip(pairs, starts, strict=True):
        if pair is not None and abs(pair[1] - offset) > AGREE.total_seconds():
            start = buf.line_start(at)
            shown.append((Hit(index, start, buf.line_end(start)), timedelta(seconds=pair[1] - offset)))
            if len(shown) == MAX_SHOWN:
                break
    return tuple(shown)
