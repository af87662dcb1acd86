"""How reasons name lines, times and files, and how a line becomes evidence: one style for every verdict."""

from __future__ import annotations

import re
from datetime import datetime

from scanner.advisory.clock import Stamp
from scanner.advisory.facts import Facts
from scanner.advisory.logs import LogEntry, iso_utc
from scanner.advisory.timeline import Hit
from scanner.model.records import Evidence
from scanner.model.snapshot import LogBlob

MAX_EVIDENCE_TEXT = 1000


def file_name(path: str) -> str:
    """A log in a reason by its file name (wsyncmgr.lo_ or .log): the evidence and facts give the full path."""
    return re.split(r"[\\/]", path)[-1] or path


def utc(moment: datetime | None) -> str:
    """A time in a reason, to the second: 2008-06-24 09:06:57 UTC (the evidence keeps the milliseconds)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "at an unknown time"


def when(f: Facts, entry: LogEntry | None) -> str:
    """`at 2008-06-24 09:06:57 UTC (wsyncmgr.log:812)`: the time the verdict uses (GMTDATE where trusted)."""
    if entry is None:
        return "at an unknown time"
    where = f"{file_name(entry.file)}:{entry.line}"
    moment = f.clock.time(entry)
    return f"at {utc(moment)} ({where})" if moment is not None else f"at an unknown time ({where})"


def when_hit(f: Facts, hit: Hit | None) -> str:
    return when(f, None if hit is None else f.timeline.entry(hit))


def evidence(f: Facts, entry: LogEntry, role: str) -> Evidence:
    """A log entry as evidence, its time as the verdict uses it; text capped (a 1 MB line is no report cell)."""
    text = entry.text if len(entry.text) <= MAX_EVIDENCE_TEXT else entry.text[:MAX_EVIDENCE_TEXT] + "…"
    moment = f.clock.time(entry)
    return Evidence(file=entry.file, line=entry.line, time=None if moment is None else iso_utc(moment), text=text,
                    role=role)


def hit_evidence(f: Facts, hits: list[tuple[Hit | None, str]]) -> list[Evidence]:
    return [evidence(f, f.timeline.entry(h), role) for h, role in hits if h is not None]


def fact(name: str, text: str, role: str) -> Evidence:
    """A fact that is not a log line (a registry value, a file's date) as evidence: line 0, no time; the
    server's text capped like a log line's."""
    text = text if len(text) <= MAX_EVIDENCE_TEXT else text[:MAX_EVIDENCE_TEXT] + "…"
    return Evidence(file=name[:MAX_EVIDENCE_TEXT], line=0, time=None, text=text, role=role)


def cut_text(blob: LogBlob) -> str:
    """What --max-log-bytes cut from a log: the judged tail, of how much."""
    of = f" of {blob.size:,}" if blob.size is not None and blob.size > len(blob.data) else ""
    return f"{file_name(blob.name)} was cut to its last {len(blob.data):,}{of} bytes (--max-log-bytes)"


def window(f: Facts) -> tuple[Stamp | None, Stamp | None]:
    """The earliest and latest dated lines; the lines the verdict leans on are checked for order first (when
    they run backwards, every line's time is read and the window is its true span)."""
    f.clock.ordered(f.milestones())
    return f.clock.window()


def span(f: Facts) -> str:
    """The window the logs cover, earliest to latest, as the reasons state it."""
    first, last = window(f)
    return f"{utc(first.time) if first else '?'} to {utc(last.time) if last else '?'}"
