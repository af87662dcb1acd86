"""One log, one server, one clock: whether the logs' file order is their time order, and the window they cover.

- Servers: the distinct `SYS=` and `SITE=` values (without case: SITESRV1 is sitesrv1) of the logs' lines (one
  bytes search each, whatever the line holds before them). More than one means the file holds more than one
  server's log.
- GMTDATE: a STATMSG line's `GMTDATE=` is UTC. Each file gets one correction, the difference between GMTDATE and
  the line's own time that most of its STATMSG lines agree on (scanner/advisory/gmtdate.py); every line of the
  file is its own time plus that correction. A STATMSG line that disagrees with the rest is a clock problem, said
  as one (and it stops a verdict that would clear the host), never a reason to move that one line.
- Order: from one dated line to the next (`.lo_`, then `.log`) time must not run backwards by more than an
  hour, a daylight-saving change. Before a host is cleared (NOT_AFFECTED, RECOVERED) the order is checked on
  every STATMSG line (its GMTDATE), every line the verdict leans on, and the first and last dated line of each
  file: every sync cycle and legacy attempt has STATMSG lines, so no step back that could reorder them goes
  unseen. Where those lines run backwards, every line's time is read: the first step back beyond the
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

from scanner.advisory.gmtdate import GmtCheck, check_file
from scanner.advisory.logs import LogBuffer, LogEntry
from scanner.advisory.logs.formats import cmtrace_attribute_time, gmtdate, parse_server_time
from scanner.advisory.timeline import Hit, Timeline

ALLOWANCE = timedelta(hours=1)  # time may step back this far (a daylight-saving change)

_SERVER = re.compile(rb' SYS=([^\s"]{1,64}) SITE=([^\s"]{1,16})')  # wherever on the line (a STATMSG's)
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

    # -- servers -----------------------------------------------------------------------------------
    @cached_property
    def servers(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The distinct SYS= and SITE= values (compared without case), in order of first appearance: wherever they
        are on a line, however many tokens come before them."""
        seen: tuple[dict[str, str], dict[str, str]] = ({}, {})
        for f in self.timeline.files:
            self.timeline.stop.poll()
            for pair in dict.fromkeys(_SERVER.findall(f.buf)):
                for names, value in zip(seen, pair, strict=True):
                    text = value.decode("ascii", "replace")
                    names.setdefault(text.casefold(), text)
        return tuple(seen[0].values()), tuple(seen[1].values())

    # -- GMTDATE ------------------------------------------------------------------------------------
    @cached_property
    def gmt(self) -> tuple[GmtCheck, ...]:
        """Per file: the correction its STATMSG lines' GMTDATEs agree on, and the lines that disagree."""
        checks = []
        for index, buf in enumerate(self.timeline.files):
            self.timeline.stop.poll()
            checks.append(check_file(buf, index))
        return tuple(checks)

    def corrections(self) -> list[tuple[str, timedelta, Hit]]:
        """(file name, the correction applied, a line showing it) for each file whose times GMTDATE corrects."""
        out: list[tuple[str, timedelta, Hit]] = []
        for index, (buf, check) in enumerate(zip(self.timeline.files, self.gmt, strict=True)):
            if check.offset:
                start = buf.line_start(max(0, buf.find(b" GMTDATE=")))
                out.append((buf.name, check.offset, Hit(index, start, buf.line_end(start))))
        return out

    def gmt_problems(self) -> list[tuple[str, tuple[Hit, ...]]]:
        """Files where GMTDATE disagrees among the STATMSG lines: said with every verdict, and no verdict that
        clears a host is given on them."""
        why: list[tuple[str, tuple[Hit, ...]]] = []
        for buf, check in zip(self.timeline.files, self.gmt, strict=True):
            if not check.odd:
                continue
            hits = tuple(hit for hit, _delta in check.odd)
            if not check.trusted:
                why.append((f"in {_file(buf.name)} the STATMSG lines' GMTDATE disagrees with their own times by "
                            f"different amounts (at most {check.agreeing} of {check.lines} agree on one): its clock "
                            "cannot be trusted", hits))
                continue
            hit, delta = check.odd[0]
            entry = self.timeline.entry(hit)
            own = self.time(entry)
            said = (f"{_file(buf.name)}:{entry.line} says GMTDATE {_when(own + delta)}, {_signed(delta)} from the "
                    f"{_when(own)} its own time gives" if own is not None else f"{_file(buf.name)}:{entry.line}")
            odd = check.lines - check.agreeing
            why.append((f"in {_file(buf.name)} {odd} STATMSG line(s) carry a GMTDATE that disagrees with the file's "
                        f"other {check.agreeing} ({said}): GMTDATE is not trusted there, each line keeps its own "
                        "time, and file order may not be time order", hits))
        return why

    def time(self, entry: LogEntry) -> datetime | None:
        """A line's UTC time as the verdict uses it: its own, corrected by its file's GMTDATE correction (a line
        with no time of its own: its GMTDATE, if it has one)."""
        if entry.time is None:
            return gmtdate(entry.text) if "GMTDATE=" in entry.text else None
        return entry.time + self.gmt[self._index.get(entry.file, 0)].offset

    def stamp(self, hit: Hit) -> Stamp | None:
        moment = self.time(self.timeline.entry(hit))
        return None if moment is None else Stamp(hit, moment)

    # -- order --------------------------------------------------------------------------------------
    def ordered(self, stamps: list[Stamp], *, statmsgs: bool = False) -> bool:
        """These lines, the first and last of each file and (`statmsgs`) every STATMSG line do not run backwards
        in file order; when they do, every line's time is read (the window then is the true span)."""
        ends = [s for i in range(len(self.timeline.files)) for s in self._ends(i)]
        ordered = sorted([*stamps, *ends], key=lambda s: (s.hit.file, s.hit.start))
        steps_back = any(b.time < a.time - ALLOWANCE for a, b in zip(ordered, ordered[1:], strict=False))
        if steps_back or (statmsgs and not all(c.in_order for c in self.gmt)):
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
        offset = self.gmt[index].offset
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
        why += self.gmt_problems()
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


def _signed(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    hours, rest = divmod(abs(minutes), 60)
    return f"{'+' if minutes >= 0 else '-'}{hours} h {rest:02d} min"
