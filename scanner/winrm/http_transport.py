"""The HTTP transport cmaudit owns: one keep-alive socket per host, for NTLM, Negotiate, Kerberos and Basic.

It carries the SOAP envelopes of scanner.winrm.session (a scanner.winrm.transport.Transport): the request head
and body in one write (TCP_NODELAY), the head pypsrp's requests transport sent (Host, Accept-Encoding,
User-Agent, Connection: Keep-Alive, Content-Type, Authorization, Content-Length), replies read by
scanner.winrm.http_wire within their bounds. It logs on itself on an empty POST, driving scanner.winrm.logon
(the first POST already carries the first token: no anonymous probe, so one HTTP request fewer per host than
pypsrp's transport), then seals every message with WinRM message encryption over HTTP (pypsrp's
WinRMEncryption; replies read by scanner.winrm.sealing) or binds the logon to the TLS channel over HTTPS
(RFC 5929 tls-server-end-point). HTTP.sys ties a logon to its connection: a new connection logs on again, and a
401 to a request after the logon (the server forgot it) logs on once more before giving up (RefusedAfterLogon:
the server took the password twice, so that 401 is not a rejected password).

Abort: `abort()` shuts the open socket down from another thread (a blocked read returns at once) and refuses
new connections. Errors are scanner.winrm.transport's, with the socket error as the cause.
CredSSP (TLS inside HTTP) and certificate auth (a client certificate in requests' TLS set-up) are not done
here: scanner.winrm.requests_transport carries them.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import spnego
import spnego.channel_bindings
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from pypsrp.encryption import WinRMEncryption

from scanner.winrm.http_wire import Wire, host_header, with_nodelay
from scanner.winrm.logon import LoggedOn, Logon, LogonAnswer, token_for
from scanner.winrm.sealing import unwrap_parts
from scanner.winrm.transport import (
    BadReply,
    Headers,
    HTTPStatus,
    LogonBroken,
    LogonRejected,
    NetworkError,
    RefusedAfterLogon,
    Reply,
    Timeouts,
    TransportError,
    network_error,
)

OWN_AUTHS = ("ntlm", "negotiate", "kerberos", "basic")  # the rest (credssp, certificate) go through requests
USER_AGENT = "Python PSRP Client"  # what pypsrp sends: servers and their logs see the same client
_BOUNDARY = re.compile(r'boundary=["\']?([^"\';]+)')
_UNSAFE_PATH = re.compile(r"[^\x21-\x7e]")  # what http.client refused in a request target, and non-ASCII
_SOAP = "application/soap+xml;charset=UTF-8"


class Aborted(TransportError):
    """The transport was aborted from another thread; the session reports it as its own Aborted."""


def tls_server_end_point(certificate_der: bytes) -> bytes:
    """RFC 5929 channel binding data: the certificate's hash (SHA-256 for MD5/SHA-1 signed ones)."""
    try:
        algorithm = x509.load_der_x509_certificate(certificate_der).signature_hash_algorithm
    except (UnsupportedAlgorithm, ValueError):
        algorithm = None
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(certificate_der)
    return b"tls-server-end-point:" + digest.finalize()


