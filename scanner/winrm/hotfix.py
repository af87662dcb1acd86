"""Traces of a hotfix, read as they stream in: registrations naming its KB, and a program's file version.

Neither is ever a verdict (no public source gives KB 951376's install marker or fixed file version); both are
shown with the host so "AFFECTED, fix installed, waiting for the next sync" can be read.

- `KbBlocks` keeps, from `reg query <key> /s` output, only the key blocks that name the KB (Update.exe
  hotfixes register under HKLM\\SOFTWARE\\Microsoft\\Updates\\<product>\\...; reg.exe 3.0 has no `/f`, so the
  filtering happens here). Memory stays bounded and the work linear whatever the key holds (a line longer than
  a block is skipped as it streams past); reg.exe's error text is kept apart.
- `VersionFinder` reads the fixed file version out of a PE file's VS_VERSION_INFO resource as `type` streams
  the program's bytes, keeping only a small window of them.
"""

from __future__ import annotations

import struct

from scanner.winrm.regparse import RegKey, parse_reg_query

MAX_KEPT = 64 * 1024  # bytes of matching registrations kept
MAX_BLOCK = 16 * 1024  # one key block (a key and its values); longer ones are cut
MAX_HEAD = 2048  # bytes of the command's own output kept for its error text

_VERSION_KEY = "VS_VERSION_INFO".encode("utf-16-le")
_SIGNATURE = b"\xbd\x04\xef\xfe"  # VS_FIXEDFILEINFO.dwSignature 0xFEEF04BD, little-endian
_WINDOW = len(_VERSION_KEY) + 64


class KbBlocks:
    """A MarkerSplitter section that keeps only the `reg query` key blocks mentioning `needle`."""

    def __init__(self, needle: str) -> None:
        self.needle = needle.encode("ascii").lower()
        self.kept = bytearray()
        self.head = bytearray()  # the first bytes as they came: reg.exe's error text when it failed
        self.seen = 0
        self.truncated = False
        self._pending = bytearray()
        self._skipping = False  # the unfinished line is longer than MAX_BLOCK: dropped up to its end
        self._block = bytearray()

    def feed(self, chunk: bytes) -> None:
        """Each byte is looked at once: a line arriving in many chunks is joined once, and one longer than MAX_BLOCK
        (which no block could keep) is skipped as it streams past, never held."""
        self.seen += len(chunk)
        if len(self.head) < MAX_HEAD:
            self.head += chunk[: MAX_HEAD - len(self.head)]
        first, *lines = chunk.split(b"\n")
        if not lines:  # no line ends in this chunk
            self._hold(first)
            return
        self._hold(first)
        if not self._skipping:
            self._line(bytes(self._pending) + b"\n")
        self._pending.clear()
        self._skipping = False
        *whole, rest = lines
        for line in whole:
            if len(line) < MAX_BLOCK:
                self._line(line + b"\n")
        self._hold(rest)

    def _hold(self, part: bytes) -> None:
        """Keep the start of an unfinished line, up to MAX_BLOCK; past that the line is skipped to its end."""
        if self._skipping:
            return
        if len(self._pending) + len(part) >= MAX_BLOCK:
            self._pending.clear()
            self._skipping = True
            return
        self._pending += part

    def _line(self, line: bytes) -> None:
        if line[:5].upper() == b"HKEY_":  # a key path starts a new block
            self._flush()
        if len(self._block) < MAX_BLOCK:
            self._block += line

    def _flush(self) -> None:
        if self.needle in self._block.lower():
            room = MAX_KEPT - len(self.kept)
            self.kept += self._block[:room]
            self.truncated = self.truncated or len(self._block) > room
        self._block.clear()

    @property
    def data(self) -> bytearray:
        """The matching blocks, the one still open included."""
        if self._pending and not self._skipping:
            self._line(bytes(self._pending))
        self._pending.clear()
        self._flush()
        return self.kept


class VersionFinder:
    """A MarkerSplitter section that finds a PE file's fixed file version as its bytes stream past."""

    def __init__(self) -> None:
        self.seen = 0
        self.truncated = False
        self.version: str | None = None
        self._window = b""

    def feed(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        if self.version is not None:
            return
        data = self._window + chunk
        at = data.find(_VERSION_KEY)
        if at >= 0:
            self.version = _fixed_version(data[at:])
            if self.version is None and len(data) - at < _WINDOW:
                self._window = data[at:]  # the key arrived, its value not yet
                return
        self._window = data[-_WINDOW:]

    @property
    def data(self) -> bytearray:
        return bytearray((self.version or "").encode("ascii"))


def _fixed_version(data: bytes) -> str | None:
    """`4.0.6221.1193` from the VS_FIXEDFILEINFO after the VS_VERSION_INFO key (None if not all there)."""
    sig = data.find(_SIGNATURE, len(_VERSION_KEY), _WINDOW)
    if sig < 0 or len(data) < sig + 16:
        return None
    ms, ls = struct.unpack_from("<II", data, sig + 8)
    return f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"


def registration(key: RegKey) -> str:
    """One registration as a line: `HKLM\\...\\KB951376: Description=...; InstalledDate=...`."""
    values = "; ".join(f"{v.name or '(default)'}={v.text}" for v in key.values)
    return key.path.replace("HKEY_LOCAL_MACHINE", "HKLM", 1) + (f": {values}" if values else "")


def registrations(blocks: str) -> tuple[str, ...]:
    """The kept key blocks, one line each."""
    return tuple(dict.fromkeys(registration(key) for key in parse_reg_query(blocks)))
