"""A log file as a byte buffer that yields entries on demand.

Two ways in, with the same rules so they always agree on line numbers:
- `entries()` parses every line (tests, the timeline);
- `entry_at(pos)` parses only the entry holding a byte offset (the engine, after a fast bytes search).

Rules: a line holding `<![LOG[` opens a CMTrace entry that runs to the first line holding `]LOG]!><`
(at most MAX_SPAN lines; no line in between may open one or be a complete server entry); otherwise a
line with a server tail `$$<...><...><thread=...>` is a server entry; anything else is kept as raw
text. Every physical line belongs to exactly one entry.

Every way in is linear in the file, whatever its shape (a hostile server may serve 32 MB of long lines
without a timestamp): searches for openers never cover the same bytes twice on a walk through the file, each
opener's extent is worked out once, and the first and last dated entries are found by searching for
the only bytes a dated entry can hold (`$$<` or `]LOG]!><`), each byte once. Searches look for a
needle's rarest byte (memchr speed) until that byte proves common in the file.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import replace

from scanner.advisory.logs.decode import decode_line, normalise
from scanner.advisory.logs.entry import LogEntry
from scanner.advisory.logs.formats import CMTRACE_CLOSE, CMTRACE_OPEN, parse_cmtrace, parse_server
from scanner.advisory.stop import NEVER, Stopper

MAX_SPAN = 200  # lines one CMTrace message may span
_OPEN = CMTRACE_OPEN.encode()
_CLOSE = CMTRACE_CLOSE.encode()
_SERVER_TAIL = b"$$<"
_DATED = (_SERVER_TAIL, _CLOSE)  # a dated entry holds one of these: a server tail, or a CMTrace closer
_NL = b"\n"
_MISSES = 8  # pivot-byte hits that are not the needle before a search falls back to CPython's own
_SAMPLE = 4096  # bytes from each end of a file that choose a needle's pivot byte


class LogBuffer:
    """One log file's bytes, normalised (see scanner.advisory.logs.decode), with a line-number index."""

    def __init__(self, name: str, data: bytes, stop: Stopper = NEVER) -> None:
        self.name = name
        self.buf, self.encoding = normalise(data)
        self.stop = stop
        # Checkpoints (offset of a line start, its 1-based number), kept sorted by offset.
        self._marks_pos: list[int] = [0]
        self._marks_line: list[int] = [1]
        self._nearest = (0, -1)  # (end of the last opener search, the opener it found or -1)
        self._undated = False  # first_timed found no dated entry at all
        self._common: set[bytes] = set()  # needles whose rarest byte proved common in this file after all
        self._pivots: dict[bytes, int] = {}
        self._sample = b""  # the file's first and last _SAMPLE bytes, taken on the first search
        self._byte_counts: dict[int, int] = {}  # byte value -> its count in the sample
        self._spans: dict[int, tuple[int, int] | None] = {}  # opener line start -> its CMTrace extent
        self._openers: bool | None = None  # whether the file holds any CMTrace opener (asked once)

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
        if start not in self._spans:  # worked out once per opener, however often it is asked
            self._spans[start] = self._span_from(o, end)
        return self._spans[start]

    def _span_from(self, o: int, end: int) -> tuple[int, int] | None:
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

    def _entry_from(self, start: int, line: int | None = None, *, numbered: bool = True) -> LogEntry:
        """The entry that starts at the line beginning at `start` (line number 0 when not `numbered`)."""
        number = line if line is not None else self.line_number(start) if numbered else 0
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
        """Start of the nearest line at or above `start` holding `<![LOG[` (its extent says if it reaches).

        The last answer is remembered as (end searched, opener found): a walk forwards or backwards
        through the file then searches each byte once, and a file without any opener answers at once.
        """
        if self._openers is None:
            self._openers = self.find(_OPEN) >= 0
        if not self._openers:
            return None  # a server-format file: no line can belong to a CMTrace entry above it
        end = self.line_end(start)
        searched, found = self._nearest
        if found < end <= searched:
            o = found  # nothing between the opener found and where that search began
        elif searched < end:
            o = self.buf.rfind(_OPEN, max(0, searched - len(_OPEN) + 1), end)
            o = o if o >= 0 else found if found < end else self.buf.rfind(_OPEN, 0, end)
        else:
            o = self.buf.rfind(_OPEN, 0, end)
        self._nearest = (end, o)
        return None if o < 0 else self.line_start(o)

    def entry_at(self, pos: int, *, numbered: bool = True) -> LogEntry:
        """The entry holding byte offset `pos` (the same entry `entries()` would give for that line).

        `numbered=False` skips counting lines (line 0) for callers that only look at the entry.
        """
        start = self.line_start(pos)
        s = self._opener_above(start)
        if s is not None:
            cm = self._cmtrace_end(s)
            if cm is not None and cm[0] >= start:
                return self._entry_from(s, numbered=numbered)
        return self._entry_from(start, numbered=numbered)

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
        nxt = {token: self.find(token) for token in _DATED}
        lo = 0
        while True:
            for token, at in nxt.items():
                if 0 <= at < lo:
                    nxt[token] = self.find(token, lo)
            found = [at for at in nxt.values() if at >= 0]
            if not found:
                self._undated = True
                return None
            pos = min(found)
            entry = self.entry_at(pos, numbered=False)
            if entry.time is not None:
                return replace(entry, line=self.line_number(entry.start))
            lo = max(entry.end, pos) + 1
            self.stop.check()

    def last_timed(self, before: int | None = None) -> LogEntry | None:
        """The last entry that carries a time (and starts before offset `before`), searching backwards, each byte
        once."""
        if self._undated:
            return None  # first_timed walked the whole file already and found none
        hi = len(self.buf) if before is None else before
        prev = {token: self.rfind(token, 0, hi) for token in _DATED}
        while True:
            for token, at in prev.items():
                if at >= 0 and at + len(token) > hi:
                    prev[token] = self.rfind(token, 0, hi)
            pos = max(prev.values())
            if pos < 0:
                return None
            entry = self.entry_at(pos, numbered=False)
            if entry.time is not None:
                return replace(entry, line=self.line_number(entry.start))
            hi = min(entry.start, pos)
            self.stop.check()

    def _pivot(self, needle: bytes) -> int:
        """The index of the needle's byte that is rarest in a sample of the file (found once per needle; each
        byte value counted once per file: the advisory's needles share most of their letters)."""
        pivot = self._pivots.get(needle)
        if pivot is None:
            if not self._sample:
                self._sample = self.buf[:_SAMPLE] + self.buf[-_SAMPLE:]
            counts = self._byte_counts
            for byte in set(needle) - counts.keys():
                counts[byte] = self._sample.count(byte)
            pivot = self._pivots[needle] = min(range(len(needle)), key=lambda i: counts[needle[i]])
        return pivot

    def find(self, needle: bytes, lo: int = 0, hi: int | None = None) -> int:
        """`buf.find(needle, lo, hi)`, at memchr speed where one of the needle's bytes is rare in the file.

        CPython's substring search moves a few bytes per step; looking for one byte is memchr, many times
        faster (figures in bench/RESULTS.md). Where that byte turns out common, the plain search takes over.
        """
        buf, hi = self.buf, len(self.buf) if hi is None else hi
        if needle in self._common:
            return buf.find(needle, lo, hi)
        k = self._pivot(needle)
        byte, misses = needle[k:k + 1], 0
        pos = buf.find(byte, lo + k, hi)
        while pos >= 0:
            if buf.startswith(needle, pos - k, hi):
                return pos - k
            misses += 1
            if misses > _MISSES:
                self._common.add(needle)
                return buf.find(needle, pos - k + 1, hi)
            pos = buf.find(byte, pos + 1, hi)
        return -1

    def rfind(self, needle: bytes, lo: int = 0, hi: int | None = None) -> int:
        """`buf.rfind(needle, lo, hi)`, the same way as `find`."""
        buf, hi = self.buf, len(self.buf) if hi is None else hi
        if needle in self._common:
            return buf.rfind(needle, lo, hi)
        k = self._pivot(needle)
        byte, misses = needle[k:k + 1], 0
        tail = len(needle) - k - 1  # bytes of the needle after its pivot
        pos = buf.rfind(byte, lo + k, hi - tail)
        while pos >= 0:
            if buf.startswith(needle, pos - k, hi):
                return pos - k
            misses += 1
            if misses > _MISSES:
                self._common.add(needle)
                return buf.rfind(needle, lo, pos + tail)
            pos = buf.rfind(byte, lo + k, pos)
        return -1

    def find_all(self, needle: bytes, lo: int = 0, hi: int | None = None) -> Iterator[int]:
        """Offsets of every occurrence of `needle` (a plain bytes search: the fast part)."""
        pos = self.find(needle, lo, hi)
        while pos >= 0:
            yield pos
            pos = self.find(needle, pos + len(needle), hi)


def parse_log(name: str, data: bytes) -> list[LogEntry]:
    """Every entry of one log file's bytes, in order."""
    return list(LogBuffer(name, data).entries())
