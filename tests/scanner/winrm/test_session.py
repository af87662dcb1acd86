"""The WinRM connection cmaudit builds per host has the safe transport settings."""

from __future__ import annotations

import re
import socket
import time

import pytest

from scanner.model.errors import HostError, HostTimeout
from scanner.model.host import Host
from scanner.winrm.http_transport import HTTPTransport
from scanner.winrm.session import HostSession, SessionOptions


def _host(scheme: str, auth: str, **kw: object) -> Host:
    return Host(name="sms01", address="127.0.0.1", port=5985 if scheme == "http" else 5986, scheme=scheme,
                auth=auth, **kw)  # type: ignore[arg-type]


def _session(host: Host, **options: object) -> HostSession:
    return HostSession(host, SessionOptions(username="CORP\\svc", password="pw", **options))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scheme", "auth", "encrypted"),
    [
        pytest.param("http", "ntlm", True, id="http-ntlm"),
        pytest.param("http", "negotiate", True, id="http-negotiate"),
        pytest.param("http", "kerberos", True, id="http-kerberos"),
        pytest.param("https", "ntlm", False, id="https-ntlm"),
        pytest.param("https", "basic", False, id="https-basic"),
        pytest.param("https", "credssp", False, id="https-credssp"),
    ],
)
def test_message_encryption_on_http_only(scheme: str, auth: str, encrypted: bool) -> None:
    """Over HTTP every message is encrypted by the auth layer; over HTTPS, TLS does that job. NTLM, Negotiate,
    Kerberos and Basic go through cmaudit's own HTTP transport, CredSSP through pypsrp's requests one."""
    session = _session(_host(scheme, auth))
    try:
        assert session.transport.wrap_required is encrypted  # type: ignore[attr-defined]
        assert _verify(session) not in (False, None)  # True or a CA bundle
        assert isinstance(session.transport, HTTPTransport) is (auth != "credssp")
    finally:
        session.close()


def _verify(session: HostSession) -> object:
    return session.transport.verify  # type: ignore[attr-defined]


@pytest.mark.parametrize("transport", ["auto", "requests"])
def test_certificate_checks_follow_options(transport: str) -> None:
    """--ca-file validates against that CA; --insecure turns validation off (either transport)."""
    with_ca = _session(_host("https", "basic"), ca_file="/etc/ca.pem", transport=transport)
    insecure = _session(_host("https", "basic"), insecure=True, transport=transport)
    try:
        assert _verify(with_ca) == "/etc/ca.pem"
        assert _verify(insecure) is False
    finally:
        with_ca.close()
        insecure.close()


@pytest.mark.parametrize(
    "host",
    [
        pytest.param(_host("http", "basic"), id="basic-over-http"),
        pytest.param(_host("https", "certificate"), id="certificate-without-files"),
    ],
)
def test_unsafe_or_incomplete_setups_are_refused(host: Host) -> None:
    """Basic over plain HTTP, or certificate auth without a certificate, fail before any traffic."""
    with pytest.raises(HostError) as caught:
        _session(host)
    assert "pw" not in str(caught.value)


def test_no_request_after_the_deadline() -> None:
    """Once the host's deadline has passed the session refuses to send anything: nothing reaches the host."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    host = Host(name="sms01", address="127.0.0.1", port=listener.getsockname()[1], scheme="http", auth="ntlm")
    session = HostSession(host, SessionOptions(username="u", password="p"), deadline=time.monotonic() - 1)
    try:
        with pytest.raises(HostTimeout):
            session.wsman.receive("urn:cmaudit:any", None)  # type: ignore[arg-type]
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        session.close()
        listener.close()


def test_sessions_built_at_once_never_edit_the_namespace_registry_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two hosts' sessions built in parallel threads never run pypsrp's process-wide namespace registration at the
    same time (done together, one host could fail with "dictionary keys changed during iteration")."""
    import threading
    import xml.etree.ElementTree as ET

    register = ET.register_namespace
    state = {"inside": 0, "overlaps": 0, "held": 0}
    lock = threading.Lock()
    someone_waiting = threading.Event()
    barrier = threading.Barrier(2)

    def watched(prefix: str, uri: str) -> None:
        with lock:
            state["inside"] += 1
            if state["inside"] > 1:
                state["overlaps"] += 1
                someone_waiting.set()
            hold, state["held"] = not state["held"], 1
        if hold:  # the first call holds the registry a moment: a second builder would step in now
            someone_waiting.wait(0.5)
        register(prefix, uri)
        with lock:
            state["inside"] -= 1

    monkeypatch.setattr(ET, "register_namespace", watched)
    sessions: list[HostSession] = []

    def build(port: int) -> None:
        barrier.wait()
        sessions.append(HostSession(Host(name=f"sms{port}", address="127.0.0.1", port=port, scheme="http",
                                         auth="ntlm"), SessionOptions(username="CORP\\svc", password="pw")))

    threads = [threading.Thread(target=build, args=(port,)) for port in (5985, 5986)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for session in sessions:
        session.close()
    assert len(sessions) == 2 and state["overlaps"] == 0


_REPLY = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
          'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:RelatesTo>{relates}</a:RelatesTo>'
          '</s:Header><s:Body/></s:Envelope>')


class _Answers:
    """A transport stand-in: answers each envelope with _REPLY, naming the request's MessageID or another."""

    endpoint = "http://127.0.0.1:5985/wsman"
    negotiated_protocol = None
    password_sent = True

    def __init__(self, *, logon_finished: bool, same_id: bool) -> None:
        self.logon_finished, self.same_id = logon_finished, same_id

    def send(self, body: bytes, *, timeouts: object, read_timeout_retries: int = 0) -> bytes:
        found = re.search(rb"MessageID>([^<]+)<", body)
        relates = found.group(1).decode() if found and self.same_id else "uuid:00000000-0000-0000-0000-000000000000"
        return _REPLY.format(relates=relates).encode()

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("finished", "same_id", "proven"), [
    pytest.param(True, True, True, id="a-reply-to-our-request-after-a-finished-logon"),
    pytest.param(False, True, False, id="the-logon-never-finished"),
    pytest.param(True, False, False, id="a-reply-to-another-request"),
])
def test_only_a_reply_to_our_request_after_a_finished_logon_proves_it(finished: bool, same_id: bool,
                                                                       proven: bool) -> None:
    """The account's other hosts start (on_logon) only on a reply whose RelatesTo names the request, under a
    logon whose security context finished: a 200 to an unfinished logon or a stray reply proves nothing."""
    told: list[str] = []
    session = HostSession(_host("http", "ntlm"), SessionOptions(username="CORP\\svc", password="pw",
                                                                 on_logon=lambda: told.append("logged on")))
    session.transport = _Answers(logon_finished=finished, same_id=same_id)  # type: ignore[assignment]
    try:
        session.invoke("http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", "http://example/r", None, None, None,
                       None, 0)
    except HostError:
        assert not same_id  # the RelatesTo check refuses the stray reply as well
    assert session.proven is proven and told == (["logged on"] if proven else [])
