"""pypsrp's requests transport behind cmaudit's seam: requests', urllib3's and pypsrp's exceptions come out as
cmaudit's transport errors, and those as the HostErrors an admin expects."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError
from requests_credssp.exceptions import AuthenticationException as CredSSPRefused
from requests_credssp.exceptions import NTStatusException
from spnego.exceptions import NativeError, SpnegoError
from urllib3.exceptions import MaxRetryError, NameResolutionError, ProtocolError

from scanner.model.errors import HostAuthFailed, HostProtocolError, HostTimeout, HostTLSError, HostUnreachable
from scanner.model.host import Host
from scanner.winrm.faults import translate
from scanner.winrm.requests_transport import RequestsTransport
from scanner.winrm.transport import HTTPStatus, LogonRejected, NetworkError, TLSFailed, TransportError


class FakePypsrpTransport:
    """pypsrp's _TransportHTTP as far as the adapter uses it; `send` raises what the test gives it."""

    endpoint = "https://sms01:5986/wsman"
    wrap_required = False
    cert_validation = True
    auth = "credssp"

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.session: Any = None

    def _build_session(self) -> requests.Session:
        return requests.Session()

    def send(self, message: bytes, *, retries_on_read_timeout: int = 0, timeout: Any = None) -> bytes:
        raise self.error

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def _through(error: BaseException) -> BaseException:
    transport = RequestsTransport(FakePypsrpTransport(error), address="10.0.0.1", max_reply=1000)
    try:
        with pytest.raises(BaseException) as raised:
            transport.send(b"<x/>", timeouts=(1.0, 1.0))
    finally:
        transport.close()
    return raised.value


def _refused() -> requests.ConnectionError:
    return requests.ConnectionError(MaxRetryError(None, "/wsman", ConnectionRefusedError(111, "refused")))  # type: ignore[arg-type]


def _dns() -> requests.ConnectionError:
    import socket

    reason = NameResolutionError("sms01", None, socket.gaierror(-2, "Name or service not known"))  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/wsman", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(("error", "seam", "host_error", "words"), [
    pytest.param(AuthenticationError("Failed to authenticate the user x with credssp"), LogonRejected,
                 HostAuthFailed, "credentials rejected", id="401"),
    pytest.param(WinRMTransportError("http", 503, "busy"), HTTPStatus, HostProtocolError, "HTTP 503", id="503"),
    pytest.param(_refused(), NetworkError, HostUnreachable, "connection refused", id="refused"),
    pytest.param(requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))),
                 NetworkError, HostUnreachable, "reset by the server", id="reset"),
    pytest.param(_dns(), NetworkError, HostUnreachable, "does not resolve", id="dns"),
    pytest.param(requests.exceptions.ConnectTimeout(), NetworkError, HostTimeout, "connect timed out",
                 id="connect-timeout"),
    pytest.param(requests.exceptions.ReadTimeout(), NetworkError, HostTimeout, "read timed out", id="read-timeout"),
    pytest.param(requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed")),
                 TLSFailed, HostTLSError, "not trusted", id="tls"),
    pytest.param(requests.exceptions.ChunkedEncodingError(), NetworkError, HostUnreachable, "mid-reply",
                 id="chunked"),
    pytest.param(requests.exceptions.RetryError(), HTTPStatus, HostProtocolError, "HTTP 503", id="retries"),
])
def test_requests_exceptions_become_cmaudits_own(error: BaseException, seam: type[TransportError],
                                                 host_error: type, words: str) -> None:
    """What requests, urllib3 and pypsrp raise leaves the adapter as a transport error of cmaudit's, which
    translates to the category and wording of cmaudit's own transport."""
    raised = _through(error)
    assert type(raised) is seam and raised.__cause__ is error
    translated = translate(raised, "sms01")
    assert type(translated) is host_error and words in translated.message


def test_an_error_that_is_not_the_networks_passes_unchanged() -> None:
    """A bug below (a TypeError in a library) is not dressed up as a network failure."""
    error = TypeError("unexpected keyword argument")
    assert _through(error) is error


CREDSSP_HOST = Host(name="sms01", address="10.0.0.1", port=5986, scheme="https", auth="credssp",
                    username="LAB\\auditor")


def _nt_status(status: int) -> NTStatusException:
    """What requests-credssp raises when the server's TSRequest carries an NTSTATUS (CredSSP v3 and later)."""
    try:
        try:
            raise SpnegoError(base_error=NativeError("Received NTStatus in TSRequest from acceptor", winerror=status),
                              context_msg="Public key exchange")
        except SpnegoError as inner:
            raise NTStatusException(status, str(inner)) from inner
    except NTStatusException as outer:
        return outer


def _no_token_after(step: str) -> CredSSPRefused:
    """What requests-credssp raises for a bare 401 after the CredSSP leg named `step`."""
    return CredSSPRefused(f"Server did not response with a CredSSP token after step {step} - actual 'Negotiate'")


@pytest.mark.parametrize(("error", "category", "counted"), [
    pytest.param(_nt_status(0xC000006D), "auth", True, id="STATUS_LOGON_FAILURE"),
    pytest.param(_no_token_after("Public key exchange"), "auth", True, id="401-to-the-password-proof"),
    pytest.param(_no_token_after("Credential exchange"), "auth", True, id="401-to-the-credentials"),
    pytest.param(_no_token_after("Authentication 1"), "auth", False, id="401-to-ntlm-negotiate"),
    pytest.param(_no_token_after("TLS Handshake"), "auth", False, id="401-to-the-tls-handshake"),
    pytest.param(_nt_status(0xC0000072), "auth", False, id="STATUS_ACCOUNT_DISABLED"),
    pytest.param(CredSSPRefused("The server did not response CredSSP being an available authentication method - "
                                "actual: 'Negotiate, Kerberos'"), "auth", False, id="credssp-not-offered"),
    pytest.param(AuthenticationError("The server did not response with one of the following authentication methods "
                                     "Negotiate, Kerberos, NTLM - actual: 'Basic realm=\"WSMAN\"'"), "auth", False,
                 id="negotiate-not-offered"),
])
def test_credssp_rejections_count_only_when_the_password_was_refused(error: BaseException, category: str,
                                                                     counted: bool) -> None:
    """A wrong CredSSP password (the server's STATUS_LOGON_FAILURE, or a bare 401 to the leg carrying the password's
    proof) is ERROR/auth and counts towards the lockout; a 401 to an earlier leg, a refused account or a scheme not
    offered is ERROR/auth that costs the account nothing."""
    err = translate(_through(error), "sms01", target=CREDSSP_HOST)
    assert err.category.value == category and err.password_rejected is counted, err
    assert err.hint and "\n" not in err.message
