"""The one place where what went wrong talking to a host becomes scanner.model.errors.HostError.

The transports raise cmaudit's own transport errors (scanner.winrm.transport), pypsrp raises WS-Management faults
and parsing errors, the security packages raise theirs inside a LogonFailed; everything above the WinRM layer
sees only HostError subclasses with a category, a `retryable` flag, whether the lockout breaker counts it
(`password_rejected`: scanner.winrm.rejections' table) and a hint an admin can act on:

  logon rejected (401 to the password's proof), or a   -> HostAuthFailed    never retried; counted as a rejected
  rejection of REJECTIONS                                                   password, except Basic with a domain
                                                                            account (never tried by WinRM) and a
                                                                            Kerberos ticket the server refused
  a 401 before any password was sent                   -> HostAuthFailed    never retried, not counted
  Kerberos (krb5 / gssapi codes)                       -> HostAuthFailed    with the reason and a hint
  logon legs past the bound, a logon broken off or     -> HostProtocolError never retried, not counted
  accepted out of order
  logged on, access denied / shells disabled / ACL,    -> HostAccessDenied  never retried, not counted
  a 401 to requests after an accepted logon
  cmaudit's own bug during the exchange (OwnBug)       -> HostInternalError never blamed on the server
  TLS handshake or certificate                         -> HostTLSError      never retried (a TLS 1.0 listener named)
  refused, reset, broken connection                    -> HostUnreachable   retried (not: DNS, no WinRM there)
  connect/read/WSMan operation timeout                 -> HostTimeout       retried
  quota faults (MaxShellsPerUser, MaxConcurrentUsers)  -> HostProtocolError retried with backoff
  HTTP 5xx without a WSMan fault                       -> HostProtocolError retried (a busy or restarting service)
  malformed XML or HTTP, any other WSMan fault         -> HostProtocolError not retried
Messages are one line, bounded, and scrubbed of any secret passed in.

Fault codes, checked against the published table (wsmerror.h / winerror.h):
  0x80338029 ERROR_WSMAN_OPERATION_TIMEDOUT        0x803381A5 ERROR_WSMAN_QUOTA_MAX_SHELLS (MaxShellsPerUser)
  0x8033803F ERROR_WSMAN_QUOTA_LIMIT               0x803381A6 ERROR_WSMAN_QUOTA_MAX_OPERATIONS
  0x80338048 ERROR_WSMAN_MAX_ENVELOPE_SIZE_EXCEEDED 0x803381A7 / 0x803381A8 ERROR_WSMAN_QUOTA_USER / _SYSTEM
  0x80338140 ERROR_WINRS_CODE_PAGE_NOT_SUPPORTED   0x803381AB ERROR_WSMAN_QUOTA_MAX_SHELLUSERS (MaxConcurrentUsers)
  5 / 0x80070005 ERROR_ACCESS_DENIED               0x803381AC ERROR_WSMAN_REMOTESHELLS_NOT_ALLOWED
  1326 / 0x8007052E ERROR_LOGON_FAILURE            (0x803381A4 is a client-side CredSSP error, never sent)
"""

from __future__ import annotations

import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pypsrp.exceptions import WinRMError, WSManFaultError

from scanner.model.errors import (
    HostAccessDenied,
    HostAuthFailed,
    HostError,
    HostInternalError,
    HostProtocolError,
    HostTimeout,
    HostTLSError,
    HostUnreachable,
)
from scanner.winrm.fault_xml import DefusedXmlException, WSManFault, code_number, parse_fault
from scanner.winrm.kerberos import describe as describe_kerberos
from scanner.winrm.kerberos import logged_on_account
from scanner.winrm.rejections import REJECTIONS, sspi_rejection
from scanner.winrm.tls import looks_legacy
from scanner.winrm.transport import (
    BadReply,
    HTTPStatus,
    LogonBroken,
    LogonError,
    LogonFailed,
    LogonRejected,
    LogonRoundTrips,
    NetworkError,
    OwnBug,
    RefusedAfterLogon,
    SchemeNotOffered,
    TLSFailed,
    TransportError,
    library_text,
)

if TYPE_CHECKING:
    from scanner.model.host import Host

