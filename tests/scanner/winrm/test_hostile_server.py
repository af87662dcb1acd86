"""A hostile WinRM endpoint cannot make cmaudit buffer huge replies or expand XML entities."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from scanner.model.errors import HostError
from scanner.model.host import Host
from scanner.model.records import ErrorCategory
from scanner.winrm.collect import CollectOptions, collect
from scanner.winrm.faults import translate
from scanner.winrm.session import HostSession, SessionOptions
from tests.support.loopback import http_listener

pytestmark = pytest.mark.network

BIG = 50 * 1024 * 1024
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
          b"<s:Envelope>&lol2;</s:Envelope>")


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A loopback server answering every request with the same raw reply, then closing the connection."""
    with http_listener(lambda head: request.param, keep_alive=False) as listener:
        yield listener.port


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
def test_hostile_reply_is_a_protocol_error(server: int, why: str) -> None:
    """Oversized or entity-laden replies end as ERROR/protocol without being read or parsed whole."""
    err = _scan(server)
    assert err.category is ErrorCategory.PROTOCOL, err
    assert why in err.message and not err.retryable
