"""The one seam between WS-Management and the network: what a transport does, and the errors it raises.

A transport carries one host's SOAP envelopes over HTTP(S): `send` posts one and answers the reply's SOAP
(logging on first where the connection needs it), `abort` wakes a send blocked in the network from another
thread, `close` releases the connection. Two implement it: cmaudit's own HTTP client
(scanner.winrm.http_transport, for NTLM, Negotiate, Kerberos and Basic) and pypsrp's requests transport behind
an adapter (scanner.winrm.requests_transport, for CredSSP and certificate auth). Whatever fails below
WS-Management comes out as one of these errors, never as a library's exception, and scanner.winrm.faults
turns them into HostErrors with a hint:

    TransportError             the exchange failed below WS-Management (`address`, one-line `message`)
    +-- NetworkError           no connection, or it broke: `kind` says how (NETWORK_KINDS), `cause` the OSError
    +-- TLSFailed              the TLS handshake or the certificate check failed (`cause`: the ssl error)
    +-- BadReply               a reply that breaks HTTP, a size bound or message encryption
    +-- HTTPStatus             a reply with a status other than 200 (`status`, `text`, `server`, `during_logon`)
    +-- LogonError             the logon did not succeed (`scheme`, `mechanism`: "ntlm", "kerberos" or None)
        +-- LogonRejected      the server answered the logon with a bare 401 (`final`: to the token that carried
        |                      the password's proof, NTLM's AUTHENTICATE; only that one is a rejected password)
        +-- SchemeNotOffered   the server offers no scheme this auth method can use (`offered`)
        +-- LogonRoundTrips    the server kept asking for more logon legs than any logon needs
        +-- LogonBroken        the server broke the logon off (closed the connection mid-logon) or accepted it
        |                      before any credential was sent or before it finished: no password was refused
        +-- RefusedAfterLogon  the server accepted the logon, then answered the request with a 401 even after
        |                      a second logon: the password is right, the account is not let in
        +-- LogonFailed        the security package (pyspnego, SSPI, GSSAPI) refused (`cause`: its error)
    +-- OwnBug                 cmaudit's own code failed during the exchange (`cause`): never the server's doing
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass
from typing import Literal, Protocol, overload

Timeouts = tuple[float, float]  # (connect, read) seconds for one request, the host's deadline already applied

NetworkKind = Literal["refused", "reset", "closed-mid-reply", "dns", "connect-timeout", "read-timeout", "timeout",
                      "other"]
NETWORK_KINDS: tuple[NetworkKind, ...] = ("refused", "reset", "closed-mid-reply", "dns", "connect-timeout",
                                          "read-timeout", "timeout", "other")


class Transport(Protocol):
    """What cmaudit's WS-Management layer needs of a transport (httpx's `BaseTransport.handle_request` seam)."""

    endpoint: str  # the URL, as the wsa:To header names it

    @property
    def negotiated_protocol(self) -> str | None:
        """"ntlm" or "kerberos" once logged on with Negotiate, NTLM or Kerberos; else None."""
        ...

    @property
    def logon_finished(self) -> bool:
        """The logon the last reply came under is finished: its security context complete (NTLM, Negotiate,
        Kerberos), or the request carried the credentials (Basic). Only a reply then proves the password."""
        ...

    @property
    def password_sent(self) -> bool:
        """A password (or its NTLM hash's proof) may have left for the server or the KDC: whatever comes back
        now, the domain may have counted the logon."""
        ...

    def send(self, body: bytes, *, timeouts: Timeouts, read_timeout_retries: int = 0) -> bytes:
        """Post one SOAP envelope; the reply's SOAP (decrypted). Raises TransportError."""
        ...

    def abort(self) -> None:
        """Callable from any thread: no new connection, and a send blocked in the network returns now."""
        ...

    def close(self) -> None:
        """Release every connection (also one an aborted send left behind)."""
        ...


class TransportError(Exception):
    """The exchange with a host failed below WS-Management."""

    def __init__(self, address: str, message: str, *, cause: BaseException | None = None) -> None:
        self.address, self.message, self.cause = address, message, cause
        super().__init__(f"{address}: {message}")


class NetworkError(TransportError):
    """No connection, or the connection broke; `kind` is one of NETWORK_KINDS."""

    def __init__(self, address: str, kind: NetworkKind, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(address, message, cause=cause)
        self.kind = kind


class TLSFailed(TransportError):
    """The TLS handshake or the certificate check failed; `cause` is the ssl error."""


class BadReply(TransportError):
    """A reply that is not well-formed HTTP, passes a size bound, or whose encrypted body cannot be read."""


class HTTPStatus(TransportError):
    """A reply whose status is not 200; `text` is its body as text (decrypted where it was encrypted)."""

    def __init__(self, address: str, status: int, text: str, *, server: str | None = None,
                 during_logon: bool = False) -> None:
        super().__init__(address, f"HTTP {status}")
        self.status, self.text, self.server, self.during_logon = status, text, server, during_logon


class LogonError(TransportError):
    """The logon did not succeed: `scheme` the HTTP auth scheme used, `mechanism` what the security package
    settled on ("ntlm", "kerberos"; None when it never said)."""

    def __init__(self, address: str, message: str, *, scheme: str, mechanism: str | None = None,
                 cause: BaseException | None = None) -> None:
        super().__init__(address, message, cause=cause)
        self.scheme, self.mechanism = scheme, mechanism


class LogonRejected(LogonError):
    """A bare 401 to the logon: `final` when it answered the token carrying the password's proof (NTLM's
    AUTHENTICATE, a Basic header, CredSSP's public key exchange); a 401 to an earlier leg refused no password."""

    def __init__(self, address: str, message: str, *, scheme: str, mechanism: str | None = None,
                 final: bool = True) -> None:
        super().__init__(address, message, scheme=scheme, mechanism=mechanism)
        self.final = final


class SchemeNotOffered(LogonError):
    """The server offers none of the auth schemes the configured method can use."""

    def __init__(self, address: str, message: str, *, scheme: str, offered: tuple[str, ...]) -> None:
        super().__init__(address, message, scheme=scheme)
        self.offered = offered


class LogonRoundTrips(LogonError):
    """The server kept answering with another challenge past the bound on logon legs."""


BrokenKind = Literal["closed", "early-accept", "unfinished"]


class LogonBroken(LogonError):
    """The server broke the logon's order: `kind` "closed" (it closed the connection with a challenge still to
    answer: NTLM cannot go on over another one), "early-accept" (a 200 before any credential was sent) or
    "unfinished" (a 200 without the last token message encryption needs)."""

    def __init__(self, address: str, message: str, *, scheme: str, kind: BrokenKind,
                 mechanism: str | None = None) -> None:
        super().__init__(address, message, scheme=scheme, mechanism=mechanism)
        self.kind = kind


class RefusedAfterLogon(LogonError):
    """A 401 to a request after an accepted logon, again after logging on once more: the server took the password
    (it accepted the logon) but does not let the account in."""


class LogonFailed(LogonError):
    """The security package refused to go on (a rejected password at the KDC, a missing credential...)."""


class OwnBug(TransportError):
    """cmaudit's own code failed during the exchange (a bug, never blamed on the server); `cause` is the error."""


class Headers:
    """A reply's header fields: `get` (the first value) and `get_all`, names case-insensitive, values decoded as
    Latin-1 (as http.client did). One dict look-up per question."""

    __slots__ = ("_by_name",)

    def __init__(self) -> None:
        self._by_name: dict[str, list[str]] = {}

    def add(self, name: str, value: str) -> None:
        self._by_name.setdefault(name.lower(), []).append(value)

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._by_name.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._by_name.get(name.lower(), ()))


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer, for the session's trace: status, headers, body size (None: not known) and time taken."""

    status: int
    headers: Headers
    size: int | None
    elapsed: float


def network_error(address: str, exc: BaseException, *, connecting: bool) -> TransportError:
    """The TransportError for an OSError (or ssl error) met while connecting or exchanging with `address`."""
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TLSFailed(address, str(exc), cause=exc)
    if isinstance(exc, TimeoutError):
        kind: NetworkKind = "connect-timeout" if connecting else "read-timeout"
        return NetworkError(address, kind, "connect timed out" if connecting else "read timed out", cause=exc)
    return NetworkError(address, _kind(exc), f"{type(exc).__name__}: {exc}", cause=exc)


SECURITY_PACKAGES = frozenset({"spnego", "krb5", "gssapi", "sspilib"})


def from_security_package(exc: BaseException) -> bool:
    """Was `exc` raised by a security package (pyspnego, python-krb5, python-gssapi, sspilib), as opposed to a bug?"""
    return type(exc).__module__.split(".")[0] in SECURITY_PACKAGES


def library_text(exc: BaseException) -> str:
    """A library error's own words on one line: pyspnego's context text ("Unable to negotiate common
    mechanism") where it gives one, never its token dumps; at most 150 characters."""
    text = " ".join(str(exc).split())
    contexts = [part.strip() for part in text.split("Context:")[1:]]
    return contexts[-1][:150] if contexts else text[:150]


_RESET = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})


def _kind(exc: BaseException) -> NetworkKind:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, _RESET) or (isinstance(exc, OSError) and exc.errno in _RESET_ERRNOS):
        return "reset"
    return "other"