__all__ = ["FAULT_CODE_PAGE", "FAULT_MAX_OPERATIONS", "FAULT_OPERATION_TIMEOUT", "WSManFault",
           "http_error_without_fault", "one_line", "parse_fault", "translate"]

MAX_MESSAGE = 300

FAULT_OPERATION_TIMEOUT = 0x80338029  # 2150858793: no output within OperationTimeout
FAULT_QUOTA_LIMIT = 0x8033803F  # 2150858815: the service is busy
FAULT_MAX_ENVELOPE = 0x80338048  # 2150858824: the reply would exceed MaxEnvelopeSize
FAULT_CODE_PAGE = 0x80338140  # 2150859072: WINRS_CODEPAGE refused
FAULT_MAX_SHELLS = 0x803381A5  # 2150859173: MaxShellsPerUser
FAULT_MAX_OPERATIONS = 0x803381A6  # 2150859174: MaxConcurrentOperationsPerUser
FAULT_QUOTA_USER = 0x803381A7  # 2150859175: the user's load quota
FAULT_QUOTA_SYSTEM = 0x803381A8  # 2150859176: the system's load quota
FAULT_MAX_SHELL_USERS = 0x803381AB  # 2150859179: MaxConcurrentUsers
FAULT_SHELLS_NOT_ALLOWED = 0x803381AC  # 2150859180: AllowRemoteShellAccess=false
FAULT_ACCESS_DENIED = 5
FAULT_ACCESS_DENIED_HRESULT = 0x80070005  # HRESULT_FROM_WIN32(5), what WinRS sends from inside the shell
ACCESS_DENIED_CODES = frozenset({FAULT_ACCESS_DENIED, FAULT_ACCESS_DENIED_HRESULT})
QUOTA_FAULTS = frozenset({FAULT_QUOTA_LIMIT, FAULT_MAX_SHELLS, FAULT_MAX_OPERATIONS, FAULT_QUOTA_USER,
                          FAULT_QUOTA_SYSTEM, FAULT_MAX_SHELL_USERS})
_TRANSIENT_HTTP = frozenset({500, 502, 503, 504})

_QUOTA_HINTS = {
    FAULT_MAX_SHELLS: "Other sessions of this account hold the host's WinRS shells (MaxShellsPerUser, 5 before "
                      "Server 2012): close them or wait for their IdleTimeout, or raise the quota on the host with "
                      "`winrm set winrm/config/winrs @{MaxShellsPerUser=\"10\"}`.",
    FAULT_MAX_SHELL_USERS: "Too many users run remote shells on the host right now (MaxConcurrentUsers): scan it "
                           "again later, or raise the quota with "
                           "`winrm set winrm/config/winrs @{MaxConcurrentUsers=\"10\"}`.",
    FAULT_MAX_OPERATIONS: "This account runs too many WinRM operations on the host at once: lower --concurrency "
                          "for hosts shared by several jump boxes, or raise MaxConcurrentOperationsPerUser with "
                          "`winrm set winrm/config/service @{MaxConcurrentOperationsPerUser=\"1500\"}`.",
}
_BUSY_HINT = "The WinRM service on the host is busy (a load quota): scan it again later."
TICKET_REFUSED_HINT = ("check that the SPN is registered on this server's computer account only (setspn -Q "
                       "HTTP/<fqdn>) and that the server's clock matches the domain's")
IIS_SPN_HINT = ("on a ConfigMgr site server IIS (management point, distribution point, WSUS) shares port 80 with "
                "WinRM 1.1: when an IIS application pool runs as a domain account that owns HTTP/<fqdn> (setspn -Q "
                "HTTP/<fqdn>), tickets for port 80 are made for that account and WinRM cannot read them; use WinRM "
                "2.0 on 5985, --spn-service WSMAN where that SPN is on the computer account, or --auth ntlm")
SINGLE_SIGN_ON_HINT = ("Windows single sign-on logs on as the account cmaudit runs as: check that it is in the host's "
                       "local Administrators group and not locked out (or its password changed since it logged on), "
                       "or give --username with a password.")
