"""The lean http.client transport: chunked replies, the reply bound, abort, and one request fewer per host."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scanner.model.errors import HostProtocolError
from scanner.model.host import Host
from scanner.winrm.lean import LeanTransport
from scanner.winrm.session import REPLY_SLACK, HostSession, SessionOptions
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password, scan

SOAP = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>'
        + b"<x>" + b"y" * 50_000 + b"</x></s:Body></s:Envelope>")


@contextmanager
def raw_server(answer: Callable[[socket.socket], None]) -> Iterator[tuple[int, list[bytes]]]:
    """A loopback server: each connection's request head is read and recorded, then `answer(conn)` replies."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                seen.append(head)
                try:
                    answer(conn)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        listener.close()


def _session(port: int, **options: object) -> HostSession:
    """Basic over plain HTTP (--insecure): the lean transport without a logon handshake in the way."""
    host = Host(name="sms01", address="127.0.0.1", port=port, scheme="http", auth="basic")
    session = HostSession(host, SessionOptions(username="u", password="p", insecure=True, **options))  # type: ignore[arg-type]
    assert isinstance(session.wsman.transport, LeanTransport)
    return session


def _chunked(body: bytes, size: int = 1000) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size))


def test_chunked_reply_is_read_whole() -> None:
    """A reply in chunked transfer encoding comes back as the server's whole SOAP body."""
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(SOAP) + b"0\r\n\r\n")

    with raw_server(answer) as (port, seen):
        session = _session(port)
        try:
            assert session.wsman.transport.send(b"<x/>") == SOAP
        finally:
            session.close()
    assert b"Authorization: Basic " in seen[0]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_reply_larger_than_the_bound_is_refused(framing: str) -> None:
    """A reply beyond 2 x MaxEnvelopeSize (+ slack) is refused, declared or not, without buffering all of it."""
    bound = 2 * 153600 + REPLY_SLACK
    sent = {"bytes": 0}

    def answer(conn: socket.socket) -> None:
        if framing == "content-length":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n")
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = _chunked(b"z" * 65536, 65536)
        for _ in range(800):  # 50 MB if nobody stops reading
            conn.sendall(block)
            sent["bytes"] += 65536

    with raw_server(answer) as (port, _seen):
        session = _session(port)
        try:
            with pytest.raises(HostProtocolError, match="exceeds the .*-byte bound"):
                session.wsman.transport.send(b"<x/>")
        finally:
            session.close()
    assert sent["bytes"] < 20 * bound  # the client hung up long before 50 MB


def test_abort_wakes_a_blocked_read() -> None:
    """A server that never answers holds the worker in recv(); abort() from another thread ends it."""
    release = threading.Event()

    def answer(conn: socket.socket) -> None:
        release.wait(120)

    with raw_server(answer) as (port, seen):
        session = _session(port, read_timeout=600.0, operation_timeout=500)
        outcome: list[BaseException] = []

        def work() -> None:
            try:
                session.wsman.transport.send(b"<x/>")
            except BaseException as exc:  # noqa: BLE001 - the test inspects it
                outcome.append(exc)

        worker = threading.Thread(target=work)
        worker.start()
        while not seen:  # the request has arrived: the worker is now blocked reading the reply
            worker.join(0.01)
        session.abort()
        worker.join(60)
        release.set()
        session.close()
    assert not worker.is_alive() and outcome


@pytest.mark.network
@pytest.mark.parametrize("transport", ["auto", "requests"])
def test_chunked_host_and_requests_per_host(tmp_path: Path, transport: str) -> None:
    """A host replying chunked is judged like its twin with Content-Length; the lean transport needs one HTTP
    request fewer per host than pypsrp's requests transport (no anonymous probe before the NTLM handshake)."""
    password = new_password()
    with Fleet(hosts=2, password=password, faults="1=chunked", machine_factory=healthy_machine,
               profiles=["h"] * 2) as fleet:
        result = scan(fleet, tmp_path, password, concurrency=2, transport=transport)
        http = [h.counters.requests for h in fleet.hosts]
    hosts = result.outcome.results.hosts
    assert [h.error for h in hosts] == [None, None]
    assert hosts[0].verdict == hosts[1].verdict and hosts[0].facts.build == hosts[1].facts.build
    handshake = 2 if transport == "auto" else 3  # NTLM: negotiate + authenticate (+ pypsrp's anonymous probe)
    assert http == [h.requests + handshake for h in hosts]


@pytest.mark.network
def test_ntlm_over_https_binds_the_channel(tmp_path: Path) -> None:
    """Over HTTPS the NTLM logon carries the TLS channel binding (RFC 5929): a host expecting another
    certificate's binding refuses it, the host whose certificate it is accepts it."""
    from spnego.channel_bindings import GssChannelBindings

    password = new_password()
    with Fleet(hosts=2, password=password, tls=True, auth="ntlm", machine_factory=healthy_machine,
               profiles=["h"] * 2) as fleet:
        fleet.hosts[1]._server._bindings = GssChannelBindings(application_data=b"tls-server-end-point:" + bytes(32))
        result = scan(fleet, tmp_path, password, concurrency=2, retries=0)
        refused = [h.counters.auth_failures for h in fleet.hosts]
    hosts = result.outcome.results.hosts
    assert hosts[0].error is None
    assert hosts[1].error is not None and hosts[1].error.category.value == "auth"
    assert refused == [0, 1]


@pytest.mark.network
def test_log_replies_reach_the_parser_without_their_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real scan lifts the stream text out of every Receive reply (the XML parser sees only the markup) and
    still reads the whole log and the registry."""
    import scanner.winrm.session as session_module

    lifted: list[int] = []
    real = session_module.lift_streams  # type: ignore[attr-defined]

    def counting(reply: bytes):  # type: ignore[no-untyped-def]
        found = real(reply)
        lifted.append(sum(len(p) for p in found.payloads) if found is not None else -1)
        return found

    monkeypatch.setattr(session_module, "lift_streams", counting)
    password = new_password()
    with Fleet(hosts=1, password=password, machine_factory=healthy_machine, profiles=["h"]) as fleet:
        result = scan(fleet, tmp_path, password, concurrency=1)
    host = result.outcome.results.hosts[0]
    assert host.error is None and host.facts.build
    assert lifted and all(size >= 0 for size in lifted)  # every Receive reply was lifted
    assert sum(lifted) > sum(log.size for log in host.facts.logs) > 0  # the logs went around the parser
