"""Loopback HTTP listeners for transport and logon tests: 127.0.0.1 port 0, torn down when the block ends."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Listener:
    """Where a listener listens and what it received: every request head, in order."""

    port: int
    heads: list[bytes] = field(default_factory=list)

    def logon_requests(self) -> int:
        """How many requests carried an Authorization header (logon legs, and Basic requests)."""
        return sum(1 for head in self.heads if b"\r\nauthorization:" in head.lower())


@contextmanager
def loopback(handle: Callable[[socket.socket], None], *, concurrent: bool = True) -> Iterator[int]:
    """A listener whose every connection `handle` serves (each in a thread of its own, or one after the other in
    the accepting thread when not `concurrent`); yields the port. A handler's OSError ends its connection."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                handle(conn)
            except OSError:
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if concurrent:
                threading.Thread(target=serve, args=(conn,), daemon=True).start()
            else:
                serve(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        try:
            server.shutdown(socket.SHUT_RDWR)  # wakes the accept() the thread is blocked in (Linux)
        except OSError:
            pass
        server.close()


def read_head(conn: socket.socket, pending: bytes = b"") -> tuple[bytes, bytes] | None:
    """A request head from `conn`: (head, what followed its blank line); None when the client closed first."""
    while b"\r\n\r\n" not in pending:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        pending += chunk
    head, _, rest = pending.partition(b"\r\n\r\n")
    return head, rest


def read_request(conn: socket.socket, pending: bytes = b"") -> tuple[bytes, bytes] | None:
    """One HTTP request from `conn` (head, then its Content-Length body): (the head, the bytes after the body);
    None when the peer closes (or resets) before the request is complete. `pending`: bytes already received."""
    try:
        got = read_head(conn, pending)
        if got is None:
            return None
        head, rest = got
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


@contextmanager
def http_listener(answer: Callable[[bytes], bytes], *, keep_alive: bool = True) -> Iterator[Listener]:
    """A keep-alive HTTP listener: each request's head is recorded, then answered with `answer(head)` (raw bytes).
    The connection is closed after a reply saying `Connection: close`, or after every reply without `keep_alive`."""
    listener = Listener(0)
    lock = threading.Lock()

    def handle(conn: socket.socket) -> None:
        pending = b""
        while True:
            got = read_request(conn, pending)
            if got is None:
                return
            head, pending = got
            with lock:
                listener.heads.append(head)
            reply = answer(head)
            conn.sendall(reply)
            if not keep_alive or b"\r\nconnection: close\r\n" in reply.partition(b"\r\n\r\n")[0].lower() + b"\r\n":
                return

    with loopback(handle) as port:
        listener.port = port
        yield listener