KERBEROS_ONLY_HINT = "the server refuses NTLM: use --auth kerberos (or negotiate) with a ticket or user@REALM"
BASIC_ONLY_HINT = ("the listener offers only Basic: turn Negotiate on for it (`winrm set winrm/config/service/auth "
                   "@{Negotiate=\"true\"}`), or use --auth basic over HTTPS with a local account")
NO_SCHEME_HINT = ("the reply offered no logon scheme WinRM uses: check that the inventory's port is the host's WinRM "
                  "listener (`winrm enumerate winrm/config/listener`) with nothing in between")
FIRST_LEG_HINT = ("no password was sent, so none was refused: check that the port is the host's own WinRM listener "
                  "with nothing in between, and that the domain does not refuse NTLM (Restrict NTLM: then use "
                  "--auth kerberos with a ticket or user@REALM)")
KEEP_ALIVE_HINT = ("NTLM must answer the challenge on the same connection: something between cmaudit and the host (a "
                   "proxy or load balancer) does not keep connections alive; scan the host's own listener directly")
TOKEN_BLOAT_HINT = ("The host's HTTP.sys refused the logon's headers as too long: Kerberos token bloat (an account "
                    "in many groups). Raise MaxFieldLength and MaxRequestBytes under HKLM\\SYSTEM\\"
                    "CurrentControlSet\\Services\\HTTP\\Parameters on the host and restart it (KB 2020943), or use "
                    "--auth ntlm for this host.")
ROUND_TRIPS_HINT = ("The listener (or a proxy in front of it) answered every logon leg with another challenge, which "
                    "HTTP.sys never does: check that the port is the host's own WinRM listener (`winrm enumerate "
                    "winrm/config/listener`) with nothing in between; cmaudit stopped to spare the account.")
ACCOUNT_REFUSED = frozenset({"NTStatusException"})  # the server's CredSSP refused the account (disabled, expired...)
NOTHING_TRIED = frozenset({"NoCredentialError", "InvalidCredentialError", "CredentialsExpiredError", "BadNameError",
                           "OperationNotAvailableError", "BadMechanismError"})  # pyspnego: no credential to offer


@dataclass(frozen=True, slots=True)
class _Ask:
    """What a translation may need besides the exception: the host, the account used, how it logged on."""

    host: str
    target: Host | None
    ticket_only: bool

    @property
    def user(self) -> str | None:
        return self.target.username if self.target is not None else None

    @property
    def auth(self) -> str:
        return self.target.auth if self.target is not None else ""

    @property
    def port(self) -> int | None:
        return self.target.port if self.target is not None else None


def one_line(text: str, secrets: Iterable[str] = ()) -> str:
    """Collapse to a single bounded line with every secret replaced (server text is untrusted)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def translate(exc: BaseException, host: str, *, secrets: Iterable[str] = (), ticket_only: bool = False,
              target: Host | None = None) -> HostError:
    """Map any exception raised while talking to `host` to the matching HostError subclass, with its hint.

    `ticket_only`: the logon could only have been Kerberos with a ticket (auth kerberos, or negotiate without a
    password), so an HTTP 401 means the server refused the ticket, not a password. `target`: the host with the
    account actually used, for hints that depend on it (a local account and UAC, Basic and domain accounts).
    """
    secrets = tuple(s for s in secrets if s)
    err = _translate(exc, _Ask(host, target, ticket_only))
    message = one_line(err.message, secrets)
    hint = one_line(err.hint, secrets) if err.hint else err.hint
    if message != err.message or hint != err.hint:
        err = err.again(message=message, hint=hint)
    return err


def _translate(exc: BaseException, ask: _Ask) -> HostError:
    if isinstance(exc, HostError):
        return exc
    kerberos = describe_kerberos(exc)
    if kerberos is not None:
        return HostAuthFailed(ask.host, kerberos.message(), password_rejected=kerberos.password_rejected,
                              hint=_kerberos_hint(kerberos.hint, kerberos.code, ask))
    for kind, handler in _HANDLERS:
        if isinstance(exc, kind):
            return handler(exc, ask)
    return HostError(ask.host, f"{type(exc).__name__}: {exc}")


# -- the logon ----------------------------------------------------------------------------------------------------
def _logon(exc: Any, ask: _Ask) -> HostError:
    return _LOGON[type(exc)](exc, ask)


def _rejected(exc: LogonRejected, ask: _Ask) -> HostError:
    """A bare 401 to the logon: a refused ticket when Kerberos carried it; the password (or the account) when it
    answered the password's proof (`final`); else a refusal before any password was sent, which costs nothing."""
    if ask.ticket_only or exc.mechanism == "kerberos":  # the KDC took the password (if any) before the ticket
        return _ticket_refused(ask)
    if not exc.final:
        return HostAuthFailed(ask.host, "the server refused the logon (HTTP 401) before any password was sent",
                              password_rejected=False, hint=FIRST_LEG_HINT)
    return _auth_failed(ask)


