"""Reading an MS-WSMV multipart/encrypted reply body: WinRM message encryption over HTTP.

Each part names the plaintext's length (OriginalContent ...;Length=N), then an application/octet-stream part
holds a 4-byte signature length, the signature and the sealed data up to the next boundary. pypsrp's
WinRMEncryption.unwrap_message does the same with regex splits and copies of the whole body; this slices it
once (the sealed data goes to pyspnego's unwrap_winrm unchanged), with the same length check. Every number in
the body is read with its own bound before Python's: a length of thousands of digits is a malformed reply.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from scanner.winrm.transport import BadReply, library_text

MAX_LENGTH_DIGITS = 10  # an OriginalContent length: a reply is bounded far below 10**10 bytes
_ORIGINAL_LENGTH = re.compile(rb"Length=([0-9]+)")
_OCTET = b"\tContent-Type: application/octet-stream\r\n"


def unwrap_parts(address: str, context: Any, data: bytes, boundary: bytes) -> bytes:
    """The plaintext of a multipart/encrypted body; BadReply when it is malformed or fails to decrypt."""
    marker = b"--" + boundary
    out: list[bytes] = []
    pos = 0
    while True:
        start = data.find(marker + b"\r\n", pos)
        if start < 0:
            break
        plain, pos = _part(address, context, data, marker, start)
        out.append(plain)
    if not out:
        raise BadReply(address, "encrypted reply without an encrypted part")
    return out[0] if len(out) == 1 else b"".join(out)


def _part(address: str, context: Any, data: bytes, marker: bytes, start: int) -> tuple[bytes, int]:
    """One part starting at `start`: its plaintext and where the next one may start."""
    second = data.find(marker + b"\r\n", start + len(marker) + 2)
    if second < 0:
        raise BadReply(address, "encrypted reply: the MIME part with the sealed data is missing")
    found = _ORIGINAL_LENGTH.search(data, start, second)
    body = second + len(marker) + 2
    if found is None or not data.startswith(_OCTET, body):
        raise BadReply(address, "encrypted reply: malformed MIME part headers")
    digits = found.group(1)
    if len(digits) > MAX_LENGTH_DIGITS:
        raise BadReply(address, f"encrypted reply: a length of {len(digits)} digits")
    expected = int(digits)
    body += len(_OCTET)
    if body + 4 > len(data):
        raise BadReply(address, "encrypted reply: cut short after the MIME part headers")
    (sig_len,) = struct.unpack_from("<i", data, body)
    if not 0 <= sig_len <= len(data) - body - 4:
        raise BadReply(address, "encrypted reply: bad signature length")
    sealed_at = body + 4 + sig_len
    end = data.find(marker, sealed_at)
    end = len(data) if end < 0 else end
    try:
        plain = context.unwrap_winrm(data[body + 4:sealed_at], data[sealed_at:end])
    except Exception as exc:
        raise BadReply(address, f"security layer error: {type(exc).__name__}: {library_text(exc)}", cause=exc) from exc
    if len(plain) != expected:
        raise BadReply(address, f"The encrypted length from the server does not match the expected length, "
                                f"decryption failed, actual: {len(plain)} != expected: {expected}")
    return plain, end
