"""Logons against loopback listeners that misbehave: counted on the server's side, ended with a clear error."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from scanner.model.errors import HostAuthFailed
from scanner.model.host import Host
from scanner.winrm.faults import translate
from scanner.winrm.session import HostSession, SessionOptions
from tests.support.loopback import http_listener
from tests.support.ntlm import ntlm_challenge
from tests.support.scans import scan, write_inventory

pytestmark = pytest.mark.network


def _rechallenge(head: bytes) -> bytes:
    token = base64.b64encode(ntlm_challenge()).decode()
    return (f"HTTP/1.1 401 Unauthorized\r\nServer: Microsoft-HTTPAPI/2.0\r\nWWW-Authenticate: Negotiate {token}\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def test_a_listener_that_rechallenges_for_ever_gets_at_most_ten_logon_requests(tmp_path: Path) -> None:
    """A listener answering every leg with a new NTLM challenge (a broken middlebox, or a hostile server) receives
    a handful of logon requests, not thousands a second until the deadline; the scan ends the host ERROR/protocol
    (never retried, never counted as a rejected password) with a hint."""
    with http_listener(_rechallenge) as listener:
        inventory = write_inventory(tmp_path / "hosts.csv", [{"host": "sms01", "address": "127.0.0.1",
                                                               "port": str(listener.port), "transport": "http",
                                                               "auth": "ntlm"}])
        result = scan(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": "Pw-rechallenge"}, retries=2)
        logons = listener.logon_requests()
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
    with http_listener(_too_long) as listener:
        host = Host(name="sms01.lab.example", address="127.0.0.1", port=listener.port, scheme="http", auth="negotiate",
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


def _challenge_header(head: bytes) -> bytes:
    return f"WWW-Authenticate: Negotiate {base64.b64encode(ntlm_challenge()).decode()}\r\n".encode()


def _bare_401(head: bytes) -> bytes:  # no challenge to NTLM's NEGOTIATE: no password was ever sent
    return b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n"


def _close_after_challenge(head: bytes) -> bytes:  # a proxy without keep-alive in front of the listener
    return (b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n" + _challenge_header(head)
            + b"Content-Length: 0\r\n\r\n")


def _ok_at_once(head: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 0\r\n\r\n"


def _basic_only(head: bytes) -> bytes:
    return b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="WSMAN"\r\nContent-Length: 0\r\n\r\n'


def _accept_then_401(head: bytes) -> bytes:
    """The logon is accepted (challenge, then 200 to AUTHENTICATE); every SOAP request gets a bare 401."""
    authorization = [line for line in head.split(b"\r\n") if line.lower().startswith(b"authorization:")]
    if b"content-length: 0" in head.lower() and authorization:
        if b"NTLMSSP\x00\x01" in base64.b64decode(authorization[0].split(b" ")[-1]):
            return b"HTTP/1.1 401 Unauthorized\r\n" + _challenge_header(head) + b"Content-Length: 0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    return _bare_401(head)


@pytest.mark.parametrize(("answer", "category", "words", "hint"), [
    pytest.param(_bare_401, "auth", "before any password was sent", "no password was sent", id="bare-401-to-negotiate"),
    pytest.param(_close_after_challenge, "protocol", "closed the connection", "keep", id="closed-after-challenge"),
    pytest.param(_ok_at_once, "protocol", "before any credential was sent", "listener", id="200-to-negotiate"),
    pytest.param(_basic_only, "auth", "does not offer", "only Basic", id="basic-only"),
    pytest.param(_accept_then_401, "access", "accepted the logon", "Administrators group", id="accepted-then-401"),
])
def test_a_listener_that_refuses_no_password_costs_the_account_nothing(tmp_path: Path, answer, category: str,
                                                                       words: str, hint: str) -> None:
    """Listeners that never refuse a password (a bare 401 before it was sent, a connection closed after the
    challenge, a 200 to NTLM's first message, Basic only, a logon accepted then 401 to every request) end each
    host with an honest error; nothing is counted, so with --max-auth-failures 1 the account's next host is still
    tried."""
    with http_listener(answer) as first, http_listener(answer) as second:
        rows = [{"host": f"sms0{n}", "address": "127.0.0.1", "port": str(listener.port), "transport": "http",
                 "auth": "ntlm"} for n, listener in ((1, first), (2, second))]
        inventory = write_inventory(tmp_path / "hosts.csv", rows)
        result = scan(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": "Pw-nothing-refused"}, retries=0,
                      max_auth_failures=1, concurrency=1)
        tried = [first.logon_requests(), second.logon_requests()]
    hosts = sorted(result.outcome.results.hosts, key=lambda h: h.host)
    for host in hosts:
        assert host.error is not None and host.error.category.value == category, host.error
        assert words in host.error.message and hint in host.error.hint
    assert list(result.outcome.runner.breaker_counted) == [] and all(tried), tried
    assert "credentials rejected" not in result.stdout + result.stderr