_BROKEN_HINTS = {
    "closed": KEEP_ALIVE_HINT,
    "early-accept": NO_SCHEME_HINT,
    "unfinished": "The server did not send the logon's last token (Kerberos' AP-REP, SPNEGO's mechListMIC), which "
                  "message encryption over HTTP needs: check that the port is the host's own WinRM listener, or use "
                  "HTTPS.",
}


def _broken(exc: LogonBroken, ask: _Ask) -> HostError:
    return HostProtocolError(ask.host, exc.message, hint=_BROKEN_HINTS[exc.kind])


def _refused_after_logon(exc: RefusedAfterLogon, ask: _Ask) -> HostError:
    """The password was accepted (the logon succeeded, twice): the account is not let in, nothing to count."""
    return HostAccessDenied(ask.host, exc.message, hint=_access_hint(ask.target))


def _round_trips(exc: LogonRoundTrips, ask: _Ask) -> HostError:
    return HostProtocolError(ask.host, exc.message, hint=ROUND_TRIPS_HINT)


_OFFERED_HINTS = (("kerberos", KERBEROS_ONLY_HINT), ("basic", BASIC_ONLY_HINT),
                  ("credssp", "the listener offers CredSSP only: use --auth credssp (over HTTPS), or turn Negotiate on "
                              "for the listener"))


def _not_offered(exc: SchemeNotOffered, ask: _Ask) -> HostError:
    """The server offers only schemes the chosen method cannot use: the hint follows what it does offer."""
    offered = set(exc.offered)
    hint = next((hint for scheme, hint in _OFFERED_HINTS if scheme in offered), NO_SCHEME_HINT if not offered else
                f"the listener offers {', '.join(sorted(offered))}, which a {ask.auth or 'this'} logon cannot use: "
                "turn Negotiate on for the listener (`winrm set winrm/config/service/auth @{Negotiate=\"true\"}`)")
    return HostAuthFailed(ask.host, f"the server does not offer this auth method: {exc.message}",
                          password_rejected=False, hint=hint)


def _security_refusal(exc: LogonFailed, ask: _Ask) -> HostError:
    """The security package refused: a rejected password (REJECTIONS), nothing to offer, or a broken exchange."""
    cause = exc.cause if exc.cause is not None else exc
    found = sspi_rejection(cause)
    if found is not None:
        account = _single_sign_on(ask)
        return HostAuthFailed(ask.host, f"{found.reason}{f' for {account}' if account else ''}: {library_text(cause)}",
                              hint=SINGLE_SIGN_ON_HINT if account else "Check the user name and password "
                              "(CMAUDIT_PASSWORD or the host's password_env) and that the account is not locked out.")
    return _spnego(cause, ask)


_LOGON: dict[type, Callable[[Any, _Ask], HostError]] = {
    LogonRejected: _rejected,
    LogonRoundTrips: _round_trips,
    SchemeNotOffered: _not_offered,
    LogonBroken: _broken,
    RefusedAfterLogon: _refused_after_logon,
    LogonFailed: _security_refusal,
}


def _spnego(exc: BaseException, ask: _Ask) -> HostError:
    """pyspnego's errors (building the logon's tokens, or unwrapping a reply) outside the rejection table."""
    name = type(exc).__name__
    if name in ACCOUNT_REFUSED:
        return HostAuthFailed(ask.host, f"the server refused the logon: {library_text(exc)}", password_rejected=False,
                              hint="The password was not refused: check that the account is enabled, its password not "
                                   "expired, and that it may log on to this host.")
    if name in NOTHING_TRIED:
        return HostAuthFailed(ask.host, f"authentication failed: {name}: {library_text(exc)}",
                              password_rejected=False, hint="give a user name and password, or a Kerberos ticket")
    return HostProtocolError(ask.host, f"security layer error: {name}: {library_text(exc)}")


