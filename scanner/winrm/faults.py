"""The one place pypsrp / requests / pyspnego exceptions become scanner.model.errors.HostError.

Everything above the WinRM layer (collection, the runner, reports) sees only HostError subclasses with a
category and a `retryable` flag; the retry policy lives in those flags, decided here:
  401 / rejected credentials          -> HostAuthFailed    never retried (would lock the account out); only a
                                                          rejected password feeds the breaker: a Kerberos ticket
                                                          a server refused, or a missing SPN, does not
  Kerberos (krb5 / gssapi codes)      -> HostAuthFailed    with the reason and a hint (setspn, clock, kinit)
  refused, reset, broken reply         -> HostUnreachable   retried
  connect/read/WSMan operation timeout -> HostTimeout       retried
  HTTP 5xx without a WSMan fault       -> HostProtocolError retried (a busy or restarting WinRM service)
  TLS verification, malformed XML, any other WSMan fault -> not retried
Messages are one line, bounded, and scrubbed of any secret passed in.
"""

from __future__ import annotations

import errno
import xml.etree.ElementTree as ET
from collections.abc import Iterable

import requests
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError

from scanner.model.errors import (
    HostAuthFailed,
    HostError,
    HostProtocolError,
    HostTimeout,
    HostUnreachable,
)
from scanner.winrm.kerberos import describe as describe_kerberos

try:  # pyspnego is a dependency of pypsrp; guard anyway so a packaging change cannot break imports
    from spnego.exceptions import SpnegoError
except ImportError:  # pragma: no cover
    SpnegoError = ()  # type: ignore[assignment,misc]

try:
    from defusedxml import DefusedXmlException
except ImportError:  # pragma: no cover
    DefusedXmlException = ()  # type: ignore[assignment,misc]

MAX_MESSAGE = 300

# [MS-WSMV] / winerror.h codes a WinRM server puts in <wsman:WSManFault Code="...">.
FAULT_OPERATION_TIMEOUT = 0x80338029  # 2150858793: no output within OperationTimeout
FAULT_ACCESS_DENIED = 5
FAULT_LOGON_FAILURE = 1326
FAULT_SHELL_QUOTA = 0x803381A6  # 2150859174: too many shells for this user (a busy server; transient)
FAULT_CONCURRENT_OPS = 0x803381A4  # 2150859172: too many concurrent operations for this user (transient)

_TRANSIENT_HTTP = frozenset({500, 502, 503, 504})
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})


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


def _from_fault(host: str, exc: WSManFaultError) -> HostError:
    try:
        code = int(exc.code) if exc.code is not None else None
    except (TypeError, ValueError):
        code = None
    reason = exc.reason or "no reason given"
    if code == FAULT_OPERATION_TIMEOUT:
        return HostTimeout(host, "WSMan operation timed out", fault_code=code)
    if code == FAULT_LOGON_FAILURE:
        return HostAuthFailed(host, f"logon refused by the WinRM service: {reason}", fault_code=code)
    if code == FAULT_ACCESS_DENIED:  # logged on, but not allowed: no password was wrong
        return HostAuthFailed(host, f"access denied by the WinRM service: {reason}", fault_code=code,
                              password_rejected=False,
                              hint="the account must be an administrator of the server (or in its WinRM access list)")
    if code in (FAULT_SHELL_QUOTA, FAULT_CONCURRENT_OPS):
        return HostProtocolError(host, f"WinRM quota reached: {reason}", fault_code=code, retryable=True)
    shown = f"0x{code:08X}" if code is not None and code > 0xFFFF else str(code)
    return HostProtocolError(host, f"WSMan fault {shown}: {reason}", fault_code=code)


