"""Finding legacy sync attempts in a timeline, touching only the lines that matter.

Fast path: plain bytes searches for the rare tokens (the STATMSG marker, the failure's rarest token,
the start text), then only the entries holding a hit are parsed. Between events of an open attempt,
a regex looks for the summary line and for another error, bounded by the attempt.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from scanner.advisory import Signatures
from scanner.logs import LogBuffer, LogEntry
from scanner.timeline import Timeline

_STATMSG = b"STATMSG: ID="
_STATMSG_ID = re.compile(rb"\d{1,6}")


class Outcome(StrEnum):
    FAILED_ADVISORY = "failed-advisory"  # the advisory's failure signature
    FAILED_OTHER = "failed-other"  # failed (6711, or an error before the summary) for another reason
    SUCCEEDED = "succeeded"


class Kind(StrEnum):
    START = "start"
    DONE = "done"
    FAILED = "failed"
    SIGNATURE = "signature"


@dataclass(frozen=True, slots=True)
class Event:
    kind: Kind
    entry: LogEntry


@dataclass(slots=True)
class Attempt:
    """One legacy sync attempt; filled in while walking the timeline, read-only afterwards."""

    start: LogEntry | None  # None when the start was not in the logs (rolled away, tail-capped)
    signature: LogEntry | None = None
    other_error: LogEntry | None = None
    summary: LogEntry | None = None
    end: LogEntry | None = None  # the STATMSG done/failed line
    ended_ok: bool | None = None  # what the STATMSG line said, when there was one

    @property
    def outcome(self) -> Outcome | None:
        if self.signature is not None:
            return Outcome.FAILED_ADVISORY
        if self.ended_ok is False:
            return Outcome.FAILED_OTHER
        if self.ended_ok is True:
            return Outcome.SUCCEEDED
        if self.summary is not None:
            return Outcome.FAILED_OTHER if self.other_error is not None else Outcome.SUCCEEDED
        return None

    @property
    def eventless(self) -> bool:
        return self.signature is None and self.other_error is None and self.summary is None


@functools.lru_cache(maxsize=64)
def _as_bytes(pattern: str) -> re.Pattern[bytes]:
    return re.compile(pattern.encode("ascii"))


def events_in(buf: LogBuffer, sig: Signatures) -> list[Event]:
    """The start/done/failed/signature entries of one file, in file order."""
    found: dict[tuple[int, Kind], Event] = {}
    ids = sig.statmsg_ids
    for pos in buf.find_all(_STATMSG):
        m = _STATMSG_ID.match(buf.buf, pos + len(_STATMSG))
        if m is None or int(m.group()) not in ids:
            continue
        number = int(m.group())
        entry = buf.entry_at(pos)
        if not re.search(rf"STATMSG: ID={number}(?!\d)", entry.text):
            continue
        kind = Kind.START if number in sig.start_statmsg else Kind.DONE if number in sig.done_statmsg else Kind.FAILED
        found.setdefault((entry.start, kind), Event(kind, entry))
    for token in sig.start_text:
        for pos in buf.find_all(token.encode("ascii")):
            entry = buf.entry_at(pos)
            if token in entry.text:
                found.setdefault((entry.start, Kind.START), Event(Kind.START, entry))
    anchor = sig.failure_all_of[0]
    for pos in buf.find_all(anchor.encode("ascii")):
        entry = buf.entry_at(pos)
        if all(t in entry.text for t in sig.failure_all_of):
            found.setdefault((entry.start, Kind.SIGNATURE), Event(Kind.SIGNATURE, entry))
    return [found[k] for k in sorted(found, key=lambda k: (k[0], list(Kind).index(k[1])))]


def _first_summary(buf: LogBuffer, sig: Signatures, lo: int, hi: int) -> LogEntry | None:
    pattern = _as_bytes(sig.summary.pattern)
    while lo < hi:
        m = pattern.search(buf.buf, lo, hi)
        if m is None:
            return None
        entry = buf.entry_at(m.start())
        if sig.summary.search(entry.text):
            return entry
        lo = entry.end + 1
    return None


def _first_other_error(buf: LogBuffer, sig: Signatures, lo: int, hi: int) -> LogEntry | None:
    starts = [m.start() for p in sig.other_errors if (m := _as_bytes(p.pattern).search(buf.buf, lo, hi))]
    return buf.entry_at(min(starts)) if starts else None


def find_attempts(timeline: Timeline, sig: Signatures) -> list[Attempt]:
    """Every legacy sync attempt in the timeline, oldest first (see the rules in Attempt.outcome)."""
    attempts: list[Attempt] = []
    current: Attempt | None = None  # the attempt still waiting for its end

    def search_gap(buf: LogBuffer, lo: int, hi: int) -> None:
        nonlocal current
        if current is None or lo >= hi:
            return
        summary = _first_summary(buf, sig, lo, hi)
        if current.other_error is None and current.signature is None:
            current.other_error = _first_other_error(buf, sig, lo, hi if summary is None else summary.start)
        if summary is not None:
            current.summary = summary
            current = None  # a STATMSG done/failed right after still belongs to it (see below)

    for buf in timeline.files:
        cursor = 0
        for ev in events_in(buf, sig):
            search_gap(buf, cursor, ev.entry.start)
            cursor = ev.entry.end + 1
            last = attempts[-1] if attempts else None
            if ev.kind is Kind.START:
                if current is not None and current.eventless:
                    continue  # "Performing legacy sync" then STATMSG 6709: one attempt
                current = Attempt(start=ev.entry)
                attempts.append(current)
            elif ev.kind is Kind.SIGNATURE:
                if current is None:
                    current = Attempt(start=None)
                    attempts.append(current)
                if current.signature is None:
                    current.signature = ev.entry
            else:
                target = current
                if target is None and last is not None and last.summary is not None and last.end is None:
                    target = last  # the summary closed it; the STATMSG line confirms how
                if target is None:
                    target = Attempt(start=None)
                    attempts.append(target)
                target.end, target.ended_ok = ev.entry, ev.kind is Kind.DONE
                current = None
        search_gap(buf, cursor, len(buf.buf))
    return attempts
