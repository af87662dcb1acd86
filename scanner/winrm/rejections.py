"""One table of "the password was rejected": what counts towards an account's lockout, on every platform.

A domain controller counts a failed logon (badPwdCount) whenever the credential itself is refused, whoever
reports it: the server's HTTP.sys after NTLM's AUTHENTICATE, the server's CredSSP in its TSRequest's errorCode,
Windows' SSPI on the jump box, or the KDC during a Kerberos AS exchange (MIT krb5 through GSSAPI). Every one of
those signals is a row here, and only those: a refused Kerberos ticket, a missing credential, a clock skew, a
missing SPN or a 401 before any password was sent cost the account nothing.
scanner.winrm.faults marks what matches a row as `password_rejected`, which the lockout breaker counts.

    source   code          name                          where it comes from
    http     401           HTTP 401 after the last token NTLM's AUTHENTICATE (or a Basic logon, CredSSP's public
                                                         key or credential exchange) refused
    sspi     0x8009030C    SEC_E_LOGON_DENIED            pyspnego InvalidTokenError (Windows jump box)
    sspi     0xC000006D    STATUS_LOGON_FAILURE          pyspnego InvalidCredentialError (Windows jump box), or
                                                         the server's CredSSP errorCode (requests-credssp's
                                                         NTStatusException)
    sspi     0xC000006A    STATUS_WRONG_PASSWORD         SSPI, the same refusal by another name
    krb5     24            KDC_ERR_PREAUTH_FAILED        the KDC refused the password
    krb5     31            KRB_AP_ERR_BAD_INTEGRITY      a key from a wrong password failed the check
    krb5     6             KDC_ERR_C_PRINCIPAL_UNKNOWN   the KDC does not know the user
    wsman    1326          ERROR_LOGON_FAILURE           a WS-Management fault naming a failed logon
    wsman    0x8007052E    ERROR_LOGON_FAILURE           the same as an HRESULT

SSPI codes are the signed 32-bit `winerror` pyspnego keeps in `SpnegoError.base_error` (or the `status` of
requests-credssp's NTStatusException, unsigned); krb5 codes are MIT's
com_err values (KRB5KDC_ERR_NONE + the protocol code), signed, as python-krb5 and GSSAPI's minor status give them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

KRB5_BASE = -1765328384  # ERROR_TABLE_BASE_krb5: com_err code of KDC_ERR_NONE


@dataclass(frozen=True, slots=True)
class Rejection:
    """One signal that the credential itself was refused."""

    source: str  # "http", "sspi", "krb5" or "wsman"
    code: int
    name: str
    reason: str  # what an admin reads

    @property
    def signed(self) -> int:
        """The code as a signed 32-bit number (how Windows' winerror and MIT's com_err report it)."""
        return self.code - (1 << 32) if self.code >= (1 << 31) else self.code


REJECTIONS = (
    Rejection("http", 401, "HTTP 401 after the last logon token", "the server refused the logon (HTTP 401)"),
    Rejection("sspi", 0x8009030C, "SEC_E_LOGON_DENIED", "Windows refused the logon (SEC_E_LOGON_DENIED)"),
    Rejection("sspi", 0xC000006D, "STATUS_LOGON_FAILURE",
              "Windows refused the logon: unknown user name or bad password (STATUS_LOGON_FAILURE)"),
    Rejection("sspi", 0xC000006A, "STATUS_WRONG_PASSWORD", "Windows refused the password (STATUS_WRONG_PASSWORD)"),
    Rejection("krb5", KRB5_BASE + 24, "KDC_ERR_PREAUTH_FAILED", "the KDC refused the password"),
    Rejection("krb5", KRB5_BASE + 31, "KRB_AP_ERR_BAD_INTEGRITY", "the KDC refused the password (integrity check)"),
    Rejection("krb5", KRB5_BASE + 6, "KDC_ERR_C_PRINCIPAL_UNKNOWN", "the KDC does not know the user"),
    Rejection("wsman", 1326, "ERROR_LOGON_FAILURE", "the server refused the logon (ERROR_LOGON_FAILURE)"),
    Rejection("wsman", 0x8007052E, "ERROR_LOGON_FAILURE", "the server refused the logon (ERROR_LOGON_FAILURE)"),
)
_BY_SOURCE: dict[tuple[str, int], Rejection] = {(row.source, row.signed): row for row in REJECTIONS}


def rejection(source: str, code: int | None) -> Rejection | None:
    """The row for `code` from `source` (either sign of a 32-bit code), or None."""
    if code is None:
        return None
    signed = code - (1 << 32) if code >= (1 << 31) else code
    return _BY_SOURCE.get((source, signed))


def krb5_rejects(code: int) -> bool:
    """Does this MIT com_err code (signed) mean the password was rejected?"""
    return rejection("krb5", code) is not None


def sspi_rejection(exc: BaseException) -> Rejection | None:
    """The SSPI rejection inside `exc` (pyspnego's SpnegoError around a Windows error, at any depth), or None."""
    for current in _chain(exc):
        winerror = getattr(getattr(current, "base_error", None), "winerror", None)
        if type(current).__name__ == "NTStatusException":  # requests-credssp: the server's TSRequest errorCode
            winerror = getattr(current, "status", None)
        if isinstance(winerror, int):
            found = rejection("sspi", winerror)
            if found is not None:
                return found
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
