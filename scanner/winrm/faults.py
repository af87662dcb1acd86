"""The one place pypsrp / requests / pyspnego exceptions become scanner.model.errors.HostError.

Everything above the WinRM layer (collection, the runner, reports) sees only HostError subclasses with a
category, a `retryable` flag, whether the lockout breaker counts it, and a hint an admin can act on:
  401 / rejected credentials           -> HostAuthFailed    never retried; counted by the breaker only when a
                                                             password was rejected (not Basic with a domain
                                                             account, which WinRM never tries, nor a Kerberos
                                                             ticket a server refused, nor a missing SPN)
  Kerberos (krb5 / gssapi codes)       -> HostAuthFailed    with the reason and a hint (setspn, clock, kinit)
  logged on, access denied / remote shells disabled / ACL -> HostAccessDenied  never retried, not counted
  TLS handshake or certificate          -> HostTLSError      never retried (a TLS 1.0-only listener is named)
  refused, reset, broken reply          -> HostUnreachable   retried (not: DNS, no WinRM at that port)
  connect/read/WSMan operation timeout  -> HostTimeout       retried
  quota faults (MaxShellsPerUser, MaxConcurrentUsers, ...)  -> HostProtocolError retried with backoff
  HTTP 5xx without a WSMan fault        -> HostProtocolError retried (a busy or restarting WinRM service)
  malformed XML, any other WSMan fault  -> HostProtocolError not retried
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

import errno
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import TYPE_CHECKING

import requests
from defusedxml import ElementTree as SafeET
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError

from scanner.model.errors import (
    HostAccessDenied,
    HostAuthFailed,
    HostError,
    HostProtocolError,
    HostTimeout,
    HostTLSError,
    HostUnreachable,
)
from scanner.winrm.kerberos import describe as describe_kerberos
from scanner.winrm.kerberos import logged_on_account
from scanner.winrm.tls import looks_legacy

if TYPE_CHECKING:
    from scanner.model.host import Host

try:  # pyspnego is a dependency of pypsrp; guard anyway so a packaging change cannot break imports
    from spnego.exceptions import SpnegoError
except ImportError:  # pragma: no cover
    SpnegoError = ()  # type: ignore[assignment,misc]

try:
    from defusedxml import DefusedXmlException
except ImportError:  # pragma: no cover
    DefusedXmlException = ()  # type: ignore[assignment,misc]

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
FAULT_LOGON_FAILURE = 1326
FAULT_LOGON_FAILURE_HRESULT = 0x8007052E
ACCESS_DENIED_CODES = frozenset({FAULT_ACCESS_DENIED, FAULT_ACCESS_DENIED_HRESULT})
LOGON_FAILURE_CODES = frozenset({FAULT_LOGON_FAILURE, FAULT_LOGON_FAILURE_HRESULT})
QUOTA_FAULTS = frozenset({FAULT_QUOTA_LIMIT, FAULT_MAX_SHELLS, FAULT_MAX_OPERATIONS, FAULT_QUOTA_USER,
                          FAULT_QUOTA_SYSTEM, FAULT_MAX_SHELL_USERS})

_TRANSIENT_HTTP = frozenset({500, 502, 503, 504})
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})
_NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "wmi": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError",
}

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


class WSManFault(WSManFaultError):
    """pypsrp's WSManFaultError with what its parser drops: the subcode, and the reason a provider nests in
    f:Message > f:ProviderFault > f:WSManFault > f:Message (pypsrp keeps only the outer, often empty, text)."""

    def __init__(self, code: int | str | None, machine: str | None, reason: str | None, provider: str | None,
                 provider_path: str | None, provider_fault: str | None, subcode: str | None = None) -> None:
        super().__init__(code, machine, reason, provider, provider_path, provider_fault)
        self.subcode = subcode


def parse_fault(text: str) -> WSManFault | None:
    """The SOAP fault in a reply body (None when it holds none). The reason is the innermost message text,
    so a nested provider fault is not reported as "no reason given"."""
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        return None
    fault = root.find("s:Body/s:Fault", _NS)
    if fault is None:
        return None
    subcode_el = fault.find("s:Code/s:Subcode/s:Value", _NS)
    code_el = fault.find("s:Code/s:Value", _NS)
    subcode = (subcode_el.text or "").strip() if subcode_el is not None else None
    reason_el = fault.find("s:Reason/s:Text", _NS)
    reason = (reason_el.text or "").strip() if reason_el is not None else ""
    code: int | str | None = None
    machine = provider = provider_path = provider_fault = None
    detail = fault.find("s:Detail", _NS)
    texts: list[str] = []
    if detail is not None:
        wsman = detail.find("f:WSManFault", _NS)
        if wsman is not None:
            machine = wsman.get("Machine")
            codes = [el.get("Code") or "" for el in wsman.iter(f"{{{_NS['f']}}}WSManFault")]
            code = next((_int(c) for c in codes if c), None)
            for el in wsman.iter():
                if el.tag in (f"{{{_NS['f']}}}Message", f"{{{_NS['f']}}}ProviderFault") and (el.text or "").strip():
                    texts.append((el.text or "").strip())
                if el.tag == f"{{{_NS['f']}}}ProviderFault" and provider is None:
                    provider, provider_path = el.get("provider"), el.get("path")
                    provider_fault = (el.text or "").strip() or None
        wmi_code = detail.find("wmi:MSFT_WmiError/wmi:error_Code", _NS)  # WinRM 3.0+ detail form
        if code is None and wmi_code is not None:
            code = _int(wmi_code.text or "")
        wmi_message = detail.find("wmi:MSFT_WmiError/wmi:Message", _NS)
        if wmi_message is not None and (wmi_message.text or "").strip():
            texts.append((wmi_message.text or "").strip())
    if code is None:
        code = subcode or ((code_el.text or "").strip() if code_el is not None else None)
    best = texts[-1] if texts else reason
    return WSManFault(code, machine, best or None, provider, provider_path, provider_fault, subcode)


def _int(text: str) -> int | str:
    text = text.strip()
    return int(text) if text.isdigit() else text


def one_line(text: str, secrets: Iterable[str] = ()) -> str:
    """Collapse to a single bounded line with every secret replaced (server text is untrusted)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost cause: requests wraps urllib3 which wraps the socket error."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            # urllib3 keeps the socket error in .reason (MaxRetryError) or in args (ProtocolError)
            reason = getattr(current, "reason", None)
            if isinstance(reason, BaseException):
                nxt = reason
            else:
                nxt = next((a for a in getattr(current, "args", ()) if isinstance(a, BaseException)), None)
        if nxt is None:
            break
        current = nxt
    return current


