"""One pypsrp WSMan connection per host, built with safe defaults and abortable from another thread.

Safety defaults: message encryption is required on HTTP ("always"), TLS protects HTTPS ("auto"),
certificates are validated (against --ca-file when given). `insecure` is the single escape hatch: it
turns off certificate validation and allows unencrypted Basic over HTTP.

Transports: NTLM, Negotiate, Kerberos and Basic hosts get the lean transport
(scanner.winrm.lean); CredSSP and certificate hosts keep pypsrp's requests/urllib3 transport
(`SessionOptions.transport = "requests"` forces it for every host). Both are hooked the same way here.

pypsrp polls a never-ending command forever, so the session (a) clamps every HTTP timeout to what is left of
the host's deadline and (b) can be aborted from the event-loop thread: `abort()` shuts down every socket it
opened, which wakes a worker blocked in recv() at once.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pypsrp.exceptions import WinRMTransportError, WSManFaultError
from pypsrp.wsman import WSMan

from scanner.model.errors import HostError, HostProtocolError, HostTimeout
from scanner.model.options import DEFAULT_SPN_SERVICE
from scanner.winrm.faults import http_error_without_fault, parse_fault
from scanner.winrm.lean import LEAN_AUTHS, LeanTransport, Reply, auth_schemes, client_context
from scanner.winrm.pypsrp_compat import (
    WSMAN_CONSTRUCTION,
    build_requests_session,
    install_transport,
    invoke,
    negotiated_protocol,
    set_response_body,
    track_new_connections,
    wrap_send_request,
)
from scanner.winrm.tls import legacy_context, use_legacy_tls
from scanner.winrm.transport_policy import message_encryption
from scanner.winrm.winrs import LiftedReply, lift_streams

if TYPE_CHECKING:
    from scanner.model.host import Host

DEFAULT_MAX_ENVELOPE = 153600  # 150 KiB: what Server 2003 R2 / 2008 (R2) accept by default
REPLY_SLACK = 64 * 1024  # MIME framing and signature of an encrypted reply, HTTP error pages
_HOSTILE_XML_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")

log = logging.getLogger(__name__)


def _short(uri: str) -> str:
    """The last part of a WS-Man action or resource URI: .../transfer/Create -> Create."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """How to connect; the password is held only here and never printed (repr=False).

    `credential`: pyspnego credential(s) to log on with instead of username/password (the run's private
    Kerberos ticket cache, see scanner.winrm.kerberos.PrivateTicket). `spn_service`: the SPN's service class
    for Negotiate/Kerberos; the SPN's host is always the inventory's host name, never the address.
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
    transport: str = "auto"  # "auto": the lean transport where the auth allows it; "requests": pypsrp's
    # called once, from the worker thread, when the first WS-Management reply (or fault) came: the logon worked
    on_logon: Callable[[], None] | None = field(default=None, repr=False, compare=False)


class Aborted(HostTimeout):
    """The session was aborted from outside (deadline passed or the run is stopping)."""


