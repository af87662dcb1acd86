"""Every failure talking to a host becomes one HostError with the category and retry policy an admin expects."""

from __future__ import annotations

import ssl
import xml.etree.ElementTree as ET

import pytest
from pypsrp.exceptions import WSManFaultError

from scanner.model.errors import (
    HostAccessDenied,
    HostAuthFailed,
    HostError,
    HostProtocolError,
    HostTimeout,
    HostTLSError,
    HostUnreachable,
)
from scanner.model.host import Host
from scanner.model.records import ErrorCategory
from scanner.winrm.faults import FAULT_OPERATION_TIMEOUT, http_error_without_fault, parse_fault, translate
from scanner.winrm.transport import HTTPStatus, LogonRejected, NetworkError, TLSFailed, network_error


def _refused() -> NetworkError:
    error = network_error("10.0.0.1", ConnectionRefusedError(111, "Connection refused"), connecting=True)
    assert isinstance(error, NetworkError)
    return error


def _reset() -> NetworkError:
    error = network_error("10.0.0.1", ConnectionResetError(104, "reset"), connecting=False)
    assert isinstance(error, NetworkError)
    return error


def _rejected() -> LogonRejected:
    return LogonRejected("10.0.0.1", "Failed to authenticate the user x with ntlm", scheme="Negotiate",
                         mechanism="ntlm")


def _status(code: int, text: str = "") -> HTTPStatus:
    return HTTPStatus("10.0.0.1", code, text)


def _fault(code: int) -> WSManFaultError:
    return WSManFaultError(code, "sms01", "boom", None, None, None)


@pytest.mark.parametrize(
    ("exc", "cls", "retryable"),
    [
        pytest.param(_rejected(), HostAuthFailed, False, id="401-logon"),
        pytest.param(_status(401), HostAuthFailed, False, id="401-status"),
        pytest.param(_status(503, "busy"), HostProtocolError, True, id="503"),
        pytest.param(_status(500, "oops"), HostProtocolError, True, id="500-no-fault"),
        pytest.param(_status(404), HostUnreachable, False, id="404"),
        pytest.param(_refused(), HostUnreachable, True, id="refused"),
        pytest.param(_reset(), HostUnreachable, True, id="reset"),
        pytest.param(network_error("a", TimeoutError(), connecting=True), HostTimeout, True, id="connect-timeout"),
        pytest.param(network_error("a", TimeoutError(), connecting=False), HostTimeout, True, id="read-timeout"),
        pytest.param(TLSFailed("a", "certificate verify failed"), HostTLSError, False, id="tls"),
        pytest.param(ET.ParseError("not well-formed"), HostProtocolError, False, id="malformed-xml"),
        pytest.param(_fault(FAULT_OPERATION_TIMEOUT), HostTimeout, True, id="wsman-timeout"),
        pytest.param(_fault(5), HostAccessDenied, False, id="wsman-access-denied"),
        pytest.param(_fault(0x80070005), HostAccessDenied, False, id="wsman-access-denied-hresult"),
        pytest.param(_fault(1326), HostAuthFailed, False, id="wsman-logon-failure"),
        pytest.param(_fault(0x8007052E), HostAuthFailed, False, id="wsman-logon-failure-hresult"),
        pytest.param(_fault(0x803381A5), HostProtocolError, True, id="max-shells-per-user"),
        pytest.param(_fault(0x803381A6), HostProtocolError, True, id="max-operations"),
        pytest.param(_fault(0x803381AB), HostProtocolError, True, id="max-concurrent-users"),
        pytest.param(_fault(0x803381AC), HostAccessDenied, False, id="remote-shells-disabled"),
        pytest.param(_fault(0x803381A4), HostProtocolError, False, id="client-credssp-code-is-no-quota"),
        pytest.param(_fault(0x80338012), HostProtocolError, False, id="wsman-other"),
        pytest.param(KeyError("State"), HostProtocolError, False, id="unexpected-reply"),
        pytest.param(RuntimeError("?"), HostError, False, id="anything-else"),
    ],
)
def test_category_and_retry_policy(exc: BaseException, cls: type[HostError], retryable: bool) -> None:
    """Transient failures are retried, credentials never, and the category names the cause."""
    err = translate(exc, "sms01")
    assert type(err) is cls
    assert err.retryable is retryable
    assert err.host == "sms01" and "\n" not in err.message