# -- hints that depend on the host --------------------------------------------------------------------------

def _is_local_account(target: Host | None) -> bool:
    """`user`, `.\\user` or `HOST\\user`: an account of the host itself, not of a domain."""
    if target is None or not target.username:
        return False
    user = target.username
    domain, sep, _ = user.partition("\\")
    machine = target.name.split(".")[0].upper()
    return "@" not in user and (not sep or domain in (".", "") or domain.upper() == machine)


def _domain_account(user: str | None) -> bool:
    if not user:
        return False
    domain, sep, _ = user.partition("\\")
    return "@" in user or (bool(sep) and domain not in ("", "."))


def _kerberos_name(user: str | None) -> bool:
    """user@REALM: negotiate tries Kerberos with it; DOMAIN\\user (or none) means NTLM there."""
    return bool(user) and "@" in (user or "")


def _access_hint(target: Host | None) -> str:
    if _is_local_account(target):
        return ("UAC gives a local administrator only a filtered token over the network: use a domain account "
                "that is in the host's local Administrators group, or set LocalAccountTokenFilterPolicy=1 "
                "(DWORD, HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System) on the host.")
    return ("Add the account to the local Administrators group on the host (or grant it Execute in WinRM's "
            "RootSDDL: `winrm configSDDL default`); WinRM admits administrators only by default.")


def _auth_failed(host: str, target: Host | None, user: str | None) -> HostError:
    auth = target.auth if target is not None else ""
    if auth == "basic" and _domain_account(user):
        # Basic is checked against local accounts only: the domain never saw this password, no lockout risk
        return HostAuthFailed(
            host, f"Basic logon refused for the domain account {user} (WinRM's Basic takes local "
            "accounts only)", password_rejected=False,
            hint="Use ntlm, negotiate or kerberos for a domain account (inventory `auth`, or --auth), or a local "
                 "account with Basic over HTTPS.")
    if not user and auth in ("negotiate", "kerberos"):
        # Windows single sign-on: SSPI logged on as the account cmaudit runs as (NTLM where Kerberos cannot), with
        # that account's own secret: counted towards the lockout breaker like a password
        account = logged_on_account() or "the account cmaudit runs as"
        return HostAuthFailed(host, f"the logged-on account {account} was refused (HTTP 401)",
                              hint="Windows single sign-on logs on as the account cmaudit runs as: check that it is in "
                                   "the host's local Administrators group and not locked out (or its password changed "
                                   "since it logged on), or give --username with a password.")
    ntlm = auth == "ntlm" or (auth == "negotiate" and not _kerberos_name(user))
    return HostAuthFailed(host, "credentials rejected (HTTP 401)",
                          hint="Check the user name and password (CMAUDIT_PASSWORD or the host's password_env) and "
                               "that the account is not locked out; a 401 can also mean the account may not use "
                               "WinRM on that host (not in its local Administrators group)"
                               + ("" if not ntlm else ", or that the domain refuses NTLM (Restrict NTLM): then use "
                                  "--auth kerberos with a ticket or user@REALM") + ".")