def _auth_failed(ask: _Ask) -> HostError:
    if ask.auth == "basic" and _domain_account(ask.user):
        # Basic is checked against local accounts only: the domain never saw this password, no lockout risk
        return HostAuthFailed(
            ask.host, f"Basic logon refused for the domain account {ask.user} (WinRM's Basic takes local "
            "accounts only)", password_rejected=False,
            hint="Use ntlm, negotiate or kerberos for a domain account (inventory `auth`, or --auth), or a local "
                 "account with Basic over HTTPS.")
    account = _single_sign_on(ask)
    if account:
        return HostAuthFailed(ask.host, f"the logged-on account {account} was refused (HTTP 401)",
                              hint=SINGLE_SIGN_ON_HINT)
    return HostAuthFailed(ask.host, "credentials rejected (HTTP 401)", hint=_password_hint(ask) + ".")


def _single_sign_on(ask: _Ask) -> str | None:
    """The account a Windows single sign-on logged on as (negotiate or kerberos with no user name), else None.

    Through SSPI it is NTLM where Kerberos cannot work, with that account's own secret: its refusals count
    towards the lockout breaker like a password's (scanner.winrm.kerberos.ticket_only)."""
    if ask.user or ask.auth not in ("negotiate", "kerberos"):
        return None
    return logged_on_account() or "the account cmaudit runs as"


def _password_hint(ask: _Ask) -> str:
    """Both readings of a rejected logon: the password, or an account WinRM does not admit (not an admin)."""
    ntlm = ask.auth == "ntlm" or (ask.auth == "negotiate" and not _kerberos_name(ask.user))
    return ("Check the user name and password (CMAUDIT_PASSWORD or the host's password_env) and that the account is "
            "not locked out; a 401 can also mean the account may not use WinRM on that host (not in its local "
            "Administrators group)"
            + ("" if not ntlm else ", or that the domain refuses NTLM (Restrict NTLM): then use --auth kerberos "
               "with a ticket or user@REALM"))


def _ticket_refused(ask: _Ask) -> HostError:
    hint = TICKET_REFUSED_HINT + (f"; {IIS_SPN_HINT}" if ask.port == 80 else "")
    return HostAuthFailed(ask.host, "the server refused the Kerberos ticket (HTTP 401)", password_rejected=False,
                          hint=hint)


def _kerberos_hint(hint: str, code: int | None, ask: _Ask) -> str:
    """A Kerberos problem's hint; on port 80 a ticket made for another account may be IIS's doing."""
    if ask.port == 80 and code == -1765328349:  # KRB_AP_ERR_NOT_US: the ticket is for another account
        return f"{hint}; {IIS_SPN_HINT}"
    return hint


def _domain_account(user: str | None) -> bool:
    if not user:
        return False
    domain, sep, _ = user.partition("\\")
    return "@" in user or (bool(sep) and domain not in ("", "."))


def _kerberos_name(user: str | None) -> bool:
    """user@REALM: negotiate tries Kerberos with it; DOMAIN\\user (or none) means NTLM there."""
    return bool(user) and "@" in (user or "")


# -- HTTP status ---------------------------------------------------------------------------------------------------
def _http(exc: HTTPStatus, ask: _Ask) -> HostError:
    if exc.during_logon and exc.status == 400 and ask.auth in ("negotiate", "kerberos"):
        return HostAuthFailed(ask.host, f"HTTP 400 to the {ask.auth} logon: the request headers are too long for "
                                        "the host", password_rejected=False, hint=TOKEN_BLOAT_HINT)
    return _http_status(exc.status, exc.text, exc.server, ask)


