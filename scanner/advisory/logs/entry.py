"""One log entry, whatever format it came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A line (or a multi-line CMTrace message) of a log, with what could be parsed from it.

    `start`/`end` are byte offsets in the log's normalised buffer (see scanner.advisory.logs.decode); the engine
    uses them to search between entries without re-reading the file.
    """

    file: str
    line: int  # 1-based, where the entry starts in its file
    time: datetime | None  # UTC; None when the line carries no time we can trust
    component: str | None
    thread: int | None
    text: str
    kind: str = "raw"  # "server", "cmtrace" or "raw" (kept as text, unparsed)
    lines: int = 1  # physical lines the entry spans
    severity: int | None = None  # CMTrace type: 1 info, 2 warning, 3 error
    start: int = 0
    end: int = 0

    @property
    def iso_time(self) -> str | None:
        """The time as ISO 8601 UTC with milliseconds, the form evidence and reports use."""
        return None if self.time is None else iso_utc(self.time)


def iso_utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
