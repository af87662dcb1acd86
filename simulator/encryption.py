"""WinRM message encryption over HTTP (MS-WSMV 2.2.9.1.1), byte for byte as Windows frames it.

    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/HTTP-SPNEGO-session-encrypted\\r\\n
    \\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<plaintext length>\\r\\n
    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/octet-stream\\r\\n
    <uint32 LE signature length><signature><sealed data>--Encrypted Boundary--\\r\\n

A client that logged on with the `Kerberos` scheme (offered alone by a listener with Negotiate turned
off) names `application/HTTP-Kerberos-session-encrypted` instead; the reply uses the request's protocol.
"""

from __future__ import annotations

import re
import struct

import spnego

PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
KERBEROS_PROTOCOL = "application/HTTP-Kerberos-session-encrypted"
PROTOCOLS = (PROTOCOL, KERBEROS_PROTOCOL)
CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="Encrypted Boundary"'
_BOUNDARY = b"--Encrypted Boundary"
_SPLIT = re.compile(rb"--\s*Encrypted Boundary\r\n")
_LENGTH = re.compile(rb"Length=(\d+)")
_OCTET = b"\tContent-Type: application/octet-stream\r\n"


class EncryptionError(ValueError):
    """An encrypted body that is not framed or sealed correctly."""


def protocol_of(content_type: str) -> str | None:
    """The encryption protocol a request's Content-Type names (None: not an encrypted body)."""
    ct = content_type.lower()
    if not ct.startswith(("multipart/encrypted", "multipart/x-multi-encrypted")):
        return None
    return next((p for p in PROTOCOLS if p.lower() in ct), None)


def is_encrypted(content_type: str) -> bool:
    return protocol_of(content_type) is not None


def content_type(protocol: str = PROTOCOL) -> str:
    return f'multipart/encrypted;protocol="{protocol}";boundary="Encrypted Boundary"'


def wrap(context: spnego.ContextProxy, message: bytes, protocol: str = PROTOCOL) -> bytes:
    result = context.wrap_winrm(message)
    length = len(message) + result.padding_length
    return (
        _BOUNDARY + b"\r\n"
        + f"\tContent-Type: {protocol}\r\n".encode()
        + f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={length}\r\n".encode()
        + _BOUNDARY + b"\r\n" + _OCTET
        + struct.pack("<i", len(result.header)) + result.header + result.data
        + _BOUNDARY + b"--\r\n"
    )


def unwrap(context: spnego.ContextProxy, body: bytes) -> bytes:
    """Decrypt every part of a multipart/encrypted body; raises EncryptionError if it does not check out."""
    if body.endswith(_BOUNDARY + b"--\r\n"):
        body = body[: -len(_BOUNDARY + b"--\r\n")]
    parts = [p for p in _SPLIT.split(body) if p]
    if not parts or len(parts) % 2:
        raise EncryptionError("encrypted body is not a sequence of header/payload MIME parts")
    message = b""
    for i in range(0, len(parts), 2):
        m = _LENGTH.search(parts[i])
        payload = parts[i + 1]
        if not m or not payload.startswith(_OCTET) or len(payload) < len(_OCTET) + 4:
            raise EncryptionError("encrypted MIME part is malformed")
        payload = payload[len(_OCTET):]
        header_length = struct.unpack("<i", payload[:4])[0]
        if header_length <= 0 or header_length > len(payload) - 4:
            raise EncryptionError("encrypted MIME part has a bad signature length")
        try:
            plain = context.unwrap_winrm(payload[4:4 + header_length], payload[4 + header_length:])
        except Exception as exc:  # noqa: BLE001 - any crypto failure is a bad message, not a crash
            raise EncryptionError(f"cannot decrypt message: {type(exc).__name__}") from None
        if len(plain) != int(m.group(1)):
            raise EncryptionError("decrypted length does not match OriginalContent Length")
        message += plain
    return message