def _from_fault(host: str, exc: WSManFaultError, target: Host | None) -> HostError:
    try:
        code = int(exc.code) if exc.code is not None else None
    except (TypeError, ValueError):
        code = None
    subcode = getattr(exc, "subcode", None) or (str(exc.code) if code is None and exc.code else None)
    reason = exc.reason or "no reason given"
    shown = f"0x{code:08X}" if code is not None and code > 0xFFFF else str(code)
    if code == FAULT_OPERATION_TIMEOUT:
        return HostTimeout(host, "WSMan operation timed out", fault_code=code)
    if code == FAULT_SHELLS_NOT_ALLOWED:
        return HostAccessDenied(
            host, f"remote shells are disabled on the host (AllowRemoteShellAccess=false, {shown}): {reason}",
            fault_code=code,
            hint="Allow remote shells on the host: `winrm set winrm/config/winrs @{AllowRemoteShellAccess=\"true\"}`, "
                 "or the GPO Windows Components > Windows Remote Shell > Allow Remote Shell Access.")
    if code in ACCESS_DENIED_CODES or subcode == "w:AccessDenied":
        return HostAccessDenied(host, f"logged on, but the WinRM service denied access ({shown}): {reason}",
                                fault_code=code, hint=_access_hint(target))
    if code in LOGON_FAILURE_CODES:
        err = _auth_failed(host, target, _user(target))
        return err.again(message=f"logon failure ({shown}): {reason}")
    if code in QUOTA_FAULTS:
        return HostProtocolError(host, f"WinRM quota reached ({shown}): {reason}", fault_code=code, retryable=True,
                                 hint=_QUOTA_HINTS.get(code, _BUSY_HINT))
    if code == FAULT_MAX_ENVELOPE:
        return HostProtocolError(host, f"the reply would exceed the host's MaxEnvelopeSize ({shown}): {reason}",
                                 fault_code=code,
                                 hint="Check MaxEnvelopeSizekb on the host (`winrm get winrm/config`; 150 by default "
                                      "before Server 2012): cmaudit asks for 150 KB replies.")
    if code == FAULT_CODE_PAGE:
        return HostProtocolError(host, f"the host refused the shell's code page ({shown}): {reason}",
                                 fault_code=code,
                                 hint="The host refuses both UTF-8 and the OEM code page 437 for WinRS shells: check "
                                      "its system locale and the WinRM service.")
    return HostProtocolError(host, f"WSMan fault {shown}: {reason}", fault_code=code)


def _user(target: Host | None) -> str | None:
    return target.username if target is not None else None


def _tls_error(host: str, exc: requests.exceptions.SSLError, root: BaseException,
               target: Host | None) -> HostError:
    """TLS failures are never retried; a modern handshake that reads like a TLS 1.0-only listener says so."""
    text = str(getattr(root, "verify_message", "") or getattr(root, "reason", "") or root or exc)
    legacy = target is not None and target.tls == "legacy"
    port = target.port if target is not None else None
    if not legacy and looks_legacy(f"{root} {text}"):
        return HostTLSError(
            host, f"TLS handshake failed ({text}): the host may be a Server 2003/2008 listener that speaks only "
            "TLS 1.0 with a SHA-1 / RSA-1024 certificate (or the port is not an HTTPS listener)",
            hint="If it is a 2003/2008 server, set `tls` to `legacy` for this host in the inventory (CSV column "
                 "`tls`, Ansible `cmaudit_tls`) or scan with --tls legacy; cmaudit never lowers TLS on its own.")
    if isinstance(root, ssl.SSLCertVerificationError):
        return HostTLSError(host, f"the host's certificate is not trusted: {text}",
                            hint="Give the CA that issued the host's certificate with --ca-file, and check that the "
                                 "certificate is in date and names the address in the inventory.")
    where = f" on port {port}" if port else ""
    return HostTLSError(host, f"TLS handshake failed{' with legacy TLS' if legacy else ''}: {text}",
                        hint=f"Check that the inventory's port{where} is the host's HTTPS listener "
                             "(`winrm enumerate winrm/config/listener`) and that its certificate is valid; "
                             "--ca-file gives the CA that issued it.")