def _http_status(code: int, text: str, server: str | None, ask: _Ask) -> HostError:
    """An HTTP error without a WS-Management fault in its body."""
    if code == 401:
        return _auth_failed(ask)
    by = f" from {server}" if server else ""
    if code == 404:
        return _not_found(by, server, ask)
    if code in _TRANSIENT_HTTP and "Envelope" in text[:500]:
        # a SOAP reply too broken to parse (not an error page of a busy service): like any malformed XML
        return HostProtocolError(ask.host, f"HTTP {code}{by} with malformed XML in its body")
    if code in _TRANSIENT_HTTP:
        detail = "without a WS-Management fault" if not text.strip() else "with an error page"
        return HostProtocolError(
            ask.host, f"HTTP {code}{by} {detail}", retryable=True,
            hint="The WinRM service failed without saying why: often a quota (MaxShellsPerUser, MaxConcurrentUsers), "
                 "a restarting service, or an unencrypted message it refused (AllowUnencrypted=false); see the "
                 "host's WinRM event log.")
    return HostProtocolError(ask.host, f"HTTP {code}{by} from the WinRM service")


def _not_found(by: str, server: str | None, ask: _Ask) -> HostError:
    port = f"port {ask.port}" if ask.port is not None else "the port"
    if server and "IIS" in server.upper():
        return HostUnreachable(
            ask.host, f"HTTP 404{by}: {port} is answered by IIS, not by a WinRM listener", retryable=False,
            hint="WinRM 1.1 listens on 80/443 (beside IIS only if configured so) and 2.0 on 5985/5986: run "
                 "`winrm enumerate winrm/config/listener` on the host and give the listener's port in the inventory.")
    return HostUnreachable(ask.host, f"HTTP 404{by}: no WinRM listener at /wsman on {port}", retryable=False,
                           hint="Check the inventory's port against `winrm enumerate winrm/config/listener` on the "
                                "host (80/443 for WinRM 1.1, 5985/5986 for 2.0).")


def http_error_without_fault(exc: HTTPStatus, host: str, *, server: str | None = None,
                             target: Host | None = None) -> HostError | None:
    """An HTTP error whose body is not a SOAP fault (an IIS/HTTP.sys error page), else None.

    An XML-ish body would otherwise be read as a fault and lose the status code (an HTML 503 page becoming a
    fault with no code), so the session asks here first.
    """
    if "Fault" in exc.text and "Envelope" in exc.text:
        return None
    return _http_status(exc.status, exc.text, server or exc.server, _Ask(host, target, False))


# -- the network ---------------------------------------------------------------------------------------------------
_NETWORK: dict[str, Callable[[NetworkError, str], HostError]] = {
    "refused": lambda exc, host: HostUnreachable(host, "connection refused"),
    "reset": lambda exc, host: HostUnreachable(host, "connection reset by the server"),
    "closed-mid-reply": lambda exc, host: HostUnreachable(host, "connection closed by the server mid-reply"),
    "dns": lambda exc, host: HostUnreachable(host, "name does not resolve", retryable=False,
                                             hint="Check the host name in the inventory, or give its IP address in "
                                                  "the `address` column (ansible_host)."),
    "connect-timeout": lambda exc, host: HostTimeout(host, "connect timed out"),
    "read-timeout": lambda exc, host: HostTimeout(host, "read timed out"),
    "timeout": lambda exc, host: HostTimeout(host, "connection timed out"),
    "other": lambda exc, host: HostUnreachable(host, f"connection failed: {exc.cause or exc.message}"),
}


def _network(exc: NetworkError, ask: _Ask) -> HostError:
    return _NETWORK[exc.kind](exc, ask.host)


