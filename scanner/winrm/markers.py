"""Telling the sections of one command's output apart: `echo` marker lines carrying a per-run nonce.

A marker may arrive split across two Receive replies (or several small rsp:Stream elements), so up to one
marker's length is held back; a log line cannot fake a section boundary because it cannot know the nonce.
Each section keeps at most `cap` bytes: the tail, since the newest log entries are the ones that matter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class TailBuffer:
    """Keeps the last `cap` bytes fed to it and counts everything it saw."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    seen: int = 0

    def feed(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        self.data += chunk
        if len(self.data) > self.cap:
            del self.data[: len(self.data) - self.cap]

    @property
    def truncated(self) -> bool:
        return self.seen > self.cap


class Sink(Protocol):
    """Where a section's bytes go: a TailBuffer, or a filter that keeps only what it is after."""

    @property
    def seen(self) -> int: ...  # every byte fed

    @property
    def truncated(self) -> bool: ...  # some of them were not kept

    @property
    def data(self) -> bytearray: ...

    def feed(self, chunk: bytes) -> None: ...


END = "end"  # the closing marker every command line echoes last


class MarkerSplitter:
    """Routes a byte stream into named sections delimited by `echo <marker>` lines.

    A marker may arrive split across two Receive replies, so up to one marker's length is held back. Once the
    closing `end` marker has been seen, the rest is trailer: marker lines in it (only a server that echoes our
    nonce back could write them) are data of the `end` section and can no longer reopen a file's section.
    """

    def __init__(self, nonce: str, names: tuple[str, ...], cap: int,
                 sinks: Mapping[str, Callable[[], Sink]] | None = None) -> None:
        self.prefix = f"==cmaudit:{nonce}:".encode()
        self.names = names
        self.sections: dict[str, Sink] = {}
        self._sinks = dict(sinks or {})  # section name -> a filter of its own instead of a TailBuffer
        self._current: Sink | None = None
        self._pending = bytearray()
        self._hold = len(self.prefix) + max(len(n) for n in names) + 8  # marker, "==", " \r\n"
        self._cap = cap
        self.total = 0  # every byte fed, inside sections or not

    @property
    def current_seen(self) -> int:
        return 0 if self._current is None else self._current.seen

    @property
    def current_name(self) -> str | None:
        for name, buf in self.sections.items():
            if buf is self._current:
                return name
        return None

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._pending += chunk
        self._drain(final=False)

    def close(self) -> None:
        self._drain(final=True)

    def _emit(self, data: bytes | bytearray) -> None:
        if self._current is not None and data:
            self._current.feed(bytes(data))

    def _drain(self, *, final: bool) -> None:
        while True:
            if self._current is not None and self._current is self.sections.get(END):
                self._emit(self._pending)
                self._pending.clear()
                return
            at = self._pending.find(self.prefix)
            if at < 0:
                keep = 0 if final else min(len(self._pending), len(self.prefix) - 1)
                self._emit(self._pending[: len(self._pending) - keep])
                del self._pending[: len(self._pending) - keep]
                return
            self._emit(self._pending[:at])
            del self._pending[:at]
            end = self._pending.find(b"==", len(self.prefix))
            newline = self._pending.find(b"\n", len(self.prefix))
            if end < 0 or newline < 0:
                if final or len(self._pending) > self._hold:
                    # not one of our markers after all: it is data
                    self._emit(self._pending[:1])
                    del self._pending[:1]
                    continue
                return
            name = self._pending[len(self.prefix):end].decode("ascii", "replace")
            if name not in self.names or newline > end + 5:
                self._emit(self._pending[:1])
                del self._pending[:1]
                continue
            del self._pending[: newline + 1]
            if name not in self.sections:
                sink: Sink = self._sinks[name]() if name in self._sinks else TailBuffer(self._cap)
                self.sections[name] = sink
            self._current = self.sections[name]


def marker(nonce: str, name: str) -> str:
    return f"==cmaudit:{nonce}:{name}=="


FAILED = ".failed"  # suffix of the marker a checked command echoes when it exits non-zero


def checked(nonce: str, name: str, command: str) -> list[str]:
    """`echo <marker>`, then `command` with its error text in the same section and a second marker when it
    fails: the section then tells its output, its error message and its exit code apart."""
    return [f"echo {marker(nonce, name)}", f"{command} 2>&1 || echo {marker(nonce, name + FAILED)}"]


def checked_names(*names: str) -> tuple[str, ...]:
    """Every section name `checked` commands named `names` can produce."""
    return tuple(n for name in names for n in (name, name + FAILED))


@dataclass(frozen=True, slots=True)
class Section:
    """One checked command's output (decoded), and whether it failed."""

    text: str
    failed: bool

    @property
    def message(self) -> str:
        """The error text as a comparable line: banners (`! REG.EXE VERSION 3.0`) and blank lines dropped."""
        lines = [line.strip() for line in self.text.splitlines() if line.strip() and not line.startswith("!")]
        return " ".join(" ".join(lines).split()).casefold()


def section(sections: Mapping[str, Sink], name: str, codec: str) -> Section:
    buf = sections.get(name)
    text = "" if buf is None else bytes(buf.data).decode(codec, "replace")
    return Section(text, failed(sections, name))


def failed(sections: Mapping[str, Sink], name: str) -> bool:
    """Whether the checked command of section `name` exited non-zero (it echoed the `.failed` marker)."""
    return name + FAILED in sections