def test_fault_code_is_kept() -> None:
    """The WSMan fault code survives translation so reports can show it."""
    err = translate(_fault(0x80338012), "sms01")
    assert err.fault_code == 0x80338012 and "0x80338012" in err.message
    assert err.category is ErrorCategory.PROTOCOL


def test_secrets_and_huge_text_never_reach_the_message() -> None:
    """A server echoing the password or megabytes of text yields a short line without the secret."""
    exc = _status(418, "x" * 10_000)
    err = translate(RuntimeError("pw=S3cr3t! " + "y" * 10_000), "sms01", secrets=["S3cr3t!"])
    assert "S3cr3t!" not in str(err) and len(err.message) <= 300
    assert len(translate(exc, "sms01").message) <= 300


NESTED_PRETTY = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">
  <s:Body><s:Fault>
    <s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:AccessDenied</s:Value></s:Subcode></s:Code>
    <s:Reason><s:Text xml:lang="en-US"> </s:Text></s:Reason>
    <s:Detail>
      <f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150859180" Machine="sms01">
        <f:Message>
          <f:ProviderFault provider="Shell provider" path="%systemroot%\\system32\\WsmSvc.dll">
            <f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150859180">
              <f:Message>The service is configured to not accept any remote shell requests. </f:Message>
            </f:WSManFault>
          </f:ProviderFault>
        </f:Message>
      </f:WSManFault>
    </s:Detail>
  </s:Fault></s:Body>