def _from_connection_error(host: str, exc: requests.ConnectionError) -> HostError:
    root = _root_cause(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        # a certificate that fails validation does not fix itself: no retry
        return HostUnreachable(host, f"TLS handshake failed: {root}", retryable=False)
    if isinstance(root, ConnectionRefusedError):
        return HostUnreachable(host, "connection refused")
    if isinstance(root, ConnectionResetError | BrokenPipeError | ConnectionAbortedError) or (
        isinstance(root, OSError) and root.errno in _RESET_ERRNOS
    ):
        return HostUnreachable(host, "connection reset by the server")
    if type(root).__name__ in ("RemoteDisconnected", "IncompleteRead", "ProtocolError"):
        return HostUnreachable(host, "connection closed by the server mid-reply")
    if isinstance(root, TimeoutError):
        return HostTimeout(host, "connection timed out")
    text = str(root)
    if "Name or service not known" in text or "getaddrinfo" in text or "nodename nor servname" in text:
        return HostUnreachable(host, "name does not resolve", retryable=False)
    return HostUnreachable(host, f"connection failed: {text}")


def _spnego_context(exc: BaseException) -> str:
    """pyspnego's own context text ("Unable to negotiate common mechanism"), without token dumps."""
    text = " ".join(str(exc).split())
    contexts = [part.strip() for part in text.split("Context:")[1:]]
    return contexts[-1][:150] if contexts else text[:150]


def http_error_without_fault(exc: WinRMTransportError, host: str) -> HostError | None:
    """An HTTP error whose body is not a SOAP fault (an IIS/HTTP.sys error page), else None.

    pypsrp would parse any XML-ish body as a fault and lose the status code (an HTML 503 page becomes
    a WSManFaultError with no code), so the transport hook asks here first.
    """
    text = exc.response_text if isinstance(exc.response_text, str) else ""
    if "Fault" in text and "Envelope" in text:
        return None
    return _translate(exc, host)


TICKET_REFUSED_HINT = ("check that the SPN is registered on this server's computer account only (setspn -Q "
                       "HTTP/<fqdn>) and that the server's clock matches the domain's")
KERBEROS_ONLY_HINT = "the server refuses NTLM: use --auth kerberos (or negotiate) with a ticket or user@REALM"


def translate(exc: BaseException, host: str, *, secrets: Iterable[str] = (), ticket_only: bool = False) -> HostError:
    """Map any exception raised while talking to `host` to the matching HostError subclass.

    `ticket_only`: the logon could only have been Kerberos with a ticket (auth kerberos, or negotiate without a
    password), so an HTTP 401 means the server refused the ticket, not a password.
    """
    secrets = tuple(s for s in secrets if s)
    err = _translate(exc, host, ticket_only)
    message, hint = one_line(err.message, secrets), one_line(err.hint, secrets)
    if message != err.message or hint != err.hint:
        err = type(err)(host, message, fault_code=err.fault_code, retryable=err.retryable, hint=hint,
                        password_rejected=err.password_rejected)
    return err


def _translate(exc: BaseException, host: str, ticket_only: bool = False) -> HostError:
    if isinstance(exc, HostError):
        return exc
    kerberos = describe_kerberos(exc)
    if kerberos is not None:
        return HostAuthFailed(host, kerberos.message(), hint=kerberos.hint,
                              password_rejected=kerberos.password_rejected)
    if isinstance(exc, AuthenticationError) or (isinstance(exc, WinRMTransportError) and str(exc.code) == "401"):
        if ticket_only:
            return HostAuthFailed(host, "the server refused the Kerberos ticket (HTTP 401)", password_rejected=False,
                                  hint=TICKET_REFUSED_HINT)
        return HostAuthFailed(host, "credentials rejected (HTTP 401)")
    if isinstance(exc, ValueError) and "incompatible with the specified auth_provider" in str(exc):
        # pypsrp: the server offers only an auth scheme the chosen method cannot use (Kerberos-only listener)
        return HostAuthFailed(host, f"the server does not offer this auth method: {exc}", password_rejected=False,
                              hint=KERBEROS_ONLY_HINT)
    if isinstance(exc, WSManFaultError):
        return _from_fault(host, exc)
    if isinstance(exc, WinRMTransportError):
        code = int(exc.code) if str(exc.code).isdigit() else 0
        if code in _TRANSIENT_HTTP:
            return HostProtocolError(host, f"HTTP {code} from the WinRM service", retryable=True)
        return HostProtocolError(host, f"HTTP {code} from the WinRM service")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return HostTimeout(host, "connect timed out")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return HostTimeout(host, "read timed out")
    if isinstance(exc, requests.exceptions.RetryError):
        return HostProtocolError(host, "the WinRM service kept answering with errors", retryable=True)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return HostUnreachable(host, "connection broken mid-reply")
    if isinstance(exc, requests.ConnectionError):
        return _from_connection_error(host, exc)
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
    if isinstance(exc, ConnectionError):
        return HostUnreachable(host, f"connection failed: {exc}")
    if isinstance(exc, OSError):
        return HostUnreachable(host, f"network error: {exc}")
    if isinstance(exc, (KeyError, IndexError, AttributeError, TypeError, ValueError, UnicodeError)):
        # pypsrp tripping over a reply it did not expect (missing element, bad base64, ...)
        return HostProtocolError(host, f"unexpected reply: {type(exc).__name__}: {exc}")
    return HostError(host, f"{type(exc).__name__}: {exc}")