def _from_connection_error(host: str, exc: requests.ConnectionError, target: Host | None) -> HostError:
    root = _root_cause(exc)
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(root, ssl.SSLError):
        return _tls_error(host, exc if isinstance(exc, requests.exceptions.SSLError)
                          else requests.exceptions.SSLError(str(root)), root, target)
    if isinstance(root, ConnectionRefusedError):
        return HostUnreachable(host, "connection refused")
    if isinstance(root, ConnectionResetError | BrokenPipeError | ConnectionAbortedError) or (
        isinstance(root, OSError) and root.errno in _RESET_ERRNOS
    ):
        return HostUnreachable(host, "connection reset by the server")
    if type(root).__name__ in ("RemoteDisconnected", "IncompleteRead", "ProtocolError", "ClosedMidReply"):
        return HostUnreachable(host, "connection closed by the server mid-reply")
    if isinstance(root, TimeoutError):
        return HostTimeout(host, "connection timed out")
    text = str(root)
    if "Name or service not known" in text or "getaddrinfo" in text or "nodename nor servname" in text:
        return HostUnreachable(host, "name does not resolve", retryable=False,
                               hint="Check the host name in the inventory, or give its IP address in the "
                                    "`address` column (ansible_host).")
    return HostUnreachable(host, f"connection failed: {text}")


def _ticket_refused(host: str) -> HostError:
    return HostAuthFailed(host, "the server refused the Kerberos ticket (HTTP 401)", password_rejected=False,
                          hint=TICKET_REFUSED_HINT)


def _http_status(host: str, code: int, text: str, server: str | None, target: Host | None) -> HostError:
    """An HTTP error without a WS-Management fault in its body."""
    if code == 401:
        return _auth_failed(host, target, _user(target))
    by = f" from {server}" if server else ""
    if code == 404:
        port = f"port {target.port}" if target is not None else "the port"
        if server and "IIS" in server.upper():
            return HostUnreachable(
                host, f"HTTP 404{by}: {port} is answered by IIS, not by a WinRM listener", retryable=False,
                hint="WinRM 1.1 listens on 80/443 (beside IIS only if configured so) and 2.0 on 5985/5986: run "
                     "`winrm enumerate winrm/config/listener` on the host and give the listener's port in the "
                     "inventory.")
        return HostUnreachable(host, f"HTTP 404{by}: no WinRM listener at /wsman on {port}", retryable=False,
                               hint="Check the inventory's port against `winrm enumerate winrm/config/listener` on "
                                    "the host (80/443 for WinRM 1.1, 5985/5986 for 2.0).")
    if code in _TRANSIENT_HTTP and "Envelope" in text[:500]:
        # a SOAP reply too broken to parse (not an error page of a busy service): like any malformed XML
        return HostProtocolError(host, f"HTTP {code}{by} with malformed XML in its body")
    if code in _TRANSIENT_HTTP:
        detail = "without a WS-Management fault" if not text.strip() else "with an error page"
        return HostProtocolError(
            host, f"HTTP {code}{by} {detail}", retryable=True,
            hint="The WinRM service failed without saying why: often a quota (MaxShellsPerUser, MaxConcurrentUsers), "
                 "a restarting service, or an unencrypted message it refused (AllowUnencrypted=false); see the "
                 "host's WinRM event log.")
    return HostProtocolError(host, f"HTTP {code}{by} from the WinRM service")


def http_error_without_fault(exc: WinRMTransportError, host: str, *, server: str | None = None,
                             target: Host | None = None) -> HostError | None:
    """An HTTP error whose body is not a SOAP fault (an IIS/HTTP.sys error page), else None.

    pypsrp would parse any XML-ish body as a fault and lose the status code (an HTML 503 page becomes
    a WSManFaultError with no code), so the transport hook asks here first.
    """
    text = exc.response_text if isinstance(exc.response_text, str) else ""
    if "Fault" in text and "Envelope" in text:
        return None
    code = int(exc.code) if str(exc.code).isdigit() else 0
    return _http_status(host, code, text, server, target)


def _spnego_context(exc: BaseException) -> str:
    """pyspnego's own context text ("Unable to negotiate common mechanism"), without token dumps."""
    text = " ".join(str(exc).split())
    contexts = [part.strip() for part in text.split("Context:")[1:]]
    return contexts[-1][:150] if contexts else text[:150]


TICKET_REFUSED_HINT = ("check that the SPN is registered on this server's computer account only (setspn -Q "
                       "HTTP/<fqdn>) and that the server's clock matches the domain's")
KERBEROS_ONLY_HINT = "the server refuses NTLM: use --auth kerberos (or negotiate) with a ticket or user@REALM"


