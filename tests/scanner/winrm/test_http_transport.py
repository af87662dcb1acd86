"""cmaudit's own HTTP transport: chunked replies, the reply bound, abort, malformed and hostile replies,
keep-alive, and one request fewer per host."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scanner.model.host import Host
from scanner.winrm.faults import translate
from scanner.winrm.http_transport import HTTPTransport
from scanner.winrm.session import REPLY_SLACK, HostSession, SessionOptions
from scanner.winrm.transport import BadReply, NetworkError, Reply
from simulator.fleet import Fleet
from tests.support.fleet import HEALTHY_LOG, healthy_machine, new_password, scan
from tests.support.loopback import loopback, read_head, read_request
from tests.support.pypsrp_changes import needs_internal

SOAP = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>'
        + b"<x>" + b"y" * 50_000 + b"</x></s:Body></s:Envelope>")


@contextmanager
def raw_server(answer: Callable[[socket.socket], None]) -> Iterator[tuple[int, list[bytes]]]:
    """A loopback server taking one connection at a time: its request head is read and recorded (with whatever
    came with it), then `answer(conn)` replies."""
    seen: list[bytes] = []

    def handle(conn: socket.socket) -> None:
        got = read_head(conn)
        seen.append(b"\r\n\r\n".join(got) if got else b"")
        answer(conn)

    with loopback(handle, concurrent=False) as port:
        yield port, seen


def _session(port: int, **options: object) -> HostSession:
    """Basic over plain HTTP (--insecure): cmaudit's transport without a logon handshake in the way."""
    host = Host(name="sms01", address="127.0.0.1", port=port, scheme="http", auth="basic")
    session = HostSession(host, SessionOptions(username="u", password="p", insecure=True, **options))  # type: ignore[arg-type]
    assert isinstance(session.transport, HTTPTransport)
    return session