class _CountingWSMan(WSMan):
    """WSMan that counts its WS-Management requests (HostResult.requests)."""

    def __init__(self, owner: HostSession, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner
        # LeanWinRS sets lift_next around a Receive; the session then parses that reply without its stream
        # text and leaves the text here (scanner.winrm.winrs.lift_streams says when that is exact)
        self.lift_next = False
        self.lifted: LiftedReply | None = None

    def invoke(self, action: str, resource_uri: str, resource: ET.Element | None, option_set: Any = None,
               selector_set: Any = None, timeout: int | None = None, *, retries_on_read_timeout: int = 0) -> Any:
        """pypsrp's invoke with a faster writing of the envelope (pypsrp_compat.invoke), counted and traced."""
        self._owner.requests += 1
        host, started = self._owner.host.name, time.monotonic()
        try:
            reply = invoke(self, action, resource_uri, resource, option_set, selector_set, timeout,
                           retries_on_read_timeout=retries_on_read_timeout)
        except WSManFaultError as exc:
            log.debug("%s: WS-Man %s %s -> fault %s: %s (%.0f ms)", host, _short(action), _short(resource_uri),
                      exc.code, " ".join(str(exc.reason or "").split())[:300], (time.monotonic() - started) * 1000)
            self._owner.logged_on()  # a fault is an answer to a logged-on request (without a logon: HTTP 401)
            raise
        except Exception as exc:
            log.debug("%s: WS-Man %s %s -> %s (%.0f ms)", host, _short(action), _short(resource_uri),
                      type(exc).__name__, (time.monotonic() - started) * 1000)
            raise
        log.debug("%s: WS-Man %s %s ok (%.0f ms)", host, _short(action), _short(resource_uri),
                  (time.monotonic() - started) * 1000)
        self._owner.logged_on()
        return reply


class HostSession:
    """A host's WSMan connection: request counting, deadline-clamped timeouts, thread-safe abort."""

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
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._logon_logged = False
        self._on_logon = options.on_logon
        self.wsman = _build_wsman(self, host, options)
        self._connect_timeout: float = self.wsman.transport.connection_timeout
        self._read_timeout: float = self.wsman.transport.read_timeout
        self._instrument()

    # -- called from the worker thread ------------------------------------------------------------
    def logged_on(self) -> None:
        """A WS-Management reply or fault came back: tell `on_logon` once (the account's other hosts may start)."""
        callback, self._on_logon = self._on_logon, None
        if callback is not None:
            callback()

    def _before_request(self) -> None:
        """Runs before every HTTP request (pypsrp's own read-timeout retries included)."""
        if self._aborted.is_set():
            raise Aborted(self.host.name, "aborted")
        transport: Any = self.wsman.transport
        if self._deadline is not None:
            left = self._deadline - self._clock()
            if left <= 0:
                raise HostTimeout(self.host.name, "per-host deadline reached")
            transport.connection_timeout = min(self._connect_timeout, left)
            transport.read_timeout = min(self._read_timeout, left)

    def _instrument(self) -> None:
        """Hook the transport: abort() must reach every socket, the reply bound and the trace every reply."""
        transport: Any = self.wsman.transport
        if isinstance(transport, LeanTransport):
            transport.before_connect = self._refuse_if_aborted
            transport.on_connect = self._track_sock
            transport.on_reply = self._lean_reply
            self._max_reply = transport.max_reply
            wrap_send_request(transport, self._guard_send)
            return
        try:
            session = build_requests_session(transport)
        except (ValueError, ImportError) as exc:  # missing client certificate, requests-credssp absent, ...
            raise HostError(self.host.name, f"cannot set up {self.host.auth} authentication: {exc}") from None
        # _build_session has read the environment (CA bundle) once; re-reading it on every request costs
        # a scan of os.environ per request and could route a host through an environment proxy.
        session.trust_env = False
        if self.host.scheme == "https" and self.host.tls == "legacy":
            use_legacy_tls(session, session.verify)  # this host only, because the inventory says so
        # Runs before requests reads the body: a hostile server cannot make us buffer 50 MB.
        self._max_reply = 2 * self.wsman.max_envelope_size + REPLY_SLACK
        session.hooks["response"].append(self._bound_reply)
        track_new_connections(session, self._track_socket, self._refuse_if_aborted)
        wrap_send_request(transport, self._guard_send)

    def _refuse_if_aborted(self) -> None:
        if self._aborted.is_set():
            raise Aborted(self.host.name, "aborted")

    def _track_socket(self, conn: Any) -> None:
        sock = getattr(conn, "sock", None)
        if sock is not None:
            self._track_sock(sock)

    def _track_sock(self, sock: Any) -> None:
        if sock is not None:
            with self._lock:
                self._sockets.append(sock)
            if self._aborted.is_set():
                _shutdown(sock)
            if log.isEnabledFor(logging.DEBUG):
                self._log_connection(sock)

    def _log_connection(self, sock: Any) -> None:
        try:
            peer = sock.getpeername()
            tls = f"{sock.version()} {sock.cipher()[0]}" if hasattr(sock, "version") else "plain HTTP"
        except (OSError, TypeError, IndexError):
            peer, tls = ("?", 0), "?"
        log.debug("%s: connected to %s:%s (%s)", self.host.name, peer[0], peer[1], tls)

    def _guard_send(self, send_request: Callable[..., bytes]) -> Callable[..., bytes]:
        def guarded_send(request: Any, timeout: Any = None) -> bytes:
            self._before_request()
            started = time.monotonic()
            try:
                reply: bytes = send_request(request, timeout=timeout)
            except WinRMTransportError as exc:
                log.debug("%s: HTTP %s after %.0f ms", self.host.name, exc.code, (time.monotonic() - started) * 1000)
                plain = http_error_without_fault(exc, self.host.name, server=self.last_server, target=self.target)
                if plain is not None:
                    raise plain from None
                fault = parse_fault(exc.response_text) if isinstance(exc.response_text, str) else None
                if fault is not None:
                    log.debug("%s: WS-Management fault %s (%s)", self.host.name, fault.code, fault.subcode or "")
                    raise fault from None  # pypsrp lets a WSManFaultError through; ours keeps nested reasons
                raise HostProtocolError(self.host.name, f"malformed XML in an HTTP {exc.code} fault reply") from None
            if not self._logon_logged:
                self._logon_logged = True
                transport: Any = self.wsman.transport
                log.debug("%s: logged on with %s as %s", self.host.name,
                          getattr(transport, "negotiated_protocol", None) or negotiated_protocol(transport)
                          or self.host.auth,
                          self.host.username or "the configured account")
            if self.wsman.lift_next:  # a Receive: the parser gets the reply without its stream text
                self.wsman.lifted = lifted = lift_streams(reply)
                if lifted is not None:
                    reply = lifted.stripped  # all of the markup, and nothing of "<!" (or it is not lifted)
            # pypsrp parses replies with the stdlib parser: refuse DTDs/entities before it sees them.
            if b"<!" in reply and any(marker in reply for marker in _HOSTILE_XML_MARKERS):
                raise HostProtocolError(self.host.name, "reply carries a DTD or entity declarations; refused")
            return reply

        return guarded_send

    def _log_reply(self, status: int, headers: Any, size: str, elapsed_s: float) -> None:
        if log.isEnabledFor(logging.DEBUG):
            offered = ", ".join(headers.get_all("WWW-Authenticate") or []) if hasattr(headers, "get_all") \
                else headers.get("WWW-Authenticate", "")
            offered = offered if status == 401 else ""
            log.debug("%s: HTTP %s, %s bytes, %s, %.0f ms%s", self.host.name, status, size,
                      headers.get("Content-Type", "no body"), elapsed_s * 1000,
                      f"; offers {_schemes(offered)}" if offered else "")

    def _lean_reply(self, reply: Reply) -> None:
        self.last_server = reply.headers.get("Server")
        self._log_reply(reply.status, reply.headers, str(reply.size), reply.elapsed)

    def _bound_reply(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """Refuse a reply larger than any envelope we asked for, reading at most that much of it."""
        self.last_server = response.headers.get("Server")
        limit = self._max_reply
        declared = response.headers.get("Content-Length")
        self._log_reply(response.status_code, response.headers, declared if declared is not None else "?",
                        response.elapsed.total_seconds())
        if declared is not None:
            size = int(declared) if declared.strip().isdigit() else limit + 1
            if size > limit:
                response.close()
                raise HostProtocolError(self.host.name, f"reply of {size} bytes exceeds the {limit}-byte bound")
            return response
        data = bytearray()
        for chunk in response.iter_content(64 * 1024):
            data += chunk
            if len(data) > limit:
                response.close()
                raise HostProtocolError(self.host.name, f"reply without length exceeds the {limit}-byte bound")
        set_response_body(response, bytes(data))
        return response

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
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def close(self) -> None:
        """Close the connection pool, then every socket ever opened (an aborted request may have left one)."""
        try:
            self.wsman.close()
        finally:
            with self._lock:
                sockets, self._sockets = self._sockets, []
            for sock in sockets:
                _force_close(sock)


# one legacy TLS context per certificate setting for the whole run (loading a CA bundle costs milliseconds)
_legacy_context = functools.lru_cache(maxsize=8)(legacy_context)


def _schemes(header: str) -> str:
    """The auth schemes a WWW-Authenticate header offers (never the tokens that may follow them)."""
    return ", ".join(name for name in auth_schemes(header) if name.isalpha()) or "nothing"


def _shutdown(sock: socket.socket) -> None:
    # shutdown (not close) wakes a blocked recv() on Linux and Windows without racing the fd's reuse;
    # the owning thread closes it as usual.
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _force_close(sock: socket.socket) -> None:
    """Close the descriptor even if an abandoned HTTP response still holds a makefile() reference to it
    (socket.close() would defer the real close until that reference is gone, and leak it)."""
    try:
        if sock.fileno() != -1:
            socket.close(sock.detach())
    except OSError:
        pass


def _build_wsman(owner: HostSession, host: Host, options: SessionOptions) -> _CountingWSMan:
    """The WSMan for `host` with cmaudit's transport policy."""
    https = host.scheme == "https"
    auth = host.auth
    encryption = message_encryption(host)
    if encryption == "never" and not options.insecure:  # an auth that cannot encrypt, over plain HTTP
        raise HostError(host.name, f"{auth} authentication over HTTP is refused (use HTTPS or --insecure)")
    cert_validation: bool | str = True
    if options.insecure:
        cert_validation = False
    elif options.ca_file:
        cert_validation = options.ca_file
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
    read_timeout = max(options.read_timeout, options.operation_timeout + 2)
    try:
        with WSMAN_CONSTRUCTION:  # see pypsrp_compat.WSMAN_CONSTRUCTION: pypsrp edits a process-wide registry
            wsman = _CountingWSMan(
                owner,
                host.address,
                port=host.port,
                ssl=https,
                auth=auth,
                username=username,
                password=password,
                cert_validation=cert_validation,
                encryption=encryption,
                connection_timeout=options.connect_timeout,
                read_timeout=read_timeout,
                operation_timeout=options.operation_timeout,
                max_envelope_size=options.max_envelope_size,
                no_proxy=True,
                # cmaudit retries whole hosts itself, with its own backoff and deadline; no sleeps in pypsrp
                reconnection_retries=0,
                reconnection_backoff=0.0,
                **kwargs,
            )
    except ValueError as exc:  # pypsrp's own validation of auth/encryption combinations
        raise HostError(host.name, f"cannot build the WinRM session: {exc}") from None
    if options.transport != "requests" and auth in LEAN_AUTHS:
        old_transport: Any = wsman.transport
        if auth == "ntlm":  # what pypsrp names in NTLM's target info: the URL's host, service "host"
            spn_host, spn_service = host.address, "host"
        else:
            spn_host, spn_service = host.name, options.spn_service
        install_transport(wsman, LeanTransport(
            endpoint=old_transport.endpoint, address=host.address, port=host.port, path=old_transport.path,
            auth=auth, username=username, password=password, encrypt=old_transport.wrap_required,
            tls=functools.partial(_legacy_context if host.tls == "legacy" else client_context, cert_validation)
            if https else None, spn_host=spn_host,
            spn_service=spn_service, connection_timeout=options.connect_timeout, read_timeout=read_timeout,
            max_reply=2 * options.max_envelope_size + REPLY_SLACK, verify=cert_validation))
    return wsman
