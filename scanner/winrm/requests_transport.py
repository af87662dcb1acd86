"""pypsrp's requests transport behind cmaudit's seam: CredSSP and certificate auth (and `transport=requests`).

CredSSP runs TLS inside HTTP (requests-credssp) and certificate auth puts a client certificate into requests' TLS
set-up: both stay pypsrp's, through the transport object pypsrp's public WSMan builds. This adapter gives it the
seam's shape (scanner.winrm.transport.Transport): the host's deadline as each request's timeouts, abort from
another thread, and requests', urllib3's and pypsrp's exceptions turned into cmaudit's transport errors here,
the one place that knows them.

Before the first request the requests session is instrumented like cmaudit's own transport behaves: no
environment proxy, the TLS policy of scanner.winrm.tls (legacy TLS for a `tls=legacy` host), a bound on the
reply read before requests buffers it, the session's trace of each reply, and every connection urllib3 opens
learnt so `abort()` can shut it down. That needs pypsrp internals (scanner.winrm.pypsrp_compat); when a pypsrp
release changes them the transport runs as pypsrp builds it, after one debug line saying so.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from requests_credssp.exceptions import AuthenticationException as CredSSPRefused
from requests_credssp.exceptions import NTStatusException

from scanner.winrm import pypsrp_compat
from scanner.winrm.logon import auth_schemes
from scanner.winrm.transport import (
    BadReply,
    Headers,
    HTTPStatus,
    LogonFailed,
    LogonRejected,
    NetworkError,
    Reply,
    SchemeNotOffered,
    Timeouts,
    TLSFailed,
    TransportError,
    library_text,
    network_error,
)

_RESET_NAMES = ("RemoteDisconnected", "IncompleteRead", "ProtocolError", "ClosedMidReply")
# requests-credssp and pypsrp say what happened only in their messages (no field): the step a bare 401 answered,
# the schemes a server offered. CredSSP sends NTLM's AUTHENTICATE (the password's proof) with the public key
# exchange, and the password itself with the credential exchange; its TLS handshake and "Authentication N" legs
# carry no password.
_CREDSSP_STEP = re.compile(r"after step (?P<step>[A-Za-z0-9 ]+?) - actual")
_CREDSSP_PROOF_STEPS = frozenset({"Public key exchange", "Credential exchange"})
_OFFERED = re.compile(r"actual: ?'(?P<offered>[^']*)'")
_NOT_OFFERED = ("did not response with one of the following authentication methods",
                "did not response CredSSP being an available authentication method")


def default_ca_bundle() -> str:
    """The CA bundle requests verifies against when none is given (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, certifi)."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH


class TLSContextAdapter(HTTPAdapter):
    """An HTTPS adapter that hands urllib3 cmaudit's TLS context (requests' documented way to use a custom one),
    built on the first connection (a CA file that cannot be read fails that connection, not the set-up)."""

    def __init__(self, context: Callable[[], ssl.SSLContext], **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        try:
            pool_kwargs["ssl_context"] = self._context()  # type: ignore[typeddict-unknown-key]
        except OSError as exc:
            raise requests.ConnectionError(exc) from exc
        return host_params, pool_kwargs


class RequestsTransport:
    """pypsrp's `WSMan.transport` (requests and urllib3) as a scanner.winrm.transport.Transport."""

    def __init__(self, pypsrp_transport: Any, *, address: str, max_reply: int,
                 tls: Callable[[], ssl.SSLContext] | None = None) -> None:
        self._inner = pypsrp_transport
        self.endpoint: str = pypsrp_transport.endpoint
        self.wrap_required: bool = pypsrp_transport.wrap_required
        self._address = address
        self.max_reply = max_reply
        self.on_reply: Callable[[Reply], None] = lambda reply: None  # the session's trace
        self.on_connect: Callable[[socket.socket], None] = lambda sock: None
        self._aborted = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._sent = False  # a request went out (see password_sent)
        self.session: Any = None
        if pypsrp_compat.usable("build_session"):
            self.session = self._instrumented_session(tls)

    @property
    def verify(self) -> bool | str:
        """The certificate check pypsrp was given (True, a CA file, or False for --insecure)."""
        return self.session.verify if self.session is not None else self._inner.cert_validation  # type: ignore[no-any-return]

    @property
    def negotiated_protocol(self) -> str | None:
        return pypsrp_compat.negotiated_protocol(self._inner)

    @property
    def logon_finished(self) -> bool:
        """requests' auth handlers answer a reply only once their logon is done (they raise on a refusal)."""
        return self._sent

    @property
    def password_sent(self) -> bool:
        """Whether a password may have left: requests' auth handlers cannot say which leg carried it, so any
        request of a password logon (CredSSP, or NTLM/Negotiate with transport=requests) counts; a client
        certificate carries none."""
        return self._sent and str(getattr(self._inner, "auth", "")) != "certificate"

    # -- the Transport seam ----------------------------------------------------------------------------------
    def send(self, body: bytes, *, timeouts: Timeouts, read_timeout_retries: int = 0) -> bytes:
        if self._aborted.is_set():
            raise NetworkError(self._address, "other", "aborted")
        self._sent = True
        try:
            reply: bytes = self._inner.send(body, retries_on_read_timeout=read_timeout_retries, timeout=timeouts)
        except TransportError:
            raise
        except Exception as exc:
            error = self._translate(exc)
            if error is None:
                raise  # not the network's: the session reports it as it is
            raise error from exc
        return reply

    def abort(self) -> None:
        self._aborted.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:  # shutdown (not close) wakes a blocked recv() without racing the descriptor's reuse
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Close the pool, then every socket ever opened (an aborted request may have left one behind)."""
        try:
            self._inner.close()
        finally:
            with self._lock:
                sockets, self._sockets = self._sockets, []
            for sock in sockets:
                _force_close(sock)

    # -- instrumentation -------------------------------------------------------------------------------------
    def _instrumented_session(self, tls: Callable[[], ssl.SSLContext] | None) -> Any:
        session = pypsrp_compat.build_requests_session(self._inner)
        # pypsrp read the environment (CA bundle) once; re-reading it on every request costs a scan of os.environ
        # per request and could route a host through an environment proxy.
        session.trust_env = False
        if tls is not None:
            current = session.get_adapter("https://localhost/")
            session.mount("https://", TLSContextAdapter(tls, max_retries=getattr(current, "max_retries", 0)))
        session.hooks["response"].append(self._bound_reply)  # runs before requests reads the body
        pypsrp_compat.track_new_connections(session, self._track, self._refuse_if_aborted)
        return session

    def _refuse_if_aborted(self) -> None:
        if self._aborted.is_set():
            raise NetworkError(self._address, "other", "aborted")

    def _track(self, conn: Any) -> None:
        sock = getattr(conn, "sock", None)
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
        if self._aborted.is_set():
            self.abort()
        self.on_connect(sock)

    def _bound_reply(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """Refuse a reply larger than any envelope we asked for, reading at most that much of it."""
        headers = Headers()
        for name, value in response.headers.items():
            headers.add(name, value)
        declared = response.headers.get("Content-Length")
        size = _declared_size(declared, self.max_reply)
        self.on_reply(Reply(response.status_code, headers, size, response.elapsed.total_seconds()))
        if size is not None:
            if size > self.max_reply:
                response.close()
                raise BadReply(self._address, f"reply of {declared if size > 0 else '?'} bytes exceeds the "
                                              f"{self.max_reply}-byte bound")
            return response
        data = bytearray()
        for chunk in response.iter_content(64 * 1024):
            data += chunk
            if len(data) > self.max_reply:
                response.close()
                raise BadReply(self._address, f"reply without length exceeds the {self.max_reply}-byte bound")
        pypsrp_compat.set_response_body(response, bytes(data))
        return response

    # -- errors ----------------------------------------------------------------------------------------------
    def _translate(self, exc: BaseException) -> TransportError | None:
        """requests', urllib3's and pypsrp's exceptions as cmaudit's transport errors."""
        address = self._address
        if isinstance(exc, AuthenticationError | CredSSPRefused | NTStatusException):
            return self._logon_error(exc)
        if isinstance(exc, WinRMTransportError):
            code = exc.code if isinstance(exc.code, int) else 0
            text = exc.response_text if isinstance(exc.response_text, str) else ""
            return HTTPStatus(address, code, text)
        if isinstance(exc, ValueError) and "incompatible with the specified auth_provider" in str(exc):
            return SchemeNotOffered(address, str(exc), scheme=self._scheme(), offered=())
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return NetworkError(address, "connect-timeout", "connect timed out", cause=exc)
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return NetworkError(address, "read-timeout", "read timed out", cause=exc)
        if isinstance(exc, requests.exceptions.RetryError):
            return HTTPStatus(address, 503, "the WinRM service kept answering with errors")
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return NetworkError(address, "closed-mid-reply", "connection broken mid-reply", cause=exc)
        if isinstance(exc, requests.ConnectionError):
            return _connection_error(address, exc)
        if isinstance(exc, requests.RequestException):
            return BadReply(address, f"HTTP error: {type(exc).__name__}", cause=exc)
        if type(exc).__module__.split(".")[0] == "spnego":
            return LogonFailed(address, f"{type(exc).__name__}: {library_text(exc)}", scheme=self._scheme(),
                               cause=exc)
        return None

    def _logon_error(self, exc: BaseException) -> TransportError:
        """pypsrp's and requests-credssp's logon errors: a scheme not offered, a bare 401 (to the password's proof,
        or to an earlier leg), or the server's NTSTATUS in CredSSP's TSRequest (STATUS_LOGON_FAILURE...)."""
        text, scheme, mechanism = str(exc), self._scheme(), self.negotiated_protocol
        if any(words in text for words in _NOT_OFFERED):
            found = _OFFERED.search(text)
            offered = found.group("offered") if found else ""
            return SchemeNotOffered(self._address, text, scheme=scheme,
                                    offered=tuple(sorted({name.lower() for name in auth_schemes(offered)})))
        if isinstance(exc, NTStatusException):
            return LogonFailed(self._address, f"the server refused the CredSSP logon: {library_text(exc)}",
                               scheme=scheme, mechanism=mechanism, cause=exc)
        step = _CREDSSP_STEP.search(text) if isinstance(exc, CredSSPRefused) else None
        if isinstance(exc, CredSSPRefused) and step is None:  # pyspnego's own error inside (its base_error unset)
            return LogonFailed(self._address, f"{type(exc).__name__}: {library_text(exc)}", scheme=scheme,
                               mechanism=mechanism, cause=exc.__cause__ or exc)
        final = step is None or step.group("step") in _CREDSSP_PROOF_STEPS
        return LogonRejected(self._address, text, scheme=scheme, mechanism=mechanism, final=final)

    def _scheme(self) -> str:
        return str(getattr(self._inner, "auth", "") or "")


def _connection_error(address: str, exc: requests.ConnectionError) -> TransportError:
    root = root_cause(exc)
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(root, ssl.SSLError):
        return TLSFailed(address, str(root or exc), cause=root if isinstance(root, ssl.SSLError) else exc)
    if isinstance(root, TimeoutError):
        return NetworkError(address, "timeout", "connection timed out", cause=root)
    if isinstance(root, OSError):
        return network_error(address, root, connecting=True)
    if type(root).__name__ in _RESET_NAMES:
        return NetworkError(address, "closed-mid-reply", "connection closed by the server mid-reply", cause=root)
    text = str(root)
    if "Name or service not known" in text or "getaddrinfo" in text or "nodename nor servname" in text:
        return NetworkError(address, "dns", text, cause=root)
    return NetworkError(address, "other", text, cause=root)


def root_cause(exc: BaseException) -> BaseException:
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


def _declared_size(declared: str | None, bound: int) -> int | None:
    """The Content-Length as a number of bytes, bound + 1 for anything unreadable or absurdly long."""
    if declared is None:
        return None
    text = declared.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return bound + 1
    return int(text)


def _force_close(sock: socket.socket) -> None:
    """Close the descriptor even if an abandoned HTTP response still holds a makefile() reference to it
    (socket.close() would defer the real close until that reference is gone, and leak it)."""
    try:
        if sock.fileno() != -1:
            socket.close(sock.detach())
    except OSError:
        pass
