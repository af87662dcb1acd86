"""One host's WS-Management session: pypsrp's WSMan/WinRS on top, one transport seam below, abortable.

Safety defaults: message encryption is required on HTTP ("always"), TLS protects HTTPS ("auto"),
certificates are validated (against --ca-file when given). `insecure` is the single escape hatch: it
turns off certificate validation and allows unencrypted Basic over HTTP.

The session wires one Transport (scanner.winrm.transport): cmaudit's own HTTP transport for NTLM, Negotiate,
Kerberos and Basic, pypsrp's requests transport for CredSSP and certificate auth (`SessionOptions.transport =
"requests"` forces it for every host). Every WS-Management request goes through `HostSession.invoke` (pypsrp's
WSMan calls it for each action): the envelope is written by scanner.winrm.wsman, the request is counted,
clamped to what is left of the host's deadline, sent through the transport, its fault reply parsed by
scanner.winrm.faults, a reply with a DTD refused before any parser sees it, and its RelatesTo checked.

The proof that the password is right (`on_logon`, which opens the logon gate for the account's other hosts) is
a parsed WS-Management reply or fault whose RelatesTo names our request, after a logon that finished (its
security context complete; Basic: the request carried the credentials). Any HTTP 200, an HTML page, a fault
that answers some other request, a 200 to an unfinished logon: none of them proves anything, so a web server on
a WinRM port, or a proxy in front of it, cannot open the gate.

pypsrp polls a never-ending command forever, so the session (a) clamps every HTTP timeout to what is left of
the host's deadline and (b) can be aborted from the event-loop thread: `abort()` makes the transport shut down
its sockets, which wakes a worker blocked in recv() at once.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pypsrp.wsman import NAMESPACES, WSMan, WSManAction

from scanner.model.errors import HostError, HostProtocolError, HostTimeout
from scanner.model.options import DEFAULT_SPN_SERVICE
from scanner.winrm import wsman as wsman_request
from scanner.winrm.faults import http_error_without_fault, parse_fault
from scanner.winrm.http_transport import OWN_AUTHS, HTTPTransport
from scanner.winrm.http_transport import Aborted as TransportAborted
from scanner.winrm.logon import auth_schemes
from scanner.winrm.pypsrp_compat import WSMAN_CONSTRUCTION
from scanner.winrm.requests_transport import RequestsTransport, default_ca_bundle
from scanner.winrm.tls import client_context
from scanner.winrm.transport import HTTPStatus, Reply, Timeouts, Transport
from scanner.winrm.transport_policy import message_encryption
from scanner.winrm.winrs import LiftedReply, exit_code, lift_streams

if TYPE_CHECKING:
    from scanner.model.host import Host

DEFAULT_MAX_ENVELOPE = 153600  # 150 KiB: what Server 2003 R2 / 2008 (R2) accept by default
REPLY_SLACK = 64 * 1024  # MIME framing and signature of an encrypted reply, HTTP error pages
_HOSTILE_XML_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")
_EXIT_CODE_PATH = f"{{{NAMESPACES['s']}}}Body//{{{NAMESPACES['rsp']}}}ExitCode"

log = logging.getLogger(__name__)


def _short(uri: str) -> str:
    """The last part of a WS-Man action or resource URI: .../transfer/Create -> Create."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """How to connect; the password is held only here and never printed (repr=False).

    `credential`: pyspnego credential(s) to log on with instead of username/password (NTLM hashes, or the run's
    private Kerberos ticket cache, see scanner.winrm.kerberos.PrivateTicket). `spn_service`: the SPN's service
    class for Negotiate/Kerberos; the SPN's host is always the inventory's host name, never the address.
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    credential: Any = field(default=None, repr=False)
    spn_service: str = DEFAULT_SPN_SERVICE
    ca_file: str | None = None
    insecure: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    operation_timeout: int = 20  # WSMan OperationTimeout; read_timeout must exceed it
    max_envelope_size: int = DEFAULT_MAX_ENVELOPE
    transport: str = "auto"  # "auto": cmaudit's own transport where the auth allows it; "requests": pypsrp's
    # called once, from the worker thread, when the session proved its logon (see the module docstring)
    on_logon: Callable[[], None] | None = field(default=None, repr=False, compare=False)


class Aborted(HostTimeout):
    """The session was aborted from outside (deadline passed or the run is stopping)."""


