"""Kerberos failures keep their reason, get a hint an admin can act on, and only a refused password counts
towards a lockout."""

from __future__ import annotations

import pytest

from scanner.model.errors import HostAuthFailed
from scanner.winrm.faults import translate
from scanner.winrm.kerberos import describe, is_principal

krb5 = pytest.importorskip("krb5", reason="python-krb5 not installed: pip install 'cmaudit[kerberos]'")
gss_misc = pytest.importorskip("gssapi.raw.misc", reason="python-gssapi not installed")


def krb5_error(code: int) -> BaseException:
    return krb5.Krb5Error(krb5.init_context(), code)


@pytest.mark.parametrize(("code", "reason", "hint", "rejected"), [
    pytest.param(-1765328360, "password was refused", "password", True, id="preauth-failed"),
    pytest.param(-1765328378, "client not found", "user@REALM", True, id="unknown-user"),
    pytest.param(-1765328377, "server not found in Kerberos database", "setspn -S", False, id="missing-spn"),
    pytest.param(-1765328347, "clock skew", "clock", False, id="clock-skew"),
    pytest.param(-1765328352, "ticket expired", "kinit", False, id="expired"),
    pytest.param(-1765328228, "cannot reach a KDC", "port 88", False, id="kdc-down"),
    pytest.param(-1765328366, "disabled or locked out", "Active Directory", False, id="revoked"),
])
def test_krb5_codes_become_reasons_and_hints(code, reason, hint, rejected):
    """Each MIT code a jump box meets in the field maps to a reason and a hint; only what the KDC counts against
    the account (a refused password, an unknown user: scanner.winrm.rejections) is marked as a rejection."""
    assert describe(RuntimeError("not Kerberos")) is None
    try:
        try:
            raise krb5_error(code)
        except Exception as inner:  # wrapped the way pyspnego and pypsrp do
            raise RuntimeError("pypsrp wrapper") from inner
    except RuntimeError as outer:
        problem = describe(outer)
    assert problem is not None and problem.code == code
    assert reason in problem.reason and hint in problem.hint and problem.password_rejected is rejected


def test_gssapi_minor_code_is_read_through_spnego():
    """pyspnego's SpnegoError around a GSSError (unsigned minor code) is understood like the krb5 code."""
    from spnego.exceptions import SpnegoError

    wrapped = SpnegoError(base_error=gss_misc.GSSError(851968, 2529638919), context_msg="Processing security token")
    problem = describe(wrapped)
    assert problem is not None and problem.code == -1765328377 and "server not found" in problem.reason


def test_translated_kerberos_error_keeps_reason_and_hint():
    """A host's Kerberos failure is ERROR/auth with the reason in the message and the hint beside it, one
    line each, never counted as a rejected password unless the KDC said so."""
    spn_missing = translate(krb5_error(-1765328377), "sms01")
    assert isinstance(spn_missing, HostAuthFailed) and not spn_missing.password_rejected
    assert spn_missing.message.startswith("Kerberos: server not found") and "setspn" in spn_missing.hint
    assert translate(krb5_error(-1765328360), "sms01").password_rejected


def test_ticket_refused_by_the_server_is_not_a_password():
    """An HTTP 401 after a Kerberos ticket logon says the server refused the ticket; it costs the account
    nothing, whereas the same 401 after a password logon is a rejected password."""
    from scanner.winrm.transport import LogonRejected

    unknown = LogonRejected("a", "Failed to authenticate", scheme="Negotiate")
    refused = translate(unknown, "sms01", ticket_only=True)
    assert "Kerberos ticket" in refused.message and not refused.password_rejected and refused.hint
    assert translate(unknown, "sms01").password_rejected
    kerberos = LogonRejected("a", "Failed to authenticate", scheme="Negotiate", mechanism="kerberos")
    assert not translate(kerberos, "sms01").password_rejected  # the KDC already took the password


@pytest.mark.parametrize(("user", "expected"), [("svc@CORP.EXAMPLE", True), ("CORP\\svc", False), ("svc", False),
                                                 (None, False)])
def test_principal_names(user, expected):
    """Only user@REALM is a Kerberos principal (DOMAIN\\user and bare names are NTLM-style)."""
    assert is_principal(user) is expected
