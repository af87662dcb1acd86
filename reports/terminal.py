"""The one sanitiser for text on the console: text from servers, logs and files never drives the terminal.

A log line can carry `ESC ] 0 ; title BEL` (sets the window title), `ESC [ 2 J` (clears the screen) or a
bidi override that reorders what an admin reads. Two uses of one table:

- `clean(text)`: a field (a host name, a reason, an evidence line) on one line: every control,
  line break and invisible formatting character becomes `?`;
- `ConsoleStream`: wraps stdout/stderr for a whole command (scanner.cli.main), so every line any
  command prints passes the same table; only tab, line feed and carriage return (the progress bar
  redraws with it) get through, and fields are cleaned before they reach it.
"""

from __future__ import annotations

import io
from typing import TextIO

# C0 and C1 controls, DEL, zero-width characters, line/paragraph separators, bidi embeddings, overrides
# and isolates, the byte-order mark.
_UNSAFE = (*range(0x20), *range(0x7F, 0xA0), *range(0x200B, 0x2010), 0x2028, 0x2029, *range(0x202A, 0x202F),
           *range(0x2066, 0x206A), 0xFEFF)
FIELD_MAP = {c: "?" for c in _UNSAFE}
SPACE_MAP = {c: " " for c in _UNSAFE}
LINE_MAP = {c: "?" for c in _UNSAFE if chr(c) not in "\t\n\r"}


def clean(text: str | None, width: int | None = None, *, spaces: bool = False) -> str:
    """One console field: no control or formatting character (`?`, or a space with `spaces`), at most
    `width` characters."""
    out = (text or "").translate(SPACE_MAP if spaces else FIELD_MAP)
    if width is not None and len(out) > width:
        out = out[: max(0, width - 3)] + "..."
    return out


class ConsoleStream(io.TextIOBase):
    """A text stream that writes through LINE_MAP to the stream it wraps (a console, a pipe, a test's capture)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.wrapped = stream

    def write(self, text: str) -> int:
        self.wrapped.write(text.translate(LINE_MAP))
        return len(text)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        # A stream kept alive by a reference cycle is closed (and so flushed) when the garbage collector gets
        # to it, possibly after the console it wrapped was closed: nothing is left to flush then.
        if not getattr(self.wrapped, "closed", False):
            self.wrapped.flush()

    def isatty(self) -> bool:
        try:
            return self.wrapped.isatty()
        except (AttributeError, ValueError, OSError):
            return False

    def fileno(self) -> int:
        return self.wrapped.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.wrapped, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.wrapped, "errors", None)
