"""A log file as a byte buffer that yields entries on demand.

Two ways in, with the same rules so they always agree on line numbers:
- `entries()` parses every line (tests, the timeline);
- `entry_at(pos)` parses only the entry holding a byte offset (the engine, after a fast bytes search).

Rules: a line holding `<![LOG[` opens a CMTrace entry that runs to the first line holding `]LOG]!><`
(at most MAX_SPAN lines; no line in between may open one or be a complete server entry); otherwise a
line with a server tail `$$<...><...><thread=...>` is a server entry; anything else is kept as raw
text. Every physical line belongs to exactly one entry.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from scanner.advisory.logs.decode import decode_line, normalise
from scanner.advisory.logs.entry import LogEntry
from scanner.advisory.logs.formats import CMTRACE_CLOSE, CMTRACE_OPEN, parse_cmtrace, parse_server

MAX_SPAN = 200  # lines one CMTrace message may span
_WINDOW = 1 << 16  # bytes searched back for an opening `<![LOG[` before widening
_OPEN = CMTRACE_OPEN.encode()
_CLOSE = CMTRACE_CLOSE.encode()
_NL = b"\n"


class LogBuffer:
    """One log file's bytes, normalised (see scanner.advisory.logs.decode), with a line-number index."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.buf, self.encoding = normalise(data)
        # Checkpoints (offset of a line start, its 1-based number), kept sorted by offset.
        self._marks_pos: list[int] = [0]
        self._marks_line: list[int] = [1]

    # -- lines --------------------------------------------------------------------------------------
    def line_start(self, pos: int) -> int:
        return self.buf.rfind(_NL, 0, pos) + 1

    def line_end(self, start: int) -> int:
        """Offset of the newline ending the line at `start` (or the buffer's length)."""
        end = self.buf.find(_NL, start)
        return len(self.buf) if end < 0 else end

    def line_number(self, start: int) -> int:
        """1-based number of the line starting at `start`, counting from the nearest known line."""
        i = bisect.bisect_right(self._marks_pos, start) - 1
        if self._marks_pos[i] == start:
            return self._marks_line[i]
        if i + 1 < len(self._marks_pos) and self._marks_pos[i + 1] - start < start - self._marks_pos[i]:
            number = self._marks_line[i + 1] - self.buf.count(_NL, start, self._marks_pos[i + 1])
        else:
            number = self._marks_line[i] + self.buf.count(_NL, self._marks_pos[i], start)
        self._marks_pos.insert(i + 1, start)
        self._marks_line.insert(i + 1, number)
        return number

    def line_count(self) -> int:
        """Physical lines: a final newline ends the last line rather than starting an empty one."""
        if not self.buf:
            return 0
        return self.buf.count(_NL) + (0 if self.buf.endswith(_NL) else 1)

    def _raw(self, start: int, end: int) -> bytes:
        return self.buf[start:end].rstrip(b"\r")

    # -- entries ------------------------------------------------------------------------------------
    def _cmtrace_end(self, start: int) -> tuple[int, int] | None:
        """If a CMTrace entry opens on the line at `start`: (end offset, lines spanned); else None."""
        end = self.line_end(start)
        o = self.buf.find(_OPEN, start, end)
        if o < 0:
            return None
        if self.buf.find(_CLOSE, o + len(_OPEN), end) >= 0:
            return end, 1
        cur = end
        for span in range(2, MAX_SPAN + 1):
            if cur >= len(self.buf):
                return None
            nxt = cur + 1
            cur = self.line_end(nxt)
            if self.buf.find(_OPEN, nxt, cur) >= 0:
                return None
            if self.buf.find(_CLOSE, nxt, cur) >= 0:
                return cur, span
            if self._is_server_line(nxt, cur):
                return None
        return None

    def _is_server_line(self, start: int, end: int) -> bool:
        """A complete server entry cannot continue a CMTrace message: it means the opener above was
        damaged (no closer of its own), and the lines after it must keep their own entries."""
        if self.buf.find(b"$$<", start, end) < 0:
            return False
        return parse_server(decode_line(self._raw(start, end)).replace("\x00", "")) is not None

    def _entry_from(self, start: int, line: int | None = None) -> LogEntry:
        """The entry that starts at the line beginning at `start`."""
        number = self.line_number(start) if line is None else line
        cm = self._cmtrace_end(start)
        if cm is not None:
            end, span = cm
            text = "\n".join(decode_line(self._raw(s, e)) for s, e in self._lines(start, end))
            parsed = parse_cmtrace(text.replace("\x00", ""))
            if parsed is not None:
                return LogEntry(self.name, number, parsed.time, parsed.component, parsed.thread, parsed.text,
                                "cmtrace", span, parsed.severity, start, end)
        end = self.line_end(start)
        text = decode_line(self._raw(start, end)).replace("\x00", "")
        server = parse_server(text)
        if server is not None:
            return LogEntry(self.name, number, server.time, server.component, server.thread, server.text,
                            "server", 1, None, start, end)
        return LogEntry(self.name, number, None, None, None, text, "raw", 1, None, start, end)

    def _lines(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        while True:
            e = self.line_end(start)
            yield start, e
            if e >= end:
                return
            start = e + 1

    def _opener_above(self, start: int) -> int | None:
        """Start of the nearest line, at most MAX_SPAN - 1 lines above `start` (or itself), holding `<![LOG[`.

        Searches a bounded window backwards rather than the whole file, widening it only for long lines.
        """
        end = self.line_end(start)
        lo = max(0, start - _WINDOW)
        while True:
            o = self.buf.rfind(_OPEN, lo, end)
            if o >= 0:
                s = self.line_start(o)
                return s if self.buf.count(_NL, s, start) < MAX_SPAN else None
            if lo == 0 or self.buf.count(_NL, lo, start) >= MAX_SPAN:
                return None
            lo = max(0, lo - _WINDOW)

    def entry_at(self, pos: int) -> LogEntry:
        """The entry holding byte offset `pos` (the same entry `entries()` would give for that line)."""
        start = self.line_start(pos)
        s = self._opener_above(start)
        if s is not None:
            cm = self._cmtrace_end(s)
            if cm is not None and cm[0] >= start:
                return self._entry_from(s)
        return self._entry_from(start)

    def entries(self) -> Iterator[LogEntry]:
        """Every entry in file order; unparseable lines come back as raw entries."""
        pos, line, size = 0, 1, len(self.buf)
        while pos < size:
            entry = self._entry_from(pos, line)
            yield entry
            line += entry.lines
            pos = entry.end + 1

    def first_timed(self) -> LogEntry | None:
        """The earliest entry (in file order) that carries a time."""
        return next((e for e in self.entries() if e.time is not None), None)

    def last_timed(self, look_back: int = 2000) -> LogEntry | None:
        """The last entry that carries a time: walk back a little, else read the file through."""
        pos = len(self.buf)
        if pos and self.buf.endswith(_NL):
            pos -= 1
        for _ in range(look_back):
            if pos <= 0 and not self.buf:
                return None
            entry = self.entry_at(pos)
            if entry.time is not None:
                return entry
            if entry.start == 0:
                return None
            pos = entry.start - 1
        last = None
        for entry in self.entries():
            if entry.time is not None:
                last = entry
        return last

    def find_all(self, needle: bytes, lo: int = 0, hi: int | None = None) -> Iterator[int]:
        """Offsets of every occurrence of `needle` (a plain bytes search: the fast part)."""
        buf, hi = self.buf, len(self.buf) if hi is None else hi
        pos = buf.find(needle, lo, hi)
        while pos >= 0:
            yield pos
            pos = buf.find(needle, pos + len(needle), hi)


def parse_log(name: str, data: bytes) -> list[LogEntry]:
    """Every entry of one log file's bytes, in order."""
    return list(LogBuffer(name, data).entries())