class HTTPTransport:
    """cmaudit's own WinRM transport over one socket per host (see the module docstring)."""

    def __init__(self, *, endpoint: str, address: str, port: int, path: str, auth: str, username: Any,
                 password: str | None, encrypt: bool, tls: Callable[[], ssl.SSLContext] | None, spn_host: str,
                 spn_service: str, max_reply: int, verify: bool | str = True) -> None:
        self.endpoint = endpoint
        self.wrap_required = encrypt  # WinRM message encryption on (HTTP)
        self.verify = verify  # the certificate check the TLS context was built for (HTTPS)
        self.max_reply = max_reply
        self.negotiated_protocol: str | None = None
        self.on_reply: Callable[[Reply], None] = lambda reply: None  # the session's trace
        self.on_connect: Callable[[socket.socket], None] = lambda sock: None
        self._address, self._port, self._path = address, port, "/" + path.lstrip("/")
        self._auth = auth
        self._username, self._password = username, password
        self._tls = tls  # builds the TLS context on the first connection (HTTPS); None for HTTP
        self._spn_host, self._spn_service = spn_host, spn_service
        if _UNSAFE_PATH.search(self._path):
            raise ValueError(f"the WinRM path {self._path!r} has spaces, control or non-ASCII characters")
        self._head = (f"POST {self._path} HTTP/1.1\r\nHost: {host_header(address, port, tls is not None)}\r\n"
                      f"Accept-Encoding: identity\r\nUser-Agent: {USER_AGENT}\r\nConnection: Keep-Alive\r\n")
        self._ssl: ssl.SSLContext | None = None  # built on the first connection (HTTPS)
        self._wire: Wire | None = None
        self._bindings: Any = None  # the channel binding of the connection's certificate (HTTPS)
        self._connections = 0  # connections opened: a new one must log on again
        self._logged_on = -1  # the connection number the logon happened on
        self._context: Any = None
        self._encryption: WinRMEncryption | None = None
        self._aborted = threading.Event()
        self._lock = threading.Lock()
        self._basic = _basic_header(username, password) if auth == "basic" else None
        self.password_sent = False  # see scanner.winrm.transport.Transport.password_sent

    # -- the Transport seam ----------------------------------------------------------------------------------
    def send(self, body: bytes, *, timeouts: Timeouts, read_timeout_retries: int = 0) -> bytes:
        """Post one SOAP envelope; the reply's SOAP (decrypted). Logs on first where the connection needs it."""
        for attempt in (1, 2):
            if self._basic is None and self._logged_on != self._next_connection():
                self._log_on(timeouts)
            try:
                return self._request(body, timeouts)
            except _LoggedOff as gone:
                if attempt == 2:  # the logon was accepted twice: the password is right, the account not let in
                    raise RefusedAfterLogon(self._address, f"the server accepted the logon of {self._user_text()}, "
                                                           "then answered the request with HTTP 401, twice",
                                            scheme="Negotiate", mechanism=self.negotiated_protocol) from gone
                self._logged_on = -1  # the server forgot the logon (a new connection): log on again, once
        raise AssertionError("unreachable")

    @property
    def logon_finished(self) -> bool:
        if self._basic is not None:
            return True  # every Basic request carries the credentials
        return self._context is not None and bool(getattr(self._context, "complete", False))

    def abort(self) -> None:
        self._aborted.set()
        with self._lock:
            wire = self._wire
        if wire is not None:
            try:  # shutdown (not close) wakes a blocked recv() on Linux; the owner closes it
                wire.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if os.name == "nt":  # Windows' select() sleeps through a shutdown: only closing the socket wakes it
                wire.sock.close()

    def close(self) -> None:
        with self._lock:
            wire, self._wire = self._wire, None
        if wire is not None:
            wire.close()

    # -- requests --------------------------------------------------------------------------------------------
    def _request(self, body: bytes, timeouts: Timeouts) -> bytes:
        headers = {"Content-Type": _SOAP}
        if self._basic is not None:
            headers["Authorization"] = self._basic
            self.password_sent = True  # before it leaves: a request that never comes back may have been counted
        elif self._encryption is not None:
            content_type, body = self._encryption.wrap_message(body)
            headers["Content-Type"] = (f'{content_type};protocol="{self._encryption.protocol}";'
                                       'boundary="Encrypted Boundary"')
        status, reply_headers, data = self._round_trip(body, headers, timeouts)
        if status == 401:
            if self._basic is None:
                raise _LoggedOff()
            raise LogonRejected(self._address, f"Failed to authenticate the user {self._user_text()} with basic",
                                scheme="Basic")
        text = self._unwrap(reply_headers, data)
        if status != 200:
            raise HTTPStatus(self._address, status, text.decode("utf-8", "replace"),
                             server=reply_headers.get("Server"))
        return text

    def _unwrap(self, headers: Headers, data: bytes) -> bytes:
        content_type = headers.get("Content-Type", "")
        if content_type.startswith(("multipart/encrypted;", "multipart/x-multi-encrypted;")):
            found = _BOUNDARY.search(content_type)
            if self._context is None or found is None:
                raise BadReply(self._address, "an encrypted reply without a logon or a MIME boundary")
            return unwrap_parts(self._address, self._context, data, found.group(1).encode("ascii", "replace"))
        return data

    # -- logon -----------------------------------------------------------------------------------------------
    def _log_on(self, timeouts: Timeouts) -> None:
        """Run scanner.winrm.logon's legs on an empty POST each, until the server accepts the logon."""
        self._context, self._encryption, self.negotiated_protocol = None, None, None
        self._socket(timeouts)  # connected first: the context binds to this connection's certificate
        logon = Logon(self._address, self._auth, self._new_context, user=self._user_text())
        step: str | LoggedOn = self._first_leg(logon)
        while isinstance(step, str):
            if _carries_password(step):
                self.password_sent = True  # before it leaves: an AUTHENTICATE without an answer may have been counted
            self._socket(timeouts)
            connection = self._connections
            status, headers, data = self._round_trip(b"", {"Authorization": step}, timeouts)
            kept = connection == self._connections and self._wire is not None
            step = logon.answer(LogonAnswer(status, tuple(headers.get_all("WWW-Authenticate")), data, kept,
                                            headers.get("Server")))
        if self.wrap_required and not step.context.complete:
            raise LogonBroken(self._address, "the server accepted the logon without its last token, which message "
                                             "encryption needs", scheme=step.scheme, kind="unfinished",
                              mechanism=step.mechanism)
        self._context = step.context
        self._logged_on = self._connections
        self.negotiated_protocol = step.mechanism
        if self.wrap_required:
            protocol = WinRMEncryption.KERBEROS if step.scheme == "Kerberos" else WinRMEncryption.SPNEGO
            self._encryption = WinRMEncryption(step.context, protocol)

    def _first_leg(self, logon: Logon) -> str:
        """The logon's first token. With a password, Negotiate and Kerberos may ask the KDC for a ticket while it
        is made (Windows' SSPI does): should that never come back (a hung KDC), the password may have been
        counted; a KDC that answers says itself whether it refused the password (scanner.winrm.rejections)."""
        before = self.password_sent
        if self._password is not None and self._auth in ("negotiate", "kerberos"):
            self.password_sent = True
        try:
            return logon.start()
        finally:
            self.password_sent = before

    def _new_context(self, provider: str) -> Any:
        """A pyspnego client context for `provider`, bound to the connection's certificate over HTTPS."""
        options = spnego.NegotiateOptions.wrapping_winrm if self.wrap_required else spnego.NegotiateOptions(0)
        return spnego.client(self._username, self._password, hostname=self._spn_host, service=self._spn_service,
                             channel_bindings=self._bindings, context_req=spnego.ContextReq.default,
                             protocol=provider, options=options)

    def _user_text(self) -> str:
        return self._username if isinstance(self._username, str) else "(credential)"

    def _next_connection(self) -> int:
        """The connection number the next request will go out on (a closed one is replaced first)."""
        return self._connections + 1 if self._wire is None else self._connections

    # -- HTTP ------------------------------------------------------------------------------------------------
    def _socket(self, timeouts: Timeouts) -> socket.socket:
        """The connection's socket, connecting first when there is none (or the last one was closed)."""
        if self._wire is None:
            if self._aborted.is_set():
                raise Aborted(self._address, "aborted")
            if self._tls is not None and self._ssl is None:
                try:
                    self._ssl = self._tls()
                except OSError as exc:  # the CA file cannot be read
                    raise network_error(self._address, exc, connecting=True) from exc
            try:
                wire = self._connect(timeouts[0])
            except OSError as exc:
                raise network_error(self._address, exc, connecting=True) from exc
            with self._lock:
                self._wire = wire
            if self._aborted.is_set():
                self.abort()
        return self._wire.sock

    def _connect(self, timeout: float) -> Wire:
        sock = socket.create_connection((self._address, self._port), timeout)
        try:
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_hostname=self._address)
                der = sock.getpeercert(binary_form=True)
                self._bindings = spnego.channel_bindings.GssChannelBindings(
                    application_data=tls_server_end_point(der)) if der else None
        except BaseException:
            sock.close()
            raise
        self._connections += 1
        with_nodelay(sock)
        self.on_connect(sock)
        return Wire(sock, self._address)

    def _round_trip(self, body: bytes, headers: dict[str, str], timeouts: Timeouts) -> tuple[int, Headers, bytes]:
        """POST `body`; answer (status, headers, body read within the bound)."""
        sock = self._socket(timeouts)
        wire = self._wire
        assert wire is not None
        head = self._head + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        started = time.monotonic()
        try:
            sock.settimeout(timeouts[1])
            sock.sendall(b"%sContent-Length: %d\r\n\r\n%s" % (head.encode("latin-1"), len(body), body))
            status, reply_headers, data, keep_alive = wire.read_reply(self.max_reply)
        except TransportError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            if self._aborted.is_set():
                raise Aborted(self._address, "aborted") from exc
            raise network_error(self._address, exc, connecting=False) from exc
        if not keep_alive:
            self.close()
        self.on_reply(Reply(status, reply_headers, len(data), time.monotonic() - started))
        return status, reply_headers, data


_NTLM_AUTHENTICATE = b"NTLMSSP\x00\x03\x00\x00\x00"


def _carries_password(authorization: str) -> bool:
    """Does this logon leg carry the password's proof (NTLM's AUTHENTICATE, bare or inside SPNEGO; an NTLM hash
    is as good as the password to a domain controller)? A Kerberos token carries a ticket the KDC already gave."""
    token = token_for([authorization], authorization.split(" ", 1)[0]) or b""
    return _NTLM_AUTHENTICATE in token


class _LoggedOff(Exception):
    """A 401 on a request after the logon: the server no longer knows this connection's logon."""


def _basic_header(username: Any, password: str | None) -> str:
    if username is None or password is None:
        raise ValueError("For basic auth, the username and password must be specified")
    raw = f"{username}:{password}".encode("latin-1")  # as requests sends it (the scan checks it fits)
    return "Basic " + base64.b64encode(raw).decode()


__all__ = ["OWN_AUTHS", "Aborted", "HTTPTransport", "NetworkError", "tls_server_end_point"]