def _tls(exc: TLSFailed, ask: _Ask) -> HostError:
    """TLS failures are never retried; a modern handshake that reads like a TLS 1.0-only listener says so."""
    root = exc.cause if exc.cause is not None else exc
    text = str(getattr(root, "verify_message", "") or getattr(root, "reason", "") or root or exc.message)
    legacy = ask.target is not None and ask.target.tls == "legacy"
    if not legacy and looks_legacy(f"{root} {text}"):
        return HostTLSError(
            ask.host, f"TLS handshake failed ({text}): the host may be a Server 2003/2008 listener that speaks only "
            "TLS 1.0 with a SHA-1 / RSA-1024 certificate (or the port is not an HTTPS listener)",
            hint="If it is a 2003/2008 server, set `tls` to `legacy` for this host in the inventory (CSV column "
                 "`tls`, Ansible `cmaudit_tls`) or scan with --tls legacy; cmaudit never lowers TLS on its own.")
    if isinstance(root, ssl.SSLCertVerificationError):
        return HostTLSError(ask.host, f"the host's certificate is not trusted: {text}",
                            hint="Give the CA that issued the host's certificate with --ca-file, and check that the "
                                 "certificate is in date and names the address in the inventory.")
    where = f" on port {ask.port}" if ask.port else ""
    return HostTLSError(ask.host, f"TLS handshake failed{' with legacy TLS' if legacy else ''}: {text}",
                        hint=f"Check that the inventory's port{where} is the host's HTTPS listener "
                             "(`winrm enumerate winrm/config/listener`) and that its certificate is valid; "
                             "--ca-file gives the CA that issued it.")


def _bad_reply(exc: BadReply, ask: _Ask) -> HostError:
    return HostProtocolError(ask.host, exc.message)


def _transport(exc: TransportError, ask: _Ask) -> HostError:
    return HostUnreachable(ask.host, exc.message)


# -- WS-Management faults ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _FaultText:
    ask: _Ask
    code: int | None
    shown: str
    reason: str


def _fault(exc: WSManFaultError, ask: _Ask) -> HostError:
    number = code_number(str(exc.code)) if exc.code is not None else None
    code = number if isinstance(number, int) else None
    subcode = getattr(exc, "subcode", None) or (str(exc.code) if code is None and exc.code else None)
    shown = f"0x{code:08X}" if code is not None and code > 0xFFFF else str(code)
    fault = _FaultText(ask, code, shown, exc.reason or "no reason given")
    for codes, with_subcode, build in _FAULT_RULES:
        if code in codes or (with_subcode is not None and subcode == with_subcode):
            return build(fault)
    return HostProtocolError(ask.host, f"WSMan fault {shown}: {fault.reason}", fault_code=code)


def _access_hint(target: Host | None) -> str:
    if _is_local_account(target):
        return ("UAC gives a local administrator only a filtered token over the network: use a domain account "
                "that is in the host's local Administrators group, or set LocalAccountTokenFilterPolicy=1 "
                "(DWORD, HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System) on the host.")
    return ("Add the account to the local Administrators group on the host (or grant it Execute in WinRM's "
            "RootSDDL: `winrm configSDDL default`); WinRM admits administrators only by default.")


def _is_local_account(target: Host | None) -> bool:
    """`user`, `.\\user` or `HOST\\user`: an account of the host itself, not of a domain."""
    if target is None or not target.username:
        return False
    user = target.username
    domain, sep, _ = user.partition("\\")
    machine = target.name.split(".")[0].upper()
    return "@" not in user and (not sep or domain in (".", "") or domain.upper() == machine)


def _denied(f: _FaultText) -> HostError:
    return HostAccessDenied(f.ask.host, f"logged on, but the WinRM service denied access ({f.shown}): {f.reason}",
                            fault_code=f.code, hint=_access_hint(f.ask.target))


def _shells_off(f: _FaultText) -> HostError:
    return HostAccessDenied(
        f.ask.host, f"remote shells are disabled on the host (AllowRemoteShellAccess=false, {f.shown}): {f.reason}",
        fault_code=f.code,
        hint="Allow remote shells on the host: `winrm set winrm/config/winrs @{AllowRemoteShellAccess=\"true\"}`, "
             "or the GPO Windows Components > Windows Remote Shell > Allow Remote Shell Access.")


def _logon_fault(f: _FaultText) -> HostError:
    return _auth_failed(f.ask).again(message=f"logon failure ({f.shown}): {f.reason}")


def _quota(f: _FaultText) -> HostError:
    return HostProtocolError(f.ask.host, f"WinRM quota reached ({f.shown}): {f.reason}", fault_code=f.code,
                             retryable=True, hint=_QUOTA_HINTS.get(f.code or 0, _BUSY_HINT))