</s:Envelope>"""


def test_nested_fault_with_an_empty_reason_keeps_the_inner_message() -> None:
    """A pretty-printed nested provider fault whose outer texts are blank (where pypsrp finds "no reason") is
    reported with the innermost message and as remote shells disabled, with the setting in the hint."""
    from pypsrp.wsman import WSMan

    assert not (WSMan._parse_wsman_fault(NESTED_PRETTY).reason or "")  # what pypsrp alone would report
    fault = parse_fault(NESTED_PRETTY)
    assert fault is not None and fault.code == 0x803381AC and fault.subcode == "w:AccessDenied"
    err = translate(fault, "sms01")
    assert isinstance(err, HostAccessDenied) and "not accept any remote shell requests" in err.message
    assert "AllowRemoteShellAccess" in err.hint


@pytest.mark.parametrize(("username", "in_hint"), [
    pytest.param("CORP\\svc-audit", "local Administrators group", id="domain-account"),
    pytest.param("auditor", "LocalAccountTokenFilterPolicy", id="bare-local-account"),
    pytest.param(".\\auditor", "LocalAccountTokenFilterPolicy", id="dot-local-account"),
    pytest.param("SMS01\\auditor", "LocalAccountTokenFilterPolicy", id="machine-local-account"),
])
def test_access_denied_hint_fits_the_account(username: str, in_hint: str) -> None:
    """Access denied says "add to Administrators" for a domain account and names UAC's token filter for a local
    one; it is never counted as a rejected credential."""
    host = Host(name="sms01", address="10.0.0.1", port=5985, scheme="http", auth="ntlm", username=username)
    err = translate(_fault(0x80070005), "sms01", target=host)
    assert isinstance(err, HostAccessDenied) and in_hint in err.hint and not err.password_rejected


def test_basic_401_with_a_domain_account_is_not_counted_but_a_local_one_is() -> None:
    """Basic's 401 for DOMAIN\\user never reached the domain (Basic takes local accounts only): not counted by the
    breaker, with the auth methods to use instead; for a local account the 401 is a rejected password."""
    domain = Host(name="sms01", address="a", port=5986, scheme="https", auth="basic", username="CORP\\svc")
    local = Host(name="sms01", address="a", port=5986, scheme="https", auth="basic", username="auditor")
    basic = LogonRejected("a", "Failed to authenticate the user x with basic", scheme="Basic")
    refused = translate(basic, "sms01", target=domain)
    rejected = translate(basic, "sms01", target=local)
    assert isinstance(refused, HostAuthFailed) and not refused.password_rejected and "kerberos" in refused.hint
    assert isinstance(rejected, HostAuthFailed) and rejected.password_rejected


@pytest.mark.parametrize("reason", [
    pytest.param("[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version (_ssl.c:1006)", id="alert"),
    pytest.param("[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol (_ssl.c:1006)", id="server-hello-tls10"),
    pytest.param("[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol", id="eof"),
    pytest.param("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: EE certificate key too weak",
                 id="rsa-1024"),
    pytest.param("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: CA signature digest algorithm too "
                 "weak", id="sha-1"),
])
def test_legacy_handshake_failure_names_the_tls_option(reason: str) -> None:
    """What OpenSSL 3 says about a TLS 1.0-only listener or a SHA-1/RSA-1024 certificate becomes ERROR/tls saying
    the host may be a 2003/2008 server, the hint naming tls=legacy and --tls legacy; with tls=legacy already set
    the message does not suggest it again."""
    modern = Host(name="sms01", address="a", port=5986, scheme="https", auth="ntlm")
    exc = TLSFailed("a", reason, cause=ssl.SSLError(1, reason))
    err = translate(exc, "sms01", target=modern)
    assert isinstance(err, HostTLSError) and not err.retryable
    assert "2003/2008" in err.message and "--tls legacy" in err.hint
    legacy = translate(exc, "sms01", target=Host(name="sms01", address="a", port=5986, scheme="https", auth="ntlm",
                                                 tls="legacy"))
    assert isinstance(legacy, HostTLSError) and "--tls legacy" not in legacy.hint


def test_http_500_without_a_body_is_transient_and_hints_at_quotas_and_encryption() -> None:
    """A bare 500 (Windows' answer to an unencrypted message, or a service failing) is retried, and the hint names
    the quotas and AllowUnencrypted."""
    err = http_error_without_fault(_status(500), "sms01")
    assert isinstance(err, HostProtocolError) and err.retryable
    assert "AllowUnencrypted" in err.hint and "MaxShellsPerUser" in err.hint


@pytest.mark.parametrize(("exc", "rejected"), [
    pytest.param(_rejected(), True, id="401"),
    pytest.param(_fault(1326), True, id="wsman-logon-failure"),
    pytest.param(_fault(5), False, id="wsman-access-denied"),
    pytest.param(_refused(), False, id="refused"),
])
def test_only_a_rejected_password_counts_towards_lockout(exc: BaseException, rejected: bool) -> None:
    """A 401 or a logon-failure fault is a rejected password; access denied (logged on, not an admin) is not."""
    err = translate(exc, "sms01")
    assert err.password_rejected is rejected
    if not rejected and isinstance(err, HostAuthFailed):
        assert err.hint  # what to do instead of checking the password


def test_a_fault_code_of_thousands_of_digits_is_kept_as_text() -> None:
    """A fault whose Code attribute has 5,000 digits is a WS-Man fault with that text, not Python's digit limit."""
    digits = "9" * 5000
    text = NESTED_PRETTY.replace('Code="2150859180" Machine', f'Code="{digits}" Machine').replace(
        'Code="2150859180">', f'Code="{digits}">')
    fault = parse_fault(text)
    assert fault is not None and fault.code == digits
    err = translate(fault, "sms01")
    assert isinstance(err, HostAccessDenied) and "4300" not in err.message  # the w:AccessDenied subcode still says