def _send(session: HostSession, body: bytes = b"<x/>", read_timeout: float = 30.0) -> bytes:
    """One envelope through the session's transport, as the session sends it."""
    return session.transport.send(body, timeouts=(10.0, read_timeout))


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
            assert _send(session) == SOAP
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

    with pytest.raises(BadReply, match="exceeds the .*-byte bound"):
        _exchange(answer)
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
                _send(session, read_timeout=600.0)
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
    """A host replying chunked is judged like its twin with Content-Length; cmaudit's own transport needs one HTTP
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
@needs_internal("selector_set")  # the lifted reading of Receive replies
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


def _ok(body: bytes = SOAP, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _exchange(reply: bytes | Callable[[socket.socket], None]) -> bytes:
    """One request against a server that answers it with `reply` (raw bytes, or a function writing the answer to
    the connection); the SOAP body or the error."""
    answer = reply if callable(reply) else lambda conn: conn.sendall(reply)
    with raw_server(answer) as (port, _seen):
        session = _session(port)
        try:
            return _send(session)
        finally:
            session.close()


@pytest.mark.parametrize("reply", [
    pytest.param(b"SSH-2.0-OpenSSH_8.9p1\r\n", id="not-http"),
    pytest.param(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", id="bad-status-code"),
    pytest.param(b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n", id="field-without-colon"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello", id="two-lengths"),
    pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n", id="bad-chunk"),
])
def test_malformed_reply_is_a_protocol_error_naming_the_host(reply: bytes) -> None:
    """Something that is not a well-formed HTTP reply ends as a one-line protocol error naming the host,
    not as a network failure or a traceback."""
    with pytest.raises(BadReply, match=r"^127\.0\.0\.1: malformed HTTP reply: [^\n]+$"):
        _exchange(reply)


def test_folded_header_line_is_refused_clearly() -> None:
    """A header continued on the next line (obs-fold, which HTTP.sys never sends) is refused as malformed."""
    with pytest.raises(BadReply, match="malformed HTTP reply"):
        _exchange(_ok(extra=b"X-Note: one\r\n two\r\n"))


def test_endless_header_is_refused_without_buffering_it() -> None:
    """A server sending a header line that never ends is refused after a bounded amount, not read for ever."""
    sent = {"bytes": 0}

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Junk: ")
        for _ in range(800):  # 50 MB if nobody stops reading
            conn.sendall(b"a" * 65536)
            sent["bytes"] += 65536

    with pytest.raises(BadReply, match="reply headers exceed"):
        _exchange(answer)
    assert sent["bytes"] < 16 * 1024 * 1024  # the client hung up long before 50 MB (socket buffers hold the rest)


def test_too_many_header_fields_are_refused() -> None:
    """A reply with thousands of header fields is refused rather than kept."""
    with pytest.raises(BadReply, match="more than 100 header fields"):
        _exchange(_ok(extra=b"".join(b"X-%d: y\r\n" % i for i in range(2000))))


def test_interim_replies_are_skipped() -> None:
    """1xx interim replies (100 Continue, 102 Processing) before the real one are read past, as HTTP/1.1
    requires of a client; the SOAP of the final reply comes back."""
    reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX-Step: 1\r\n\r\n" + _ok()
    assert _exchange(reply) == SOAP


def test_switching_protocols_is_refused() -> None:
    """A 101 Switching Protocols answer to a WinRM POST is refused clearly."""
    with pytest.raises(BadReply, match="switched protocols"):
        _exchange(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")


def test_reply_ended_by_closing_the_connection_is_read() -> None:
    """A reply with neither Content-Length nor chunks ends where the server closes the connection."""
    assert _exchange(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n\r\n" + SOAP) == SOAP


@pytest.mark.parametrize(("reply", "why"), [
    pytest.param(b"", "connection reset by the server", id="no-reply"),
    pytest.param(_ok()[:30_000], "connection closed by the server mid-reply", id="half-reply"),
])
def test_connection_closed_early_is_a_network_failure(reply: bytes, why: str) -> None:
    """A server that hangs up before or during its reply is reported as the network failure it is."""
    with pytest.raises(NetworkError) as caught:
        _exchange(reply)
    error = translate(caught.value, "sms01")
    assert error.category.value == "unreachable" and why in error.message


@pytest.mark.parametrize(("extra", "connections"), [
    pytest.param(b"", 1, id="keep-alive"),
    pytest.param(b"Connection: close\r\n", 3, id="connection-close"),
    pytest.param(b"", 3, id="bytes-after-the-reply"),
])
def test_connection_is_kept_unless_the_server_ends_it(extra: bytes, connections: int) -> None:
    """Three requests go over one connection; a reply saying `Connection: close` (or followed by stray bytes)
    makes the next request open a new one, and every request still gets its answer."""
    trailing = connections == 3 and not extra
    accepted = {"n": 0}

    def answer(conn: socket.socket) -> None:
        accepted["n"] += 1
        pending = b""
        first = True
        while True:
            if not first:
                got = read_request(conn, pending)
                if got is None:
                    return
                pending = got[1]
            first = False
            conn.sendall(_ok(extra=extra) + (b"HTTP/1.1 200 OK\r\n" if trailing else b""))
            if extra or trailing:
                return

    with raw_server(answer) as (port, _seen):
        session = _session(port)
        try:
            assert [_send(session) for _ in range(3)] == [SOAP] * 3
        finally:
            session.close()
    assert accepted["n"] == connections


def test_reply_headers_are_read_case_insensitively() -> None:
    """The session learns the server's name from a `server:` field however the server spells it."""
    with raw_server(lambda conn: conn.sendall(_ok(extra=b"sErVeR: Microsoft-HTTPAPI/2.0\r\n"))) as (port, _seen):
        session = _session(port)
        try:
            _send(session)
            assert session.last_server == "Microsoft-HTTPAPI/2.0"
        finally:
            session.close()


def test_request_head_is_what_pypsrp_sent() -> None:
    """The request carries the same fields pypsrp's transport sent: Host with the port, the user agent,
    keep-alive, the SOAP content type and the body's length."""
    with raw_server(lambda conn: conn.sendall(_ok())) as (port, seen):
        session = _session(port)
        try:
            _send(session)
        finally:
            session.close()
    head = seen[0].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head[0] == b"POST /wsman HTTP/1.1"
    fields = {line.split(b": ", 1)[0].lower(): line.split(b": ", 1)[1] for line in head[1:]}
    assert fields[b"host"] == b"127.0.0.1:%d" % port
    assert fields[b"user-agent"] == b"Python PSRP Client" and fields[b"connection"] == b"Keep-Alive"
    assert fields[b"content-type"] == b"application/soap+xml;charset=UTF-8"
    assert fields[b"content-length"] == b"4"  # b"<x/>"