def _envelope(f: _FaultText) -> HostError:
    return HostProtocolError(f.ask.host, f"the reply would exceed the host's MaxEnvelopeSize ({f.shown}): {f.reason}",
                             fault_code=f.code,
                             hint="Check MaxEnvelopeSizekb on the host (`winrm get winrm/config`; 150 by default "
                                  "before Server 2012): cmaudit asks for 150 KB replies.")


def _code_page(f: _FaultText) -> HostError:
    return HostProtocolError(f.ask.host, f"the host refused the shell's code page ({f.shown}): {f.reason}",
                             fault_code=f.code,
                             hint="The host refuses both UTF-8 and the OEM code page 437 for WinRS shells: check "
                                  "its system locale and the WinRM service.")


def _operation_timeout(f: _FaultText) -> HostError:
    return HostTimeout(f.ask.host, "WSMan operation timed out", fault_code=f.code)


LOGON_FAILURE_CODES = frozenset(row.code for row in REJECTIONS if row.source == "wsman")
# (codes, subcode, what it is), first match wins: the order is the table a reviewer checks
_FAULT_RULES: tuple[tuple[frozenset[int], str | None, Callable[[_FaultText], HostError]], ...] = (
    (frozenset({FAULT_OPERATION_TIMEOUT}), None, _operation_timeout),
    (frozenset({FAULT_SHELLS_NOT_ALLOWED}), None, _shells_off),
    (ACCESS_DENIED_CODES, "w:AccessDenied", _denied),
    (LOGON_FAILURE_CODES, None, _logon_fault),
    (QUOTA_FAULTS, None, _quota),
    (frozenset({FAULT_MAX_ENVELOPE}), None, _envelope),
    (frozenset({FAULT_CODE_PAGE}), None, _code_page),
)


# -- everything else -----------------------------------------------------------------------------------------------
def _unexpected(exc: BaseException, ask: _Ask) -> HostError:
    # pypsrp tripping over a reply it did not expect (missing element, bad base64, ...)
    return HostProtocolError(ask.host, f"unexpected reply: {type(exc).__name__}: {exc}")


_HANDLERS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Callable[[Any, _Ask], HostError]],
                 ...] = (
    (LogonError, _logon),
    (OwnBug, lambda exc, ask: HostInternalError(ask.host, exc.message)),
    (HTTPStatus, _http),
    (NetworkError, _network),
    (TLSFailed, _tls),
    (BadReply, _bad_reply),
    (TransportError, _transport),
    (WSManFaultError, _fault),
    (DefusedXmlException, lambda exc, ask: HostProtocolError(ask.host, "hostile XML in the reply refused: "
                                                                       f"{type(exc).__name__}")),
    (ET.ParseError, lambda exc, ask: HostProtocolError(ask.host, f"malformed XML in the reply: {exc}")),
    (WinRMError, lambda exc, ask: HostProtocolError(ask.host, f"WinRM error: {exc}")),
    (TimeoutError, lambda exc, ask: HostTimeout(ask.host, "timed out")),
    (ConnectionRefusedError, lambda exc, ask: HostUnreachable(ask.host, "connection refused")),
    (ssl.SSLError, lambda exc, ask: _tls(TLSFailed(ask.host, str(exc), cause=exc), ask)),
    (ConnectionError, lambda exc, ask: HostUnreachable(ask.host, f"connection failed: {exc}")),
    (OSError, lambda exc, ask: HostUnreachable(ask.host, f"network error: {exc}")),
    ((KeyError, IndexError, AttributeError, TypeError, ValueError, UnicodeError), _unexpected),
)


def _spnego_first(handlers: tuple[Any, ...]) -> tuple[Any, ...]:
    """pyspnego's SpnegoError (a security package refusing outside the logon) goes before the generic rows."""
    try:
        from spnego.exceptions import SpnegoError
    except ImportError:  # pragma: no cover - pyspnego is a dependency of pypsrp
        return handlers
    return ((SpnegoError, _spnego_or_rejection), *handlers)


def _spnego_or_rejection(exc: BaseException, ask: _Ask) -> HostError:
    return _security_refusal(LogonFailed(ask.host, type(exc).__name__, scheme="", cause=exc), ask)


_HANDLERS = _spnego_first(_HANDLERS)
