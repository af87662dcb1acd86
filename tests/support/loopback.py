"""Pieces of the hand-written loopback HTTP servers some tests need (a listener that misbehaves on purpose)."""

from __future__ import annotations

import socket


def read_request(conn: socket.socket, pending: bytes = b"") -> tuple[bytes, bytes] | None:
    """One HTTP request from `conn` (head, then its Content-Length body): (the head, the bytes after the body);
    None when the peer closes (or resets) before the request is complete. `pending`: bytes already received."""
    try:
        while b"\r\n\r\n" not in pending:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            pending += chunk
        head, _, rest = pending.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            rest += chunk
    except OSError:
        return None
    return head, rest[length:]