def translate(exc: BaseException, host: str, *, secrets: Iterable[str] = (), ticket_only: bool = False,
              target: Host | None = None) -> HostError:
    """Map any exception raised while talking to `host` to the matching HostError subclass, with its hint.

    `ticket_only`: the logon could only have been Kerberos with a ticket (auth kerberos, or negotiate without a
    password), so an HTTP 401 means the server refused the ticket, not a password. `target`: the host with the
    account actually used, for hints that depend on it (a local account and UAC, Basic and domain accounts).
    """
    secrets = tuple(s for s in secrets if s)
    err = _translate(exc, host, target, ticket_only)
    message = one_line(err.message, secrets)
    hint = one_line(err.hint, secrets) if err.hint else err.hint
    if message != err.message or hint != err.hint:
        err = err.again(message=message, hint=hint)
    return err


def _translate(exc: BaseException, host: str, target: Host | None = None, ticket_only: bool = False) -> HostError:
    if isinstance(exc, HostError):
        return exc
    kerberos = describe_kerberos(exc)
    if kerberos is not None:
        return HostAuthFailed(host, kerberos.message(), hint=kerberos.hint,
                              password_rejected=kerberos.password_rejected)
    if isinstance(exc, AuthenticationError) or (isinstance(exc, WinRMTransportError) and str(exc.code) == "401"):
        return _ticket_refused(host) if ticket_only else _auth_failed(host, target, _user(target))
    if isinstance(exc, ValueError) and "incompatible with the specified auth_provider" in str(exc):
        # pypsrp: the server offers only an auth scheme the chosen method cannot use (Kerberos-only listener)
        return HostAuthFailed(host, f"the server does not offer this auth method: {exc}", password_rejected=False,
                              hint=KERBEROS_ONLY_HINT)
    if isinstance(exc, WSManFaultError):
        return _from_fault(host, exc, target)
    if isinstance(exc, WinRMTransportError):
        code = int(exc.code) if str(exc.code).isdigit() else 0
        text = exc.response_text if isinstance(exc.response_text, str) else ""
        return _http_status(host, code, text, None, target)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return HostTimeout(host, "connect timed out")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return HostTimeout(host, "read timed out")
    if isinstance(exc, requests.exceptions.RetryError):
        return HostProtocolError(host, "the WinRM service kept answering with errors", retryable=True)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return HostUnreachable(host, "connection broken mid-reply")
    if isinstance(exc, requests.ConnectionError):
        return _from_connection_error(host, exc, target)
    if isinstance(exc, DefusedXmlException):
        return HostProtocolError(host, f"hostile XML in the reply refused: {type(exc).__name__}")
    if isinstance(exc, ET.ParseError):
        return HostProtocolError(host, f"malformed XML in the reply: {exc}")
    if isinstance(exc, SpnegoError):
        # pyspnego raises these while building/answering the NTLM or Kerberos exchange
        # (no credential, bad token) and while unwrapping encrypted replies (bad signature).
        name = type(exc).__name__
        if name in ("NoCredentialError", "InvalidCredentialError", "CredentialsExpiredError", "BadNameError",
                    "OperationNotAvailableError", "BadMechanismError"):
            # no credential to offer at all: nothing was tried against the account
            return HostAuthFailed(host, f"authentication failed: {name}: {_spnego_context(exc)}",
                                  password_rejected=False, hint="give a user name and password, or a Kerberos ticket")
        return HostProtocolError(host, f"security layer error: {name}: {_spnego_context(exc)}")
    if isinstance(exc, WinRMError):
        return HostProtocolError(host, f"WinRM error: {exc}")
    if isinstance(exc, requests.RequestException):
        return HostProtocolError(host, f"HTTP error: {type(exc).__name__}")
    if isinstance(exc, TimeoutError):
        return HostTimeout(host, "timed out")
    if isinstance(exc, ConnectionRefusedError):
        return HostUnreachable(host, "connection refused")
    if isinstance(exc, ssl.SSLError):
        return _tls_error(host, requests.exceptions.SSLError(str(exc)), exc, target)
    if isinstance(exc, ConnectionError):
        return HostUnreachable(host, f"connection failed: {exc}")
    if isinstance(exc, OSError):
        return HostUnreachable(host, f"network error: {exc}")
    if isinstance(exc, (KeyError, IndexError, AttributeError, TypeError, ValueError, UnicodeError)):
        # pypsrp tripping over a reply it did not expect (missing element, bad base64, ...)
        return HostProtocolError(host, f"unexpected reply: {type(exc).__name__}: {exc}")
    return HostError(host, f"{type(exc).__name__}: {exc}")
