"""What the verdict table asks of one snapshot, each worked out once and only when a rule asks for it.

The engine's rules are one-line tests over these properties (scanner/advisory/engine.py); the cheap ones
(build, registry facts) come first, the ones that read the logs (attempts, cycles, every line's time) only
when an earlier rule did not already decide.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import cached_property

from scanner.advisory.attempts import Attempt, Findings, Outcome, Unfinished, bytes_pattern, closer_look, judge_attempts
from scanner.advisory.builds import classify
from scanner.advisory.clock import Clock, Stamp
from scanner.advisory.cycles import Cycles, completed_cycles
from scanner.advisory.loader import Advisory
from scanner.advisory.logs import LogEntry
from scanner.advisory.stop import Stopper
from scanner.advisory.timeline import Hit, Timeline
from scanner.model.snapshot import LogBlob, Snapshot

_STAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
MAX_STEP = timedelta(days=1)  # a line this far after the one before it (or after the scan) is not the log running on
MAX_LOOK_BACK = 64


def stamp_date(written: str | None) -> date | None:
    """The date of a FileStamp's `written` ("2008-06-11 03:12"), None when it holds none."""
    m = _STAMP.match(written or "")
    if m is None:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


class Facts:
    """One snapshot against one advisory: the inputs of every rule, lazily."""

    def __init__(self, snapshot: Snapshot, advisory: Advisory, stop: Stopper) -> None:
        self.snapshot, self.advisory, self.sig, self.stop = snapshot, advisory, advisory.signatures, stop
        self.status, match = classify(snapshot.build, advisory.builds)
        self.build_name = match.name if match else None
        stop.poll()
        self.timeline = Timeline(snapshot.logs, stop)

    # -- the registry --------------------------------------------------------------------------------
    @property
    def site_type_says(self) -> str | None:
        """"primary" or "secondary" as the advisory's coding reads Setup\\Type; None when it says neither."""
        types, raw = self.advisory.site_types, (self.snapshot.site_type or "").strip()
        if types is None or not raw:
            return None
        return "secondary" if raw in types.secondary else "primary" if raw in types.primary else None

    @property
    def secondary(self) -> bool:
        """Setup\\Type says secondary and the SMS\\SQL Server key (sites with a database have it) is absent."""
        return self.site_type_says == "secondary" and self.snapshot.site_database is False

    # -- the logs: window, cut, readable --------------------------------------------------------------
    @cached_property
    def first(self) -> LogEntry | None:
        self.stop.poll()
        return self.timeline.first_timed()

    @cached_property
    def last(self) -> LogEntry | None:
        self.stop.poll()
        return self.timeline.last_timed()

    @property
    def cut(self) -> list[LogBlob]:
        return [b for b in self.snapshot.logs if b.truncated]

    @property
    def readable(self) -> bool:
        return self.first is not None and not self.snapshot.log_error

    @property
    def whole(self) -> bool:
        """Readable, nothing missing, nothing cut: only such logs can show that something is absent."""
        return self.readable and not self.cut

    # -- attempts ------------------------------------------------------------------------------------
    @cached_property
    def findings(self) -> Findings:
        return judge_attempts(self.timeline, self.sig)

    @property
    def decisive(self) -> Attempt | None:
        return self.findings.decisive

    @property
    def outcome(self) -> Outcome | None:
        return None if self.decisive is None else self.decisive.outcome

    @property
    def earlier_failure(self) -> Attempt | None:
        return self.findings.earlier_failure

    @property
    def success_line(self) -> Hit | None:
        d = self.decisive
        return None if d is None else d.end or d.summary

    def time_of(self, hit: Hit | None) -> datetime | None:
        return None if hit is None else self.clock.time(self.timeline.entry(hit))

    @cached_property
    def success_time(self) -> datetime | None:
        return self.time_of(self.success_line)

    @cached_property
    def start_time(self) -> datetime | None:
        """When the deciding attempt started: its start line, else (start not in the logs) its first line."""
        d = self.decisive
        return None if d is None or not d.hits else self.time_of(d.hits[0])

    @property
    def success_before_cutoff(self) -> bool:
        """The deciding attempt is not shown to have started on or after the cutoff (UTC): its start is before
        it; or its start is not in the logs and its first line is not from a later day; or no time is known.
        (The catalog an attempt processes is the one there when it starts.)"""
        cutoff, d, started = self.advisory.catalog_cutoff, self.decisive, self.start_time
        if cutoff is None or d is None:
            return False
        if started is None:
            return True
        return started.date() < cutoff if d.start is not None else started.date() <= cutoff

    # -- after the deciding attempt ---------------------------------------------------------------------
    @cached_property
    def later(self) -> list[Unfinished]:
        """Attempts started after the deciding one that show no outcome, each with its error line and crash."""
        later = self.findings.later
        started = [i for i, a in enumerate(later) if a.start is not None]
        ends = [later[j].start for j in started[1:]]
        return [closer_look(self.timeline, self.sig, later[i], end)
                for i, end in zip(started, [*ends, None], strict=False)]

    @property
    def later_trouble(self) -> Unfinished | None:
        """The first later unfinished attempt that shows an error (or a part of the advisory's) or a crash."""
        return next((u for u in self.later if u.error is not None or u.crash is not None), None)

    @property
    def stray_statuses(self) -> list[Attempt]:
        """Status lines (6710, 6711) after the deciding attempt and outside any attempt: they decide nothing."""
        return [a for a in self.findings.later if a.orphan and a.eventless and a.end is not None]

    # -- the catalog (ITMU's wsusscn2.cab) ------------------------------------------------------------
    @cached_property
    def named_catalog(self) -> str | None:
        """The wsusscn2.cab path the deciding attempt processes: on its "Processing security catalog <path>" line,
        else the last path naming the catalog in the attempt (a command line names the program's path first)."""
        d, pattern = self.decisive, self.sig.catalog
        hits = d.hits if d else []
        if pattern is None or not hits:
            return None
        compiled = bytes_pattern(pattern.pattern)
        lo, hi = hits[0], max(hits, key=lambda h: (h.file, h.end))
        found: str | None = None
        for index in range(lo.file, hi.file + 1):
            buf = self.timeline.files[index]
            start = lo.start if index == lo.file else 0
            end = hi.end if index == hi.file else len(buf.buf)
            for text in self.sig.catalog_text:
                at = buf.find(text.encode("ascii"), start, end)
                m = compiled.search(buf.buf, at, buf.line_end(at)) if at >= 0 else None
                if m is not None:
                    return m.group().decode("utf-8", "replace")
            named = [m.group() for m in compiled.finditer(buf.buf, start, end)]
            found = named[-1].decode("utf-8", "replace") if named else found
        return found

    @property
    def catalog_applies(self) -> bool:
        """The catalog collected is the one the logs name (or the logs name none, or its path is not known)."""
        cab, named = self.snapshot.catalog, self.named_catalog
        return cab is not None and (not cab.path or named is None or cab.path.casefold() == named.casefold())

    @property
    def catalog_date(self) -> date | None:
        return stamp_date(self.snapshot.catalog.written) if self.snapshot.catalog else None

    @property
    def catalog_old(self) -> bool:
        """The catalog the legacy sync processes was written before the cutoff: a success on it proves nothing."""
        cutoff, written = self.advisory.catalog_cutoff, self.catalog_date
        return self.catalog_applies and cutoff is not None and written is not None and written < cutoff

    # -- regular sync cycles ---------------------------------------------------------------------------
    @cached_property
    def cycles(self) -> Cycles:
        self.stop.poll()
        return completed_cycles(self.timeline, self.sig)

    @cached_property
    def quiet_after_cycle(self) -> timedelta | None:
        """How long the logs run on after the last cycle's 6702 (None: no cycle, or a time is missing), to their
        last plausible line: one dated in the future of the scan, or more than a day after the line before it, is
        no sign the log ran on (one line dated 2030 after the only cycle shows a clock, not activity)."""
        if self.cycles.last is None or self.last is None:
            return None
        cycle_end = self.timeline.entry(self.cycles.last[1])
        done = self.clock.time(cycle_end)
        end = self._plausible_end(cycle_end)
        return None if done is None or end is None else end - done

    def _plausible_end(self, cycle_end: LogEntry) -> datetime | None:
        """The time of the last dated line after `cycle_end` that is plausible (looked for among the last 64)."""
        taken = self.snapshot.taken_at
        floor = (self.timeline.index_of(cycle_end), cycle_end.start)
        entry = self.last
        for _ in range(MAX_LOOK_BACK):
            if entry is None or (self.timeline.index_of(entry), entry.start) <= floor:
                return self.clock.time(cycle_end)
            moment, before = self.clock.time(entry), self.timeline.timed_before(entry)
            earlier = self.clock.time(before) if before is not None else None
            future = moment is not None and taken is not None and moment > taken + MAX_STEP
            leap = moment is not None and earlier is not None and moment - earlier > MAX_STEP
            if moment is not None and not future and not leap:
                return moment
            entry = before
        return None

    @property
    def settled_after_cycle(self) -> bool:
        quiet = self.quiet_after_cycle
        return quiet is not None and quiet >= self.sig.cycle_settle

    @property
    def enough_cycles(self) -> bool:
        """Two completed cycles, or one and activity well after it, or one on a server without ITMU."""
        if self.cycles.count >= 2 or (self.cycles.count == 1 and self.settled_after_cycle):
            return True
        return self.cycles.count == 1 and self.snapshot.itmu_installed is False

    # -- the clock -----------------------------------------------------------------------------------
    @cached_property
    def clock(self) -> Clock:
        return Clock(self.timeline)

    def milestones(self) -> list[Stamp]:
        """The lines the verdict leans on, dated: their order is checked before the window is stated."""
        hits: list[Hit] = []
        attempts = (self.decisive, self.earlier_failure) if "findings" in self.__dict__ else ()
        for a in attempts:
            if a is not None:
                hits += [h for h in (a.start, a.signature, a.summary, a.end) if h is not None]
        if "cycles" in self.__dict__:
            hits += [h for c in (self.cycles.last, self.cycles.previous) if c is not None for h in c]
        return [s for h in hits if (s := self.clock.stamp(h)) is not None]

    @cached_property
    def clock_trouble(self) -> list[tuple[str, tuple[Hit, ...]]]:
        """Why file order is not time order (asked only before clearing a host): the servers the STATMSG lines
        name, and the order of every STATMSG line and of the lines the verdict leans on."""
        self.stop.poll()
        self.clock.ordered(self.milestones(), statmsgs=True)
        return self.clock.trouble()

    @property
    def clock_ok(self) -> bool:
        return not self.clock_trouble
