"""Turn a log file's bytes into one searchable 8-bit buffer.

Every tool-relevant token (STATMSG ids, error codes, function names) is ASCII, so the engine searches
bytes and decodes only the lines it keeps. 8-bit files are used as they are (each line decodes as
UTF-8, else Windows-1252); UTF-16 files are transcoded to UTF-8 once, keeping every newline.
"""

from __future__ import annotations

import codecs

ENCODING_8BIT = "utf-8/cp1252"


def normalise(data: bytes) -> tuple[bytes, str]:
    """(buffer, encoding): BOM first, then a BOM-less UTF-16 guess (a tail-capped file has no BOM)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):], "utf-8-sig"
    if data.startswith(codecs.BOM_UTF16_LE):
        return _transcode(data[2:], "utf-16-le"), "utf-16-le"
    if data.startswith(codecs.BOM_UTF16_BE):
        return _transcode(data[2:], "utf-16-be"), "utf-16-be"
    guess = _sniff_utf16(data)
    if guess == "utf-16-le":
        return _transcode(data, "utf-16-le"), "utf-16-le (no BOM)"
    if guess == "utf-16-le+1":
        # The tail of a UTF-16LE file cut at an odd offset: drop the orphan byte.
        return _transcode(data[1:], "utf-16-le"), "utf-16-le (no BOM)"
    return data, ENCODING_8BIT


def _transcode(data: bytes, encoding: str) -> bytes:
    return data.decode(encoding, errors="replace").encode("utf-8", errors="replace")


def _sniff_utf16(data: bytes) -> str | None:
    """ASCII-heavy UTF-16 has NULs at every other byte; NUL padding has them everywhere, so it is not it."""
    sample = data[:4096]
    pairs = len(sample) // 2
    if pairs < 16:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > 0.4 * pairs and even < 0.02 * pairs:
        return "utf-16-le"
    if even > 0.4 * pairs and odd < 0.02 * pairs:
        return "utf-16-le+1"
    return None


def decode_line(raw: bytes) -> str:
    """One line of the buffer as text: UTF-8, else Windows-1252 (a line never fails to decode)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")
