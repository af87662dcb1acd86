"""Account checks behind the listener: Basic credentials, secrets kept out of reprs, odd tokens."""

from __future__ import annotations

import base64

import pytest

from simulator.auth import Account, basic_wrong_password, check_basic, client_sent_bindings, token_mechanism

ACCOUNT = Account.parse("LAB\\auditor", "S3cret:with:colons")


def basic(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("header", "ok"), [
    pytest.param(basic("LAB\\auditor:S3cret:with:colons"), True, id="domain-user"),
    pytest.param(basic("lab\\AUDITOR:S3cret:with:colons"), True, id="names-case-insensitive"),
    pytest.param(basic("auditor:S3cret:with:colons"), True, id="bare-user"),
    pytest.param(basic("auditor@lab.example:S3cret:with:colons"), True, id="upn"),
    pytest.param(basic("OTHER\\auditor:S3cret:with:colons"), False, id="other-domain"),
    pytest.param(basic("LAB\\auditor:s3cret:with:colons"), False, id="password-case-matters"),
    pytest.param(basic("LAB\\auditor"), False, id="no-password"),
    pytest.param("%%%not-base64", False, id="not-base64"),
    pytest.param(base64.b64encode(b"\xff\xfe:x").decode(), False, id="not-utf8"),
])
def test_basic_credentials(header, ok):
    """Basic logons accept the account's user in the forms Windows does, and only its exact password."""
    assert check_basic(header, ACCOUNT) is ok


@pytest.mark.parametrize(("header", "local_only", "counted"), [
    pytest.param(basic("LAB\\auditor:wrong"), False, True, id="wrong-password"),
    pytest.param(basic("auditor:wrong"), False, True, id="bare-user-wrong-password"),
    pytest.param(basic("LAB\\auditor:S3cret:with:colons"), False, False, id="right-password"),
    pytest.param(basic("LAB\\mallory:wrong"), False, False, id="another-account"),
    pytest.param(basic("LAB\\auditor:wrong"), True, False, id="domain-account-refused-before-the-password"),
    pytest.param("%%%", False, False, id="not-base64"),
])
def test_basic_wrong_passwords_count_for_the_account(header, local_only, counted):
    """Only a Basic logon as this account whose password was checked and wrong counts towards its lockout."""
    assert basic_wrong_password(header, ACCOUNT, local_only=local_only, machine="CM001") is counted


def test_account_repr_hides_the_password():
    """An Account printed in a log or a traceback shows the user, never the password."""
    assert "S3cret" not in repr(ACCOUNT) and "LAB\\\\auditor" in repr(ACCOUNT)


@pytest.mark.parametrize("name", [pytest.param("LAB\\a:b", id="colon"), pytest.param("LAB\\", id="empty-user"),
                                  pytest.param("LAB\\a\nb", id="newline")])
def test_unusable_user_names_are_refused(name):
    """User names that would corrupt the account file are refused up front."""
    with pytest.raises(ValueError):
        Account.parse(name, "pw")


@pytest.mark.parametrize("token", [pytest.param(b"", id="empty"), pytest.param(b"NTLMSSP\x00\x03\x00\x00\x00",
                                                                                  id="truncated-ntlm"),
                                   pytest.param(b"\x60\x82\xff\xff", id="bad-asn1")])
def test_unreadable_tokens_carry_no_channel_binding(token):
    """A token the CBT probe cannot read is treated as unbound (the acceptor then rejects it on its own)."""
    assert client_sent_bindings(token) is False


@pytest.mark.parametrize(("principal", "ok"), [
    pytest.param("LAB\\auditor", True, id="netbios"),
    pytest.param("auditor@LAB.TEST", True, id="kerberos-principal"),
    pytest.param("auditor@lab.test", True, id="upn-lower-case"),
    pytest.param("auditor@OTHER.TEST", False, id="other-realm"),
    pytest.param("someone@LAB.TEST", False, id="other-user"),
])
def test_kerberos_principals_map_to_the_account(principal, ok):
    """A Kerberos logon as user@REALM is the account LAB\\user when the realm's first label is its domain."""
    assert ACCOUNT.matches(principal) is ok


def test_ntlm_and_kerberos_tokens_are_told_apart():
    """Raw NTLM and NTLM inside SPNEGO are NTLM (what a no-NTLM policy refuses); anything else goes to Kerberos."""
    import spnego
    from spnego._spnego import NegTokenInit

    ntlm = spnego.client("LAB\\auditor", "pw", protocol="ntlm").step()
    assert ntlm is not None and ntlm.startswith(b"NTLMSSP\x00")
    wrapped = NegTokenInit(mech_types=["1.3.6.1.4.1.311.2.2.10"], mech_token=ntlm).pack()
    assert token_mechanism(ntlm) == "ntlm"
    assert token_mechanism(wrapped) == "ntlm"
    assert token_mechanism(b"\x60\x82\x02\x00\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02") == "kerberos"
