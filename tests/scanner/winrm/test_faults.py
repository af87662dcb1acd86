"""Every failure talking to a host becomes one HostError with the category and retry policy an admin expects."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from urllib3.exceptions import MaxRetryError, ProtocolError

from scanner.model.errors import HostAuthFailed, HostError, HostProtocolError, HostTimeout, HostUnreachable
from scanner.model.records import ErrorCategory
from scanner.winrm.faults import FAULT_OPERATION_TIMEOUT, translate


def _refused() -> requests.ConnectionError:
    reason = ConnectionRefusedError(111, "Connection refused")
    return requests.ConnectionError(MaxRetryError(None, "/wsman", reason))  # type: ignore[arg-type]


def _reset() -> requests.ConnectionError:
    return requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))


def _fault(code: int) -> WSManFaultError:
    return WSManFaultError(code, "sms01", "boom", None, None, None)


@pytest.mark.parametrize(
    ("exc", "cls", "retryable"),
    [
        pytest.param(AuthenticationError("Failed to authenticate the user x with ntlm"), HostAuthFailed, False,
                     id="401-auth"),
        pytest.param(WinRMTransportError("http", 401, ""), HostAuthFailed, False, id="401-transport"),
        pytest.param(WinRMTransportError("http", 503, "busy"), HostProtocolError, True, id="503"),
        pytest.param(WinRMTransportError("http", 500, "oops"), HostProtocolError, True, id="500-no-fault"),
        pytest.param(WinRMTransportError("http", 404, ""), HostProtocolError, False, id="404"),
        pytest.param(_refused(), HostUnreachable, True, id="refused"),
        pytest.param(_reset(), HostUnreachable, True, id="reset"),
        pytest.param(requests.exceptions.ConnectTimeout(), HostTimeout, True, id="connect-timeout"),
        pytest.param(requests.exceptions.ReadTimeout(), HostTimeout, True, id="read-timeout"),
        pytest.param(requests.exceptions.SSLError("certificate verify failed"), HostUnreachable, False, id="tls"),
        pytest.param(ET.ParseError("not well-formed"), HostProtocolError, False, id="malformed-xml"),
        pytest.param(_fault(FAULT_OPERATION_TIMEOUT), HostTimeout, True, id="wsman-timeout"),
        pytest.param(_fault(5), HostAuthFailed, False, id="wsman-access-denied"),
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
    exc = WinRMTransportError("http", 418, "x" * 10_000)
    err = translate(RuntimeError("pw=S3cr3t! " + "y" * 10_000), "sms01", secrets=["S3cr3t!"])
    assert "S3cr3t!" not in str(err) and len(err.message) <= 300
    assert len(translate(exc, "sms01").message) <= 300


@pytest.mark.parametrize(("exc", "rejected"), [
    pytest.param(AuthenticationError("Failed to authenticate the user x with ntlm"), True, id="401"),
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
