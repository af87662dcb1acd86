"""A hostile WinRM endpoint cannot make cmaudit buffer huge replies or expand XML entities."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from scanner.model.errors import HostError
from scanner.model.host import Host
from scanner.model.records import ErrorCategory
from scanner.winrm.collect import CollectOptions, collect
from scanner.winrm.faults import translate
from scanner.winrm.session import HostSession, SessionOptions
from tests.support.loopback import read_request

pytestmark = pytest.mark.network

BIG = 50 * 1024 * 1024
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
          b"<s:Envelope>&lol2;</s:Envelope>")


class OneShotServer:
    """Answers every HTTP request on 127.0.0.1 with the same raw reply, then closes the connection."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    read_request(conn)  # the whole request, so closing sends FIN, not RST
                    conn.sendall(self.reply)
                    self.sent += len(self.reply)
                except OSError:
                    pass

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() the server thread is blocked in
        except OSError:
            pass
        self.sock.close()
        self._thread.join(timeout=10)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[OneShotServer]:
    srv = OneShotServer(request.param)
    yield srv
    srv.close()


def _scan(port: int) -> HostError:
    host = Host(name="evil", address="127.0.0.1", port=port, scheme="http", auth="basic")
    session = HostSession(host, SessionOptions(username="u", password="p", insecure=True),
                          deadline=time.monotonic() + 10)
    try:
        with pytest.raises(Exception) as caught:  # whatever pypsrp raises, translated below
            collect(session, CollectOptions())
    finally:
        session.close()
    return translate(caught.value, "evil")


@pytest.mark.parametrize(
    ("server", "why"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: %d\r\n\r\n"
                     % BIG + b"x" * BIG, "exceeds", id="50MB-with-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nConnection: close\r\n\r\n"
                     + b"<" * (2 * 1024 * 1024), "exceeds", id="2MB-without-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: %d\r\n\r\n"
                     % len(LAUGHS) + LAUGHS, "DTD", id="billion-laughs"),
    ],
    indirect=["server"],
)
def test_hostile_reply_is_a_protocol_error(server: OneShotServer, why: str) -> None:
    """Oversized or entity-laden replies end as ERROR/protocol without being read or parsed whole."""
    err = _scan(server.port)
    assert err.category is ErrorCategory.PROTOCOL, err
    assert why in err.message and not err.retryable
