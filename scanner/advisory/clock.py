"""One log, one server, one clock: whether the logs' file order is their time order, and the window they cover.

- Servers: the distinct `SYS=` and `SITE=` values of the STATMSG lines (one bytes search each). More than one
  means the file holds more than one server's log.
- GMTDATE: a STATMSG line's `GMTDATE=` is UTC. Where it disagrees with the time the line's own bias gives,
  GMTDATE is trusted: a STATMSG line's time is its GMTDATE, and every other line of that file is corrected by
  the difference its first and last STATMSG lines agree on (when they do not agree, the file's clock is not
  trusted at all).
- Order: from one dated line to the next (`.lo_`, then `.log`) time must not run backwards by more than an
  hour, a daylight-saving change. Before a host is cleared (NOT_AFFECTED, RECOVERED) the order is checked on
  every STATMSG line (its GMTDATE), every line the verdict leans on, and the first and last dated line of each
  file: every sync cycle and legacy attempt has STATMSG lines, so no step back that could reorder them goes
  unseen, and a log of several servers shows in their SYS=/SITE= (one bytes search, then a few microseconds a
  STATMSG line). Where those lines run backwards, every line's time is read: the first step back beyond the
  allowance is named, and the window becomes the true earliest and latest time. (A file of fixed-width server
  timestamps in order with one bias is settled by C-level findall; anything else by reading each time.)
The window is the earliest and latest time: from reading every line where that was done, else the first and
last dated lines (the same whenever the lines checked are in order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from itertools import islice
from operator import itemgetter, le

from scanner.advisory.attempts import STATMSG_PREFIX
from scanner.advisory.logs import LogBuffer, LogEntry
from scanner.advisory.logs.formats import cmtrace_attribute_time, gmtdate, parse_server_time
from scanner.advisory.timeline import Hit, Timeline

ALLOWANCE = timedelta(hours=1)  # time may step back this far (a daylight-saving change)
AGREE = timedelta(minutes=1)  # GMTDATE and the line's own time are written by the same call

# A STATMSG line's SYS=, SITE= and, where it has one, GMTDATE (month name, day, h, m, s, year).
# A STATMSG line's SYS=, SITE= and, where it has one, GMTDATE (month name, day, h, m, s, year): token by token
# (KEY=value, values quoted or not), which matches without scanning back and forth.
_TOKENS = rb'(?: [A-Z]{1,16}=(?:"[^"\r\n]{0,400}"|[^\s"]{0,400})){0,32}?'
_GMTDATE = rb" GMTDATE=[A-Za-z]{3} ([A-Za-z]{3}) +(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d{1,7})? (\d{4})"
_STATMSG = re.compile(rb"STATMSG: ID=\d{1,10}" + _TOKENS + rb' SYS=([^\s"]{1,64}) SITE=([^\s"]{1,16})'
                      + rb"(?:" + _TOKENS + _GMTDATE + rb")?")
_MONTHS = {m.encode(): i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                                "Nov", "Dec"), start=1)}
# (month-day, year, time, bias) of every fixed-width server timestamp; _IN_TIME_ORDER makes (year, month-day, time).
_FAST = re.compile(rb"><(\d\d-\d\d)-(\d{4}) (\d\d:\d\d:\d\d)(?:\.\d{1,7})?([+-]\d{1,4})><thread=")
_IN_TIME_ORDER = itemgetter(1, 0, 2)
_TAIL = b"><thread="
_DATED = re.compile(rb"\$\$<[^<>\r\n]{0,256}><([^<>\r\n]{1,96})><thread=|\]LOG\]!><([^\r\n]{0,1024})")


@dataclass(frozen=True, slots=True)
class Stamp:
    """A dated line: where, and when (UTC, corrected by GMTDATE where that disagreed)."""

    hit: Hit
    time: datetime


@dataclass(frozen=True, slots=True)
class Order:
    """What reading the times gave: the first place time runs backwards, and the earliest and latest lines."""

    backwards: tuple[Stamp, Stamp] | None
    earliest: Stamp | None
    latest: Stamp | None


class Clock:
    """The clock facts of one timeline, each worked out once and only when asked."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self._index = {f.name: i for i, f in reversed(tuple(enumerate(timeline.files)))}
        self.full: Order | None = None  # set once every dated line's time was read
        self._ends_of: dict[int, list[Stamp]] = {}

    # -- servers, and the STATMSG lines' own UTC times ---------------------------------------------------
    @cached_property
    def _statmsgs(self) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
        """SYS= and SITE= values in order of first appearance, and whether the STATMSG lines' GMTDATEs never
        decrease: one C-level findall per file, the comparison in C too (no Python step per line)."""
        found: list[tuple[bytes, ...]] = []
        for f in self.timeline.files:
            self.timeline.stop.poll()
            found += _STATMSG.findall(f.buf)
        names = [tuple(v.decode("ascii", "replace") for v in dict.fromkeys(map(itemgetter(i), found))) for i in (0, 1)]
        dated = [g for g in found if g[2] in _MONTHS]
        columns = [map(itemgetter(7), dated), map(_MONTHS.__getitem__, map(itemgetter(2), dated))]
        columns += [map(int, map(itemgetter(i), dated)) for i in (3, 4, 5, 6)]
        keys = list(zip(*columns, strict=True))
        return names[0], names[1], all(map(le, keys, islice(keys, 1, None)))

    @property
    def servers(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The distinct SYS= and SITE= values of the STATMSG lines, in order of first appearance."""
        sys_, site, _in_order = self._statmsgs
        return sys_, site

    # -- GMTDATE ------------------------------------------------------------------------------------
    @cached_property
    def _offsets(self) -> tuple[tuple[timedelta | None, ...], tuple[Hit | None, ...]]:
        """Per file: GMTDATE minus the line's own time (None: they disagree among themselves), and a STATMSG
        line showing the disagreement (None where GMTDATE agrees or is absent)."""
        offsets: list[timedelta | None] = []
        shown: list[Hit | None] = []
        for index, buf in enumerate(self.timeline.files):
            first_at = buf.find(STATMSG_PREFIX)  # the first and last STATMSG lines: near the ends of the file
            ends = (first_at, buf.rfind(STATMSG_PREFIX)) if first_at >= 0 else ()
            found = [d for d in (_gmt_offset(buf, index, at) for at in ends) if d is not None]
            if not found:
                offsets.append(timedelta(0))
                shown.append(None)
                continue
            first, last = found[0], found[-1]
            agree = abs(first[1] - last[1]) <= AGREE
            offset = _minutes(first[1]) if agree else None
            offsets.append(offset if offset is None or abs(offset) > AGREE else timedelta(0))
            bad = [hit for hit, d in found if abs(d) > AGREE]
            shown.append(bad[0] if bad else None)
        return tuple(offsets), tuple(shown)

    def gmt_disagreement(self) -> list[tuple[str, timedelta | None, Hit]]:
        """(file name, the correction applied or None when the file's clock is not trusted, a line showing it)."""
        offsets, shown = self._offsets
        return [(self.timeline.files[i].name, offsets[i], hit) for i, hit in enumerate(shown) if hit is not None]

    def time(self, entry: LogEntry) -> datetime | None:
        """A line's UTC time as the verdict uses it: GMTDATE on a STATMSG line, else its own, corrected."""
        gmt = gmtdate(entry.text) if "GMTDATE=" in entry.text else None
        if gmt is not None or entry.time is None:
            return gmt
        offset = self._offsets[0][self._index.get(entry.file, 0)]
        return entry.time + (offset or timedelta(0))

    def stamp(self, hit: Hit) -> Stamp | None:
        moment = self.time(self.timeline.entry(hit))
        return None if moment is None else Stamp(hit, moment)

    # -- order --------------------------------------------------------------------------------------
    def ordered(self, stamps: list[Stamp], *, statmsgs: bool = False) -> bool:
        """These lines, the first and last of each file and (`statmsgs`) every STATMSG line do not run backwards
        in file order; when they do, every line's time is read (the window then is the true span)."""
        ends = [s for i in range(len(self.timeline.files)) for s in self._ends(i)]
        ordered = sorted([*stamps, *ends], key=lambda s: (s.hit.file, s.hit.start))
        if (statmsgs and not self._statmsgs[2]) or any(b.time < a.time - ALLOWANCE
                                                       for a, b in zip(ordered, ordered[1:], strict=False)):
            self.read_all()
            return False
        return True

    def window(self) -> tuple[Stamp | None, Stamp | None]:
        """Earliest and latest: from reading every line where that was done, else the first and last dated lines."""
        if self.full is not None:
            return self.full.earliest, self.full.latest
        ends = [s for i in range(len(self.timeline.files)) for s in self._ends(i)]
        return (ends[0], ends[-1]) if ends else (None, None)

    def _ends(self, index: int) -> list[Stamp]:
        """The first and last dated lines of one file (once per file)."""
        if index not in self._ends_of:
            buf = self.timeline.files[index]
            entries = [e for e in (buf.first_timed(), buf.last_timed()) if e is not None]
            self._ends_of[index] = [s for e in entries if (s := self.stamp(Hit(index, e.start, e.end))) is not None]
        return self._ends_of[index]

    def read_all(self) -> Order:
        """Every dated line's time, in timeline order: the first step back beyond the allowance, and the span."""
        if self.full is None:
            parts = [self._file_order(i) for i in range(len(self.timeline.files))]
            self.full = _join(parts)
        return self.full

    def _file_order(self, index: int) -> Order:
        buf = self.timeline.files[index]
        offset = self._offsets[0][index] or timedelta(0)
        if _in_order_fast(buf):
            ends = self._ends(index)
            return Order(None, ends[0] if ends else None, ends[-1] if ends else None)
        return _read_order(buf, index, offset, self.timeline)

    def trouble(self) -> list[tuple[str, tuple[Hit, ...]]]:
        """Why file order is not time order here, each with the lines that show it (empty: it is)."""
        why: list[tuple[str, tuple[Hit, ...]]] = []
        sys_, site = self.servers
        if len(sys_) > 1 or len(site) > 1:
            names = ", ".join([*(f"SYS={v}" for v in sys_[:4]), *(f"SITE={v}" for v in site[:4])])
            why.append((f"the STATMSG lines name more than one server or site ({names}): the logs of several "
                        "servers are mixed, so file order is not one server's time order", self._first_of(sys_[:4])))
        for name, offset, hit in self.gmt_disagreement():
            if offset is None:
                why.append((f"in {_file(name)} the STATMSG lines' GMTDATE disagrees with their own times by "
                            "different amounts: its clock cannot be trusted", (hit,)))
        order = self.full
        if order is not None and order.backwards is not None:
            a, b = order.backwards
            why.append((f"time runs backwards by {_span(a.time - b.time)} from {_when(a.time)} to {_when(b.time)}, "
                        "more than a daylight-saving hour: file order is not time order", (a.hit, b.hit)))
        return why


    def _first_of(self, names: tuple[str, ...]) -> tuple[Hit, ...]:
        """The first STATMSG line naming each server."""
        hits: list[Hit] = []
        for name in names:
            needle = b"SYS=" + name.encode("ascii", "replace")
            for index, buf in enumerate(self.timeline.files):
                pos = buf.find(needle)
                if pos >= 0:
                    start = buf.line_start(pos)
                    hits.append(Hit(index, start, buf.line_end(start)))
                    break
        return tuple(hits)


def _gmt_offset(buf: LogBuffer, index: int, pos: int) -> tuple[Hit, timedelta] | None:
    if pos < 0:
        return None
    entry = buf.entry_at(pos, numbered=False)
    gmt = gmtdate(entry.text)
    if gmt is None or entry.time is None:
        return None
    return Hit(index, entry.start, entry.end), gmt - entry.time


def _minutes(delta: timedelta) -> timedelta:
    return timedelta(minutes=round(delta.total_seconds() / 60))


def _in_order_fast(buf: LogBuffer) -> bool:
    """Server timestamps, all fixed width, one bias, already sorted: in order, settled without a Python loop."""
    data = buf.buf
    if data.find(b"]LOG]!><") >= 0:
        return False
    found = _FAST.findall(data)
    if not found or len(found) != data.count(_TAIL) or len(set(map(itemgetter(3), found))) != 1:
        return False
    keys = list(map(_IN_TIME_ORDER, found))
    return all(map(le, keys, islice(keys, 1, None)))


def _read_order(buf: LogBuffer, index: int, offset: timedelta, timeline: Timeline) -> Order:
    prev: Stamp | None = None
    backwards: tuple[Stamp, Stamp] | None = None
    earliest: Stamp | None = None
    latest: Stamp | None = None
    for m in _DATED.finditer(buf.buf):
        timeline.stop.check()
        server, cmtrace = m.group(1), m.group(2)
        moment = (parse_server_time(server.decode("ascii", "replace")) if server is not None
                  else cmtrace_attribute_time(cmtrace.decode("ascii", "replace")))
        if moment is None:
            continue
        start = buf.line_start(m.start())
        here = Stamp(Hit(index, start, buf.line_end(start)), moment + offset)
        if prev is not None and backwards is None and here.time < prev.time - ALLOWANCE:
            backwards = (prev, here)
        earliest = here if earliest is None or here.time < earliest.time else earliest
        latest = here if latest is None or here.time > latest.time else latest
        prev = here
    return Order(backwards, earliest, latest)


def _join(parts: list[Order]) -> Order:
    """One order over the files in timeline order: each file's own, and the step from one file to the next."""
    backwards = next((p.backwards for p in parts if p.backwards is not None), None)
    dated = [p for p in parts if p.earliest is not None and p.latest is not None]
    for a, b in zip(dated, dated[1:], strict=False):
        assert a.latest is not None and b.earliest is not None
        if backwards is None and b.earliest.time < a.latest.time - ALLOWANCE:
            backwards = (a.latest, b.earliest)
    stamps = [s for p in dated for s in (p.earliest, p.latest) if s is not None]
    if not stamps:
        return Order(backwards, None, None)
    return Order(backwards, min(stamps, key=lambda s: s.time), max(stamps, key=lambda s: s.time))


def _file(name: str) -> str:
    return re.split(r"[\\/]", name)[-1] or name


def _span(delta: timedelta) -> str:
    hours, rest = divmod(int(delta.total_seconds()) // 60, 60)
    return f"{hours} h {rest:02d} min" if hours < 48 else f"{hours // 24} days"


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
