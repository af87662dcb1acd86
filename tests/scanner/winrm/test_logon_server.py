"""Logons against loopback listeners that misbehave: counted on the server's side, ended with a clear error."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scanner.model.errors import HostAuthFailed
from scanner.model.host import Host
from scanner.winrm.faults import translate
from scanner.winrm.session import HostSession, SessionOptions
from tests.support.loopback import read_request
from tests.support.ntlm import ntlm_challenge
from tests.support.scans import scan, write_inventory

pytestmark = pytest.mark.network

Answer = Callable[[bytes], bytes]  # the request head -> the raw reply


@contextmanager
def listener(answer: Answer) -> Iterator[tuple[int, list[bytes]]]:
    """A keep-alive loopback HTTP listener: every request head is recorded, then answered with `answer(head)`."""
    server = socket.create_server(("127.0.0.1", 0))
    heads: list[bytes] = []
    lock = threading.Lock()

    def serve(conn: socket.socket) -> None:
        pending = b""
        with conn:
            while True:
                request = read_request(conn, pending)
                if request is None:
                    return
                head, pending = request
                with lock:
                    heads.append(head)
                try:
                    conn.sendall(answer(head))
                except OSError:
                    return

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], heads
    finally:
        server.close()


def _logon_requests(heads: list[bytes]) -> int:
    return sum(1 for head in heads if b"\r\nauthorization:" in head.lower())


def _rechallenge(head: bytes) -> bytes:
    token = base64.b64encode(ntlm_challenge()).decode()
    return (f"HTTP/1.1 401 Unauthorized\r\nServer: Microsoft-HTTPAPI/2.0\r\nWWW-Authenticate: Negotiate {token}\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def test_a_listener_that_rechallenges_for_ever_gets_at_most_ten_logon_requests(tmp_path: Path) -> None:
    """A listener answering every leg with a new NTLM challenge (a broken middlebox, or a hostile server) receives
    a handful of logon requests, not thousands a second until the deadline; the scan ends the host ERROR/protocol
    (never retried, never counted as a rejected password) with a hint."""
    with listener(_rechallenge) as (port, heads):
        inventory = write_inventory(tmp_path / "hosts.csv", [{"host": "sms01", "address": "127.0.0.1",
                                                               "port": str(port), "transport": "http",
                                                               "auth": "ntlm"}])
        result = scan(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": "Pw-rechallenge"}, retries=2)
        logons = _logon_requests(heads)
    host = result.outcome.results.hosts[0]
    assert host.error is not None and host.error.category.value == "protocol", host.error
    assert "round trip" in host.error.message and host.error.hint
    assert 0 < logons <= 10


def _too_long(head: bytes) -> bytes:
    body = b"<h2>Bad Request - Request Too Long</h2><p>HTTP Error 400. The size of the request headers is too long.</p>"
    return (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html; charset=us-ascii\r\n"
            b"Server: Microsoft-HTTPAPI/2.0\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def test_request_too_long_on_a_negotiate_logon_is_kerberos_token_bloat() -> None:
    """HTTP.sys's 400 "Request Too Long" to a Negotiate logon is Kerberos token bloat: ERROR/auth, not counted,
    the hint naming MaxFieldLength/MaxRequestBytes (KB 2020943) or NTLM."""
    with listener(_too_long) as (port, _heads):
        host = Host(name="sms01.lab.example", address="127.0.0.1", port=port, scheme="http", auth="negotiate",
                    username="LAB\\auditor")
        session = HostSession(host, SessionOptions(username="LAB\\auditor", password="Pw-bloat"))
        try:
            with pytest.raises(Exception) as caught:
                session.wsman.receive("urn:cmaudit:any", None)  # type: ignore[arg-type]
        finally:
            session.close()
    err = translate(caught.value, host.name, target=host)
    assert isinstance(err, HostAuthFailed) and not err.password_rejected
    assert "KB 2020943" in err.hint and "MaxRequestBytes" in err.hint and "--auth ntlm" in err.hint


@pytest.mark.parametrize(("port", "named"), [pytest.param(80, True, id="port-80"),
                                             pytest.param(5985, False, id="port-5985")])
def test_a_refused_kerberos_ticket_on_port_80_names_iis_owning_the_spn(port: int, named: bool) -> None:
    """On port 80 a refused Kerberos ticket may be IIS's doing (an application pool account owning HTTP/<fqdn>
    on a site server): the hint says so there, and only there."""
    from scanner.winrm.transport import LogonRejected

    host = Host(name="sms01.lab.example", address="10.0.0.1", port=port, scheme="http", auth="kerberos")
    err = translate(LogonRejected("10.0.0.1", "401", scheme="Kerberos", mechanism="kerberos"), host.name,
                    target=host, ticket_only=True)
    assert isinstance(err, HostAuthFailed) and not err.password_rejected
    assert ("application pool" in err.hint) is named and "setspn" in err.hint
