"""The programs the virtual cmd.exe can start, and what they share: the host they read and a console.

Each program is a function `(host, invocation, console) -> exit code`. It parses its own argument text,
as Windows programs do, and writes bytes in the shell's code page to the console.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from simulator.filesystem import FileSystem
from simulator.registry import Registry
from simulator.windows import WindowsVersion

# A run's output is bounded: `type big big big ...` on a hostile line must not exhaust memory.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024


class Host(Protocol):
    """What programs may read of the machine they run on."""

    hostname: str
    registry: Registry
    fs: FileSystem
    windows: WindowsVersion
    is_64bit: bool
    volume_serial: str
    free_bytes: int


def codec_for(codepage: int) -> str:
    """The Python codec for a Windows code page (65001 is UTF-8); unknown pages fall back to OEM 437."""
    name = "utf-8" if codepage == 65001 else f"cp{codepage}"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "cp437"


@dataclass(slots=True)
class Console:
    """Ordered stdout/stderr chunks of one command, so that `2>&1` interleaves them as Windows does."""

    codepage: int
    chunks: list[tuple[int, bytes]] = field(default_factory=list)
    size: int = 0

    @property
    def codec(self) -> str:
        return codec_for(self.codepage)

    def write(self, fd: int, data: bytes) -> None:
        room = MAX_OUTPUT_BYTES - self.size
        if room <= 0 or not data:
            return
        data = data[:room]
        self.size += len(data)
        self.chunks.append((fd, data))

    def out(self, text: str) -> None:
        """Text to stdout, in the console code page; characters it lacks become '?' like WideCharToMultiByte."""
        self.write(1, text.encode(self.codec, "replace"))

    def err(self, text: str) -> None:
        self.write(2, text.encode(self.codec, "replace"))


@dataclass(frozen=True, slots=True)
class Invocation:
    name: str  # the command name as typed (quotes removed), e.g. `reg` or `C:\\WINDOWS\\system32\\reg.exe`
    args: str  # the raw argument text after the name, redirections already removed
    stdin: bytes
    cwd: str


Program = Callable[[Host, Invocation, Console], int]


def split_args(text: str) -> list[str]:
    """Arguments as a Windows program's C runtime splits them: whitespace outside double quotes."""
    args: list[str] = []
    current: list[str] = []
    in_quote = False
    started = False
    for char in text:
        if char == '"':
            in_quote = not in_quote
            started = True
        elif char in " \t" and not in_quote:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        args.append("".join(current))
    return args
