"""The one place pypsrp / requests / pyspnego exceptions become scanner.model.errors.HostError.

Everything above the WinRM layer (collection, the runner, reports) sees only HostError subclasses with a
category and a `retryable` flag; the retry policy lives in those flags, decided here:
  401 / rejected credentials          -> HostAuthFailed    never retried (would lock the account out)
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
    if code in (FAULT_ACCESS_DENIED, FAULT_LOGON_FAILURE):
        return HostAuthFailed(host, f"access denied by the WinRM service: {reason}", fault_code=code)
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


def http_error_without_fault(exc: WinRMTransportError, host: str) -> HostError | None:
    """An HTTP error whose body is not a SOAP fault (an IIS/HTTP.sys error page), else None.

    pypsrp would parse any XML-ish body as a fault and lose the status code (an HTML 503 page becomes
    a WSManFaultError with no code), so the transport hook asks here first.
    """
    text = exc.response_text if isinstance(exc.response_text, str) else ""
    if "Fault" in text and "Envelope" in text:
        return None
    return _translate(exc, host)


def translate(exc: BaseException, host: str, *, secrets: Iterable[str] = ()) -> HostError:
    """Map any exception raised while talking to `host` to the matching HostError subclass."""
    secrets = tuple(s for s in secrets if s)
    err = _translate(exc, host)
    message = one_line(err.message, secrets)
    if message != err.message:
        err = type(err)(host, message, fault_code=err.fault_code, retryable=err.retryable)
    return err


def _translate(exc: BaseException, host: str) -> HostError:
    if isinstance(exc, HostError):
        return exc
    if isinstance(exc, AuthenticationError):
        return HostAuthFailed(host, "credentials rejected (HTTP 401)")
    if isinstance(exc, WSManFaultError):
        return _from_fault(host, exc)
    if isinstance(exc, WinRMTransportError):
        code = int(exc.code) if str(exc.code).isdigit() else 0
        if code == 401:
            return HostAuthFailed(host, "credentials rejected (HTTP 401)")
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
        if name in ("NoCredentialError", "InvalidCredentialError", "CredentialsExpiredError", "BadNameError"):
            return HostAuthFailed(host, f"authentication failed: {name}")
        return HostProtocolError(host, f"security layer error: {name}")
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