@pytest.mark.network
def test_a_closed_connection_is_replaced_and_logged_on_again() -> None:
    """When the connection is gone after every WS-Man reply, each request opens a new one and logs on again
    with NTLM (HTTP.sys ties a logon to its connection), and the host is still read whole."""
    from scanner.winrm.collect import CollectOptions, collect

    password = new_password()
    with Fleet(hosts=1, password=password, machine_factory=healthy_machine, profiles=["h"]) as fleet:
        host = Host(name="sms01", address="127.0.0.1", port=fleet.hosts[0].port, scheme="http", auth="ntlm")
        session = HostSession(host, SessionOptions(username=fleet.username, password=password))
        transport = session.transport
        assert isinstance(transport, HTTPTransport)
        traced = transport.on_reply

        def close_after_soap(reply: Reply) -> None:
            traced(reply)
            if reply.status == 200 and reply.size:  # a WS-Man reply, not a logon leg
                transport.close()

        transport.on_reply = close_after_soap
        try:
            collected = collect(session, CollectOptions())
        finally:
            session.close()
        counters = fleet.hosts[0].counters
    assert collected.facts.build == "4.00.6221.1000"
    assert [blob.data for blob in collected.snapshot.logs] == [HEALTHY_LOG.encode()]
    assert counters.connections == session.requests > 1  # one connection per WS-Man request
    assert counters.requests == session.requests + 2 * counters.connections  # NTLM negotiate + authenticate each


def test_oversize_trailer_of_a_chunked_reply_is_refused() -> None:
    """A chunked reply whose trailer field runs on for megabytes is refused like an oversize head: llhttp's
    binding (httptools) joins a field's pieces in memory, quadratically, before any callback could refuse it."""
    sent = {"bytes": 0}

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"4\r\n<x/>\r\n0\r\nX-Junk: ")
        for _ in range(128):  # 8 MB of one trailer field, then the end of the reply
            conn.sendall(b"a" * 65536)
            sent["bytes"] += 65536
        conn.sendall(b"\r\n\r\n")

    with pytest.raises(BadReply):
        _exchange(answer)


def test_a_reply_in_one_byte_chunks_is_refused_before_its_framing_outgrows_the_bound() -> None:
    """Half the bound of body sent one byte per chunk is six times that on the wire and one object per byte in
    memory: the framing is bounded too, so the host fails with a clear error instead of costing megabytes."""
    probe = _session(1)
    body_bytes = probe.transport.max_reply // 2  # type: ignore[attr-defined]
    probe.close()

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"1\r\nx\r\n" * 4096
        for _ in range(body_bytes // 4096):
            conn.sendall(piece)
        conn.sendall(b"0\r\n\r\n")

    with pytest.raises(BadReply, match="framing"):
        _exchange(answer)


def test_an_encrypted_reply_cut_after_its_part_headers_says_so() -> None:
    """An encrypted reply that ends right after the octet-stream part's headers is a malformed reply saying it was
    cut short, not struct.error's "unpack_from requires a buffer of at least ... bytes"."""
    from scanner.winrm.sealing import unwrap_parts

    data = (b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=10\r\n"
            b"--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n")
    with pytest.raises(BadReply, match="cut short"):
        unwrap_parts("sms01", object(), data, b"Encrypted Boundary")


def _encrypted_part(length: bytes) -> bytes:
    return (b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + length + b"\r\n"
            b"--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n"
            + b"\x04\x00\x00\x00SIGNsealed--Encrypted Boundary--\r\n")


class _Opened:
    """A security context whose unwrap hands the sealed bytes back as they are."""

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes:
        return data


def test_an_encrypted_length_of_thousands_of_digits_is_a_malformed_reply() -> None:
    """An encrypted reply whose length field has 5,000 digits is refused as malformed, with the host's name,
    never with Python's "Exceeds the limit (4300 digits)" as the host's message."""
    from scanner.winrm.sealing import unwrap_parts

    with pytest.raises(BadReply) as refused:
        unwrap_parts("sms01", _Opened(), _encrypted_part(b"9" * 5000), b"Encrypted Boundary")
    error = translate(refused.value, "sms01")
    assert error.category.value == "protocol" and "5000 digits" in error.message and "4300" not in error.message
    assert unwrap_parts("sms01", _Opened(), _encrypted_part(b"6"), b"Encrypted Boundary") == b"sealed"


def test_a_content_length_of_thousands_of_digits_is_refused() -> None:
    """A Content-Length far past any real length is refused as a malformed or oversize reply, not turned into a
    number of thousands of digits."""
    with pytest.raises(BadReply):
        _exchange(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n")
