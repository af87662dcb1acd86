"""Progress on stderr: a live one-line bar on a terminal (done/total, failed, rate, ETA, in colour unless
NO_COLOR), one plain line per host otherwise (logs, CI), nothing at all with --quiet.

Rendering is plain text on purpose: no extra dependency, and it works in cmd.exe and in a pipe.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from reports.console import use_colour
from reports.terminal import clean
from scanner.model.records import Verdict

BAR_WIDTH = 24


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """The scan's `HostProgress` on a stream: `host_done(name, verdict, error_category)` once per host,
    `close()` ends the bar line."""

    def __init__(self, total: int, stream: TextIO | None = None, *, quiet: bool = False,
                 tty: bool | None = None, colour: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = _isatty(self.stream) if tty is None else tty
        self.colour = (self.tty and use_colour(self.stream)) if colour is None else colour
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.failed = 0
        self._bar_shown = False
        self._drawn_width = 0

    def host_done(self, name: str, verdict: Verdict, detail: str = "") -> None:
        self.done += 1
        if verdict is Verdict.ERROR:
            self.failed += 1
        if self.quiet:
            return
        if self.tty:
            self._draw()
        else:
            extra = f" ({detail})" if detail else ""
            self.stream.write(f"cmaudit: [{self.done}/{self.total}] {_printable(name)}: {verdict.value}{extra}\n")
            self.stream.flush()

    def eta(self) -> float | None:
        if not self.done:
            return None
        elapsed = self.clock() - self.started
        return elapsed / self.done * (self.total - self.done)

    def rate(self) -> float | None:
        """Hosts finished per second so far."""
        elapsed = self.clock() - self.started
        return self.done / elapsed if self.done and elapsed > 0 else None

    def line(self, colour: bool = False) -> str:
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        eta = self.eta()
        eta_text = "--:--" if eta is None else _clock_text(eta)
        rate = self.rate()
        rate_text = "-" if rate is None else f"{rate:.1f} hosts/s" if rate >= 1 else f"{rate * 60:.1f} hosts/min"
        bar, failed = "#" * filled, f"{self.failed} failed"
        if colour:
            bar = f"\x1b[32m{bar}\x1b[0m"
            if self.failed:
                failed = f"\x1b[35;1m{failed}\x1b[0m"
        return (f"[{bar}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total} hosts, "
                f"{failed}, {rate_text}, ETA {eta_text}")

    def _draw(self) -> None:
        # Pad with spaces rather than an ANSI erase: old Windows consoles print escape codes literally.
        plain = self.line()
        text = self.line(self.colour)
        self.stream.write("\r" + text + " " * max(0, self._drawn_width - len(plain)))
        self._drawn_width = len(plain)
        self.stream.flush()
        self._bar_shown = True

    def message(self, text: str) -> None:
        """A line that must not be overdrawn by the bar (warnings, the stop notice)."""
        if self._bar_shown:
            self.stream.write("\r" + " " * self._drawn_width + "\r")
        self.stream.write(text.rstrip("\n") + "\n")
        if self._bar_shown:
            self._draw()
        self.stream.flush()

    def stopping(self) -> None:
        """A stop was asked for: said once, above the bar."""
        self.message("cmaudit: stopping: no new hosts; running ones get a few seconds (again to abort now)")

    def close(self) -> None:
        if self._bar_shown:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_shown = False


def _printable(text: str) -> str:
    """Inventory names are untrusted: no control characters reach the terminal (reports.terminal)."""
    return clean(text)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
