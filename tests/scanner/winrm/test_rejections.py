"""Every way a server, Windows' SSPI or a KDC says "the password was rejected" counts towards the lockout breaker,
on every platform; everything else does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pypsrp.exceptions import WSManFaultError
from spnego.exceptions import InvalidCredentialError, InvalidTokenError, NativeError, SpnegoError

from scanner.model.errors import HostAuthFailed
from scanner.model.host import Host
from scanner.winrm.faults import translate
from scanner.winrm.rejections import REJECTIONS, rejection
from scanner.winrm.transport import LogonFailed, LogonRejected
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password, scan

NTLM_HOST = Host(name="sms01", address="10.0.0.1", port=5985, scheme="http", auth="ntlm", username="LAB\\auditor")
NEGOTIATE_HOST = Host(name="sms01.lab.example", address="10.0.0.1", port=5985, scheme="http", auth="negotiate",
                      username="auditor@LAB.EXAMPLE")


def sspi_error(winerror: int) -> SpnegoError:
    """What pyspnego raises when SSPI (a Windows jump box) fails a step with `winerror` (signed, as Windows)."""
    return SpnegoError(base_error=NativeError("The logon attempt failed", winerror=winerror),
                       context_msg="Processing security token")


class Krb5Error(Exception):
    """Stands in for python-krb5's Krb5Error (same class name, same `err_code`), so no krb5 build is needed."""

    def __init__(self, code: int) -> None:
        super().__init__(f"krb5 error {code}")
        self.err_code = code


def _in_logon(cause: BaseException) -> LogonFailed:
    try:
        raise LogonFailed("10.0.0.1", type(cause).__name__, scheme="Negotiate", cause=cause) from cause
    except LogonFailed as failed:
        return failed


def _signed(code: int) -> int:
    return code - (1 << 32) if code >= (1 << 31) else code


@pytest.mark.parametrize(("exc", "target", "kind"), [
    pytest.param(LogonRejected("10.0.0.1", "401", scheme="Negotiate", mechanism="ntlm", final=True), NTLM_HOST,
                 HostAuthFailed, id="ntlm-401-after-authenticate"),
    pytest.param(_in_logon(sspi_error(_signed(0x8009030C))), NEGOTIATE_HOST, InvalidTokenError,
                 id="SEC_E_LOGON_DENIED"),
    pytest.param(_in_logon(sspi_error(_signed(0xC000006D))), NEGOTIATE_HOST, InvalidCredentialError,
                 id="STATUS_LOGON_FAILURE"),
    pytest.param(_in_logon(sspi_error(_signed(0xC000006A))), NEGOTIATE_HOST, SpnegoError,
                 id="STATUS_WRONG_PASSWORD"),
    pytest.param(_in_logon(Krb5Error(-1765328360)), NEGOTIATE_HOST, Krb5Error, id="KDC_ERR_PREAUTH_FAILED"),
    pytest.param(_in_logon(Krb5Error(-1765328353)), NEGOTIATE_HOST, Krb5Error, id="KRB_AP_ERR_BAD_INTEGRITY"),
    pytest.param(_in_logon(Krb5Error(-1765328378)), NEGOTIATE_HOST, Krb5Error, id="KDC_ERR_C_PRINCIPAL_UNKNOWN"),
    pytest.param(WSManFaultError(1326, "sms01", "The user name or password is incorrect.", None, None, None),
                 NTLM_HOST, HostAuthFailed, id="ERROR_LOGON_FAILURE"),
    pytest.param(WSManFaultError(0x8007052E, "sms01", "Logon failure", None, None, None), NTLM_HOST,
                 HostAuthFailed, id="ERROR_LOGON_FAILURE-hresult"),
])
def test_every_rejection_counts_towards_the_lockout(exc: BaseException, target: Host, kind: type) -> None:
    """Each row of the rejection table becomes ERROR/auth with `password_rejected`, whatever raised it."""
    if isinstance(exc, LogonFailed):
        assert isinstance(exc.cause, kind)  # the exception class pyspnego (or krb5) really raises for it
    err = translate(exc, "sms01", target=target)
    assert isinstance(err, HostAuthFailed) and err.password_rejected, err
    assert err.hint and "\n" not in err.message


def test_every_row_is_tested_above() -> None:
    """The table and the tests above list the same signals (a new row needs its test)."""
    assert [row.name for row in REJECTIONS] == [
        "HTTP 401 after the last logon token", "SEC_E_LOGON_DENIED", "STATUS_LOGON_FAILURE", "STATUS_WRONG_PASSWORD",
        "KDC_ERR_PREAUTH_FAILED", "KRB_AP_ERR_BAD_INTEGRITY", "KDC_ERR_C_PRINCIPAL_UNKNOWN", "ERROR_LOGON_FAILURE",
        "ERROR_LOGON_FAILURE"]
    assert rejection("sspi", 0x8009030C) is rejection("sspi", _signed(0x8009030C)) is not None


@pytest.mark.parametrize("exc", [
    pytest.param(_in_logon(sspi_error(_signed(0x80090308))), id="SEC_E_INVALID_TOKEN"),
    pytest.param(_in_logon(InvalidTokenError(context_msg="Invalid NTLM challenge")), id="pyspnego-bad-token"),
    pytest.param(_in_logon(InvalidCredentialError(context_msg="No applicable credentials available")),
                 id="no-credential"),
    pytest.param(_in_logon(Krb5Error(-1765328377)), id="KDC_ERR_S_PRINCIPAL_UNKNOWN"),
    pytest.param(LogonRejected("10.0.0.1", "401", scheme="Negotiate", mechanism="kerberos"), id="ticket-refused"),
])
def test_what_is_not_a_rejected_password_is_not_counted(exc: BaseException) -> None:
    """A malformed token, a missing credential, a missing SPN or a refused ticket cost the account nothing."""
    assert not translate(exc, "sms01", target=NEGOTIATE_HOST).password_rejected


def test_a_bare_401_says_both_readings() -> None:
    """A non-administrator answered with a bare 401 cannot be told from a wrong password: it counts, and the hint
    names both the password and the Administrators group."""
    err = translate(LogonRejected("10.0.0.1", "401", scheme="Negotiate", mechanism="ntlm"), "sms01",
                    target=NTLM_HOST)
    assert err.password_rejected and "password" in err.hint and "Administrators group" in err.hint


@pytest.mark.network
def test_sspi_logon_denied_trips_the_breaker_like_a_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a Windows jump box SSPI refuses a wrong password itself (SEC_E_LOGON_DENIED, raised by pyspnego): the
    host is ERROR/auth, the breaker counts it, and with --max-auth-failures 1 the other hosts are not tried."""
    import spnego

    def sspi_client(*args: Any, **kwargs: Any) -> Any:
        class Denied:
            complete = False
            negotiated_protocol = None

            def step(self, in_token: bytes | None = None) -> bytes:
                raise sspi_error(_signed(0x8009030C))

        return Denied()

    monkeypatch.setattr(spnego, "client", sspi_client)
    password = new_password()
    with Fleet(hosts=3, password=password, machine_factory=healthy_machine, profiles=["h"] * 3) as fleet:
        result = scan(fleet, tmp_path, password, concurrency=1, max_auth_failures=1, retries=0)
    categories = [h.error.category.value if h.error else None for h in result.outcome.results.hosts]
    assert categories == ["auth", "auth-skipped", "auth-skipped"]