class SessionWSMan(WSMan):
    """pypsrp's WSMan whose every request goes through its HostSession (`invoke` is pypsrp's public hook)."""

    def __init__(self, owner: HostSession, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner
        # scanner.winrm.winrs sets lift_next around a Receive; the session then parses that reply without its
        # stream text and leaves the text here (scanner.winrm.winrs.lift_streams says when that is exact)
        self.lift_next = False
        self.lifted: LiftedReply | None = None

    def invoke(self, action: str, resource_uri: str, resource: ET.Element | None, option_set: Any = None,
               selector_set: Any = None, timeout: int | None = None, *, retries_on_read_timeout: int = 0,
               **_later: Any) -> ET.Element:
        return self._owner.invoke(action, resource_uri, resource, option_set, selector_set, timeout,
                                  retries_on_read_timeout)

    def close(self) -> None:
        self._owner.transport.close()


class HostSession:
    """A host's WS-Management session: request counting, deadline-clamped timeouts, thread-safe abort."""

    def __init__(self, host: Host, options: SessionOptions, deadline: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        # the host as translation sees it: the account actually used, for hints about local accounts
        self.target = replace(host, username=host.username or options.username)
        self.options = options
        self.requests = 0
        self.last_server: str | None = None  # `Server:` of the last reply (IIS on a WinRM port says so)
        self._deadline = deadline
        self._clock = clock
        self._aborted = threading.Event()
        self.proven = False  # a WS-Management reply to a finished logon came back: the password is right
        self._on_logon = options.on_logon
        self._connect_timeout = options.connect_timeout
        self._read_timeout = max(options.read_timeout, options.operation_timeout + 2)
        self.wsman, self.transport = _build(self, host, options)
        self._addressing = wsman_request.Addressing(self.transport.endpoint, options.max_envelope_size,
                                                    options.operation_timeout)
        self.transport.on_reply = self._on_reply  # type: ignore[attr-defined]
        self.transport.on_connect = self._on_connect  # type: ignore[attr-defined]

    @property
    def negotiated_protocol(self) -> str | None:
        """"ntlm" or "kerberos" once logged on with Negotiate, NTLM or Kerberos (None before, or for the rest)."""
        return self.transport.negotiated_protocol

    @property
    def password_sent(self) -> bool:
        """The password (or its proof) may have left for the server or the KDC (scanner.winrm.transport)."""
        return bool(getattr(self.transport, "password_sent", False))

    # -- called from the worker thread ------------------------------------------------------------
    def _answered(self, message_id: str, answered: str) -> None:
        """A WS-Management reply or fault parsed: when it answers our request after a finished logon, the logon is
        proven; tell `on_logon` once (the account's other hosts may start)."""
        if self.proven or answered != message_id or not self.transport.logon_finished:
            return
        self.proven = True
        log.debug("%s: logged on with %s as %s", self.host.name, self.negotiated_protocol or self.host.auth,
                  self.host.username or "the configured account")
        callback, self._on_logon = self._on_logon, None
        if callback is not None:
            callback()

    def invoke(self, action: str, resource_uri: str, resource: ET.Element | None, option_set: Any,
               selector_set: Any, timeout: int | None, read_timeout_retries: int) -> ET.Element:
        """One WS-Management request: written, counted, sent, traced; the reply's root element."""
        self.requests += 1
        host, started = self.host.name, time.monotonic()
        message_id, envelope = wsman_request.request(self._addressing, action, resource_uri, resource, option_set,
                                                     selector_set, timeout)
        try:
            # the reply cannot be expected before the operation timeout: the HTTP timeout must exceed it
            reply = self._exchange(envelope, timeout + 2 if timeout else None, read_timeout_retries, message_id)
            root = ET.fromstring(reply)
        except HostError as exc:
            log.debug("%s: WS-Man %s %s -> %s %s: %s (%.0f ms)", host, _short(action), _short(resource_uri),
                      type(exc).__name__, exc.fault_code or "", " ".join(exc.message.split())[:300],
                      (time.monotonic() - started) * 1000)
            raise
        except Exception as exc:
            log.debug("%s: WS-Man %s %s -> %s (%.0f ms)", host, _short(action), _short(resource_uri),
                      type(exc).__name__, (time.monotonic() - started) * 1000)
            raise
        answered = wsman_request.relates_to(root)
        self._answered(message_id, answered)
        if answered != message_id:
            raise HostProtocolError(host, "Received related id does not match related expected message id: "
                                          f"Sent: {message_id}, Received: {answered}"[:300])
        if action == WSManAction.RECEIVE:
            self._check_exit_code(root)
        log.debug("%s: WS-Man %s %s ok (%.0f ms)", host, _short(action), _short(resource_uri),
                  (time.monotonic() - started) * 1000)
        return root

    def _check_exit_code(self, root: ET.Element) -> None:
        """rsp:ExitCode within its own bound before any reader (cmaudit's or pypsrp's own Receive) takes int() of it."""
        element = root.find(_EXIT_CODE_PATH)
        if element is not None:
            try:
                exit_code(element.text)
            except ValueError as exc:
                raise HostProtocolError(self.host.name, f"malformed Receive reply: {exc}") from None

    def _timeouts(self, http_timeout: float | None) -> Timeouts:
        """Before every request: refused once aborted or past the deadline; else the timeouts left for it."""
        if self._aborted.is_set():
            raise Aborted(self.host.name, "aborted")
        connect, read = self._connect_timeout, self._read_timeout
        if http_timeout is not None:
            read = min(read, http_timeout)
        if self._deadline is not None:
            left = self._deadline - self._clock()
            if left <= 0:
                raise HostTimeout(self.host.name, "per-host deadline reached")
            connect, read = min(connect, left), min(read, left)
        return connect, read

    def _exchange(self, envelope: bytes, http_timeout: float | None, retries: int, message_id: str) -> bytes:
        """Send one envelope through the transport: fault replies parsed, hostile XML refused."""
        try:
            reply = self.transport.send(envelope, timeouts=self._timeouts(http_timeout),
                                        read_timeout_retries=retries)
        except TransportAborted:
            raise Aborted(self.host.name, "aborted") from None
        except HTTPStatus as exc:
            raise self._http_error(exc, message_id) from None
        if self.wsman.lift_next:  # a Receive: the parser gets the reply without its stream text
            self.wsman.lifted = lifted = lift_streams(reply)
            if lifted is not None:
                reply = lifted.stripped  # all of the markup, and nothing of "<!" (or it is not lifted)
        # The reply is parsed with the stdlib parser: refuse DTDs/entities before it sees them.
        if b"<!" in reply and any(marker in reply for marker in _HOSTILE_XML_MARKERS):
            raise HostProtocolError(self.host.name, "reply carries a DTD or entity declarations; refused")
        return reply

    def _http_error(self, exc: HTTPStatus, message_id: str) -> Exception:
        """A non-200 reply: a WS-Management fault (pypsrp's shape, with our nested reasons), or a HostError."""
        log.debug("%s: HTTP %s", self.host.name, exc.status)
        if exc.during_logon:
            return exc  # translated with the logon's context (scanner.winrm.faults)
        plain = http_error_without_fault(exc, self.host.name, server=exc.server or self.last_server,
                                         target=self.target)
        if plain is not None:
            return plain
        fault = parse_fault(exc.text)
        if fault is not None:
            self._answered(message_id, fault.relates_to or "")  # a fault to our request after a finished logon
            log.debug("%s: WS-Management fault %s (%s)", self.host.name, fault.code, fault.subcode or "")
            return fault
        return HostProtocolError(self.host.name, f"malformed XML in an HTTP {exc.status} fault reply")

    def _on_reply(self, reply: Reply) -> None:
        self.last_server = reply.headers.get("Server")
        if log.isEnabledFor(logging.DEBUG):
            offered = ", ".join(reply.headers.get_all("WWW-Authenticate")) if reply.status == 401 else ""
            log.debug("%s: HTTP %s, %s bytes, %s, %.0f ms%s", self.host.name, reply.status,
                      "?" if reply.size is None else reply.size, reply.headers.get("Content-Type", "no body"),
                      reply.elapsed * 1000, f"; offers {_schemes(offered)}" if offered else "")

    def _on_connect(self, sock: socket.socket) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        try:
            peer = sock.getpeername()
            cipher = sock.cipher() if isinstance(sock, ssl.SSLSocket) else None
            tls = f"{sock.version()} {cipher[0]}" if isinstance(sock, ssl.SSLSocket) and cipher else "plain HTTP"
        except (OSError, TypeError, IndexError):
            peer, tls = ("?", 0), "?"
        log.debug("%s: connected to %s:%s (%s)", self.host.name, peer[0], peer[1], tls)

    # -- called from any thread --------------------------------------------------------------------
    @property
    def aborted(self) -> bool:
        return self._aborted.is_set()

    @property
    def expired(self) -> bool:
        """The host's deadline has passed: no request would be sent any more."""
        return self._deadline is not None and self._clock() >= self._deadline

    def allow_cleanup(self, seconds: float) -> None:
        """Give one last step (deleting the shell) `seconds` of its own, past the host's deadline if need be."""
        end = self._clock() + seconds
        if self._deadline is None or self._deadline < end:
            self._deadline = end
        self._connect_timeout = min(self._connect_timeout, seconds)
        self._read_timeout = min(self._read_timeout, seconds)

    def abort(self) -> None:
        """Make the worker's blocking call return now: no new requests, every open socket shut down."""
        self._aborted.set()
        self.transport.abort()

    def close(self) -> None:
        """Release the connection (also one an aborted request left behind)."""
        self.transport.close()


def _schemes(header: str) -> str:
    """The auth schemes a WWW-Authenticate header offers (never the tokens that may follow them)."""
    return ", ".join(name for name in auth_schemes(header) if name.isalpha()) or "nothing"


def endpoint(host: Host) -> str:
    """The WinRM URL of `host` (an IPv6 address in brackets), as pypsrp writes it into wsa:To."""
    server = host.address
    try:
        server = f"[{ipaddress.IPv6Address(server).compressed}]"
    except ValueError:
        pass
    return f"{host.scheme}://{server}:{host.port}/wsman"


# one TLS context per setting for the whole run (loading a CA bundle costs milliseconds; a context is thread-safe)
@functools.lru_cache(maxsize=16)
def _tls_context(verify: bool | str, legacy: bool) -> Any:
    return client_context(verify, legacy=legacy, default_ca=default_ca_bundle())


def _missing_for(host: Host, username: Any, password: str | None) -> str | None:
    """What the host's auth method needs and was not given (pypsrp's own checks, made before any traffic)."""
    if host.auth == "certificate":
        if not (host.cert_pem and host.cert_key_pem):
            return "certificate auth needs the client certificate and its key (cert_pem, cert_key_pem)"
        return None if host.scheme == "https" else "certificate auth needs HTTPS"
    if host.auth in ("basic", "credssp") and (username is None or password is None):
        return f"{host.auth} auth needs a user name and a password"
    return None


def _build(owner: HostSession, host: Host, options: SessionOptions) -> tuple[SessionWSMan, Transport]:
    """The WSMan and the transport for `host` with cmaudit's transport policy."""
    https = host.scheme == "https"
    auth = host.auth
    encryption = message_encryption(host)
    if encryption == "never" and not options.insecure:  # an auth that cannot encrypt, over plain HTTP
        raise HostError(host.name, f"{auth} authentication over HTTP is refused (use HTTPS or --insecure)")
    verify: bool | str = False if options.insecure else (options.ca_file or True)
    kwargs: dict[str, Any] = {}
    if auth == "certificate":
        kwargs.update(certificate_pem=host.cert_pem, certificate_key_pem=host.cert_key_pem)
    if auth in ("negotiate", "kerberos"):
        # The SPN names the server, not where we connect: Kerberos to an IP address has no SPN.
        kwargs.update(negotiate_service=options.spn_service, negotiate_hostname_override=host.name)
    username: Any = host.username or options.username
    password = options.password
    if options.credential is not None:
        username, password = options.credential, None
    missing = _missing_for(host, username, password)
    if missing:  # checked here, not left to pypsrp's lazy session build: the same refusal on every path
        raise HostError(host.name, f"cannot set up {auth} authentication: {missing}")
    try:
        with WSMAN_CONSTRUCTION:  # see pypsrp_compat.WSMAN_CONSTRUCTION: pypsrp edits a process-wide registry
            wsman = SessionWSMan(owner, host.address, port=host.port, ssl=https, auth=auth, username=username,
                                 password=password, cert_validation=verify, encryption=encryption,
                                 connection_timeout=options.connect_timeout, read_timeout=owner._read_timeout,
                                 operation_timeout=options.operation_timeout,
                                 max_envelope_size=options.max_envelope_size, no_proxy=True,
                                 # cmaudit retries whole hosts itself, with its own backoff and deadline
                                 reconnection_retries=0, reconnection_backoff=0.0, **kwargs)
    except ValueError as exc:  # pypsrp's own validation of auth/encryption combinations
        raise HostError(host.name, f"cannot build the WinRM session: {exc}") from None
    tls = functools.partial(_tls_context, verify, host.tls == "legacy") if https else None
    max_reply = 2 * options.max_envelope_size + REPLY_SLACK
    if options.transport != "requests" and auth in OWN_AUTHS:
        if auth == "ntlm":  # what pypsrp names in NTLM's target info: the URL's host, service "host"
            spn_host, spn_service = host.address, "host"
        else:
            spn_host, spn_service = host.name, options.spn_service
        transport: Transport = HTTPTransport(
            endpoint=endpoint(host), address=host.address, port=host.port, path="wsman", auth=auth,
            username=username, password=password, encrypt=encryption == "always", tls=tls, spn_host=spn_host,
            spn_service=spn_service, max_reply=max_reply, verify=verify)
        return wsman, transport
    try:
        return wsman, RequestsTransport(wsman.transport, address=host.address, max_reply=max_reply, tls=tls)
    except (ValueError, ImportError) as exc:  # missing client certificate, requests-credssp absent, ...
        raise HostError(host.name, f"cannot set up {host.auth} authentication: {exc}") from None


