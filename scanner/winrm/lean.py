"""The lean keep-alive HTTP transport under pypsrp's WSMan: one socket per host, its replies read by
httptools (llhttp, Node.js's HTTP parser, in C), NTLM/Negotiate/Kerberos (or Basic) and WinRM message
encryption done here.

pypsrp stays the WS-Management/WinRS layer (envelopes, shells, commands, faults); this replaces only what
carries its bytes: pypsrp's `_TransportHTTP` with requests, urllib3 and their auth hooks. Why httptools
(bench/bench_cpu.py `http_clients`: keep-alive POSTs with a 150 KB reply, CPU per POST, best of interleaved
runs; and instructions per POST under callgrind): requests 0.6 ms; http.client 0.13 ms, 358k instructions,
nearly all of them email.parser's header parsing and HTTPMessage look-ups; h11 (pure Python) 0.2-0.3 ms,
1,159k; httptools 0.06 ms, 334k; hand-written framing 0.06 ms, 252k. Of httptools' 334k, 307k are copies of
the body (llhttp hands it over in pieces, which are joined), 27k the parsing, against 32k of Python for
hand framing that reads Content-Length replies only. So the parsing of what a possibly hostile server sends
is llhttp's (strict about status lines, field syntax, Content-Length/Transfer-Encoding conflicts and chunk
sizes); ours are the request head (a fixed POST) and the bounds. What it keeps from the old path:
- the same requests per WS-Man action, and one fewer per host: no anonymous probe POST; the first request
  carries the first security token (the WWW-Authenticate of the 401 tells which schemes a server takes);
- message encryption with pypsrp's own `WinRMEncryption` (MS-WSMV multipart/encrypted) over HTTP, channel
  binding (RFC 5929 tls-server-end-point) over HTTPS, the Kerberos scheme where a server offers only that;
- the request head and body in one write (TCP_NODELAY), the head pypsrp's transport sent (Host, User-Agent,
  Connection: Keep-Alive, Content-Type, Authorization, Content-Length);
- replies: Content-Length, chunked or ended by closing the connection; interim 1xx replies read past, a 101
  refused; at most `max_reply` bytes of body (a larger declared one refused before it is read, an undeclared
  one as soon as it passes the bound), MAX_HEAD bytes of head and MAX_FIELDS fields. A reply llhttp cannot
  parse (a folded header line too: obs-fold, which HTTP.sys never sends) is a HostProtocolError naming the
  host; a connection the server ends (Connection: close, HTTP/1.0, bytes after the reply) is not used again:
  the next request opens a new one and logs on again;
- the deadline (the owner lowers connection_timeout/read_timeout before each request: socket timeouts) and
  abort (the owner learns each socket through `on_connect` and shuts it down from another thread: a blocked
  read returns);
- the same exceptions as pypsrp's requests transport (requests' ConnectionError/ConnectTimeout/ReadTimeout/
  SSLError with the socket error as cause, pypsrp's AuthenticationError and WinRMTransportError), so
  scanner.winrm.faults translates both transports alike and WSMan parses faults as before.

Which hosts use it: ntlm, negotiate, kerberos (HTTP and HTTPS) and basic (HTTPS, or HTTP with --insecure).
CredSSP (requests-credssp's TLS-in-HTTP exchange) and certificate auth (a client certificate in requests'
TLS set-up) stay on pypsrp's requests transport.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

import httptools
import requests
import spnego
import spnego.channel_bindings
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from pypsrp.encryption import WinRMEncryption
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError

from scanner.model.errors import HostProtocolError

LEAN_AUTHS = ("ntlm", "negotiate", "kerberos", "basic")  # the rest (credssp, certificate) stay on requests
USER_AGENT = "Python PSRP Client"  # what pypsrp sends: servers and their logs see the same client
_BOUNDARY = re.compile(r'boundary=["\']?([^"\';]+)')
_ORIGINAL_LENGTH = re.compile(rb"Length=(\d+)")
_SCHEMES = ("Negotiate", "Kerberos", "NTLM")
_RECV = 64 * 1024  # one recv_into(): also how far past a bound a hostile reply gets before it is refused
MAX_HEAD = 64 * 1024  # status lines and header fields before the final reply's head (interim 1xx ones included)
MAX_FIELDS = 100  # header fields in one reply (http.client's limit); HTTP.sys sends fewer than 10
_UNSAFE_PATH = re.compile(r"[^\x21-\x7e]")  # what http.client refused in a request target, and non-ASCII


class Headers:
    """A reply's header fields as the session and the logon read them: `get` (the first value) and `get_all`,
    names case-insensitive, values decoded as Latin-1 (as http.client did). One dict look-up per question."""

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
    """One HTTP answer, for the owner's trace: status, headers, body size and time taken."""

    status: int
    headers: Headers
    size: int
    elapsed: float


@dataclass(slots=True)
class Request:
    """One HTTP exchange: a body (the SOAP envelope, or empty for the logon set-up) and what it is for."""

    body: bytes
    handshake: bool = False


class ClosedMidReply(ConnectionError):
    """The server closed the connection before its reply was complete."""


class _Wire:
    """One connection (TCP, or TLS over it) and llhttp's parser of the replies on it.

    The parser calls the on_* methods back while `read_reply` feeds it what recv_into() got; they only take
    notes, and `read_reply` checks the bounds after each feed: at most one recv (64 KiB) past a bound is read.
    """

    def __init__(self, sock: socket.socket, host: str) -> None:
        self.sock = sock
        self._host = host  # for the errors: the address the inventory gave
        self._buffer = bytearray(_RECV)
        self._parser = httptools.HttpResponseParser(self)
        self._reset()
        self._message()

    def _reset(self) -> None:
        """Before each request: nothing of the reply read yet."""
        self._received = 0  # bytes read for this reply (interim 1xx replies included)
        self._final = False  # the final (not 1xx) reply's head is complete
        self._done = False
        self._switched = False

    def _message(self) -> None:
        """At the start of each reply on the wire (an interim 1xx one is followed by the final one)."""
        self._status = 0
        self._headers = Headers()
        self._fields = 0
        self._declared: int | None = None
        self._chunked = False
        self._keep_alive = True
        self._chunks: list[bytes] = []
        self._size = 0

    # -- llhttp's callbacks ----------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._done:
            raise _AfterReply()  # bytes after the reply: stop here, the connection is not used again
        self._message()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._final:
            return  # a chunked reply's trailer fields: not kept (nor did http.client keep them)
        self._fields += 1
        if self._fields <= MAX_FIELDS:
            self._headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._status = status
        if 100 <= status < 200 and status != 101:
            return  # an interim reply (100 Continue, 102 Processing...): the final one follows
        self._final = True
        self._switched = status == 101
        declared = self._headers.get("Content-Length")
        self._declared = int(declared) if declared is not None else None  # digits: llhttp checked them
        coding = self._headers.get("Transfer-Encoding")
        self._chunked = coding is not None and coding.rsplit(",", 1)[-1].strip().lower() == "chunked"
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)

    def on_message_complete(self) -> None:
        if self._final:
            self._done = True

    # -- one reply -------------------------------------------------------------------------------------------
    def read_reply(self, bound: int) -> tuple[int, Headers, bytes, bool]:
        """(status, headers, body, whether the connection may carry the next request). Raises
        HostProtocolError for a malformed reply or one past a bound, OSError when the connection fails."""
        self._reset()
        view = memoryview(self._buffer)
        recv_into, feed = self.sock.recv_into, self._parser.feed_data
        while not self._done:
            got = recv_into(self._buffer)
            if not got:
                if self._final and self._declared is None and not self._chunked:
                    self._keep_alive = False
                    break  # a reply that ends with the connection (neither Content-Length nor chunked)
                if self._received == 0:
                    raise ConnectionResetError("the server closed the connection without a reply")
                raise ClosedMidReply("the server closed the connection in the middle of its reply")
            self._received += got
            try:
                feed(view[:got])
            except httptools.HttpParserUpgrade:
                pass  # 101 Switching Protocols: refused below
            except httptools.HttpParserError as exc:
                if not self._done:
                    raise HostProtocolError(self._host, f"malformed HTTP reply: {exc}") from None
                self._keep_alive = False  # something after the reply: start the next request afresh
            self._check(bound)
        return self._status, self._headers, b"".join(self._chunks), self._keep_alive

    def _check(self, bound: int) -> None:
        if self._fields > MAX_FIELDS:
            raise HostProtocolError(self._host, f"reply with more than {MAX_FIELDS} header fields")
        if not self._final:
            if self._received > MAX_HEAD:
                raise HostProtocolError(self._host, f"reply headers exceed {MAX_HEAD} bytes")
            return
        if self._switched:
            raise HostProtocolError(self._host, "the server switched protocols (HTTP 101) on a WinRM request")
        if self._declared is not None and self._declared > bound:
            raise HostProtocolError(self._host, f"reply of {self._declared} bytes exceeds the {bound}-byte bound")
        if self._size > bound:
            raise HostProtocolError(self._host, f"reply without length exceeds the {bound}-byte bound")
        if self._received > bound + bound // 4 + MAX_HEAD + _RECV:
            # what is not body: chunk framing and a chunked reply's trailer (llhttp gathers a field whole before
            # handing it over), bounded too, so tiny chunks or an endless trailer cannot grow without end
            raise HostProtocolError(self._host, f"reply framing exceeds the {bound}-byte bound (chunk sizes or "
                                                "trailer fields)")

    def close(self) -> None:
        """Once: the socket, and the parser's reference back to this object (freed now, not by a later GC)."""
        self.sock.close()
        del self._parser


class _AfterReply(Exception):
    """Raised from llhttp's callback when a second message starts after the reply."""


@functools.lru_cache(maxsize=16)
def client_context(verify: bool | str) -> ssl.SSLContext:
    """The TLS client context for `verify` as pypsrp/requests take it (True: the CA bundle requests would use,
    a path: that CA file, False: --insecure). One per setting for the whole run: loading a CA bundle costs
    milliseconds of CPU, and an SSLContext is safe to share between threads."""
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        verify = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                  or requests.utils.DEFAULT_CA_BUNDLE_PATH)
    return ssl.create_default_context(cafile=verify)


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


class LeanTransport:
    """What pypsrp's WSMan needs of a transport (`send`, `endpoint`, `close`), over one socket per host."""

    def __init__(self, *, endpoint: str, address: str, port: int, path: str, auth: str, username: Any,
                 password: str | None, encrypt: bool, tls: Callable[[], ssl.SSLContext] | None, spn_host: str,
                 spn_service: str, connection_timeout: float, read_timeout: float, max_reply: int,
                 verify: bool | str = True) -> None:
        self.endpoint = endpoint
        self.wrap_required = encrypt  # as pypsrp's transport names it: WinRM message encryption on
        self.verify = verify  # the certificate check the TLS context was built for (HTTPS)
        self.connection_timeout = connection_timeout
        self.read_timeout = read_timeout
        self.max_reply = max_reply
        self.negotiated_protocol: str | None = None
        # set by the owner (scanner.winrm.session.HostSession)
        self.before_connect: Callable[[], None] = lambda: None
        self.on_connect: Callable[[socket.socket], None] = lambda sock: None
        self.on_reply: Callable[[Reply], None] = lambda reply: None
        self._address, self._port, self._path = address, port, "/" + path.lstrip("/")
        self._auth = auth
        self._username, self._password = username, password
        self._encrypt = encrypt
        self._tls = tls  # builds the TLS context on the first connection (HTTPS); None for HTTP
        self._spn_host, self._spn_service = spn_host, spn_service
        if _UNSAFE_PATH.search(self._path):
            raise ValueError(f"the WinRM path {self._path!r} has spaces, control or non-ASCII characters")
        self._head = (f"POST {self._path} HTTP/1.1\r\nHost: {_host_header(address, port, tls is not None)}\r\n"
                      f"Accept-Encoding: identity\r\nUser-Agent: {USER_AGENT}\r\nConnection: Keep-Alive\r\n")
        self._ssl: ssl.SSLContext | None = None  # built on the first connection (HTTPS)
        self._wire: _Wire | None = None
        self._connections = 0  # connections opened: a new one must log on again (HTTP.sys ties it to one)
        self._logged_on = -1  # the connection number the logon happened on
        self._context: Any = None
        self._encryption: WinRMEncryption | None = None
        if auth == "basic":
            if username is None or password is None:
                raise ValueError("For basic auth, the username and password must be specified")
            raw = f"{username}:{password}".encode("latin-1")  # as requests sends it (run_scan checks it fits)
            self._basic: str | None = "Basic " + base64.b64encode(raw).decode()
        else:
            self._basic = None

    # -- pypsrp's transport interface ------------------------------------------------------------------------
    def send(self, message: bytes, *, retries_on_read_timeout: int = 0,
             timeout: float | tuple[float, float] | None = None) -> bytes:
        """Send one SOAP envelope and answer the reply's SOAP (decrypted); logs on first where needed."""
        for attempt in (1, 2):
            if self._basic is None and self._logged_on != self._connections_after_reuse():
                self._send_request(Request(b"", handshake=True), timeout=timeout)
            try:
                return self._send_request(Request(message), timeout=timeout)
            except _LoggedOff:
                if attempt == 2:
                    raise AuthenticationError(f"Failed to authenticate the user {self._user_text()} with "
                                              f"{self._auth}") from None
                self._logged_on = -1  # the server forgot the logon (a new connection): log on again, once
        raise AssertionError("unreachable")

    def close(self) -> None:
        wire, self._wire = self._wire, None
        if wire is not None:
            wire.close()

    # -- one exchange (HostSession wraps this: deadline, abort, DTD refusal) ---------------------------------
    def _send_request(self, request: Request, timeout: float | tuple[float, float] | None = None) -> bytes:
        read_timeout = self.read_timeout
        if isinstance(timeout, int | float) and timeout > 0:
            read_timeout = min(read_timeout, float(timeout))
        if request.handshake:
            self._log_on(read_timeout)
            return b""
        headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
        body = request.body
        if self._basic is not None:
            headers["Authorization"] = self._basic
        elif self._encrypt:
            assert self._encryption is not None
            content_type, body = self._encryption.wrap_message(body)
            headers["Content-Type"] = (f'{content_type};protocol="{self._encryption.protocol}";'
                                       'boundary="Encrypted Boundary"')
        status, reply_headers, data = self._round_trip(body, headers, read_timeout)
        if status == 401:
            if self._basic is None:
                raise _LoggedOff()
            raise AuthenticationError(f"Failed to authenticate the user {self._user_text()} with {self._auth}")
        text = self._unwrap(reply_headers, data)
        if status != 200:
            raise WinRMTransportError("http", status, text.decode("utf-8", "replace"))
        return text

    def _unwrap(self, headers: Headers, data: bytes) -> bytes:
        content_type = headers.get("Content-Type", "")
        if content_type.startswith(("multipart/encrypted;", "multipart/x-multi-encrypted;")):
            found = _BOUNDARY.search(content_type)
            if self._context is None or found is None:
                raise HostProtocolError(self._address, "an encrypted reply without a logon or a MIME boundary")
            return unwrap_parts(self._context, data, found.group(1).encode("ascii", "replace"))
        return data

    # -- logon ---------------------------------------------------------------------------------------------
    def _log_on(self, read_timeout: float) -> None:
        """NTLM/Negotiate/Kerberos on an empty POST, token by token, until the server accepts the logon.

        The first POST already carries the first token (no anonymous probe). When the server does not offer
        the scheme (`WWW-Authenticate: Kerberos` only), the logon starts over with what it offers, as pypsrp
        does: Kerberos for negotiate/kerberos, an error for ntlm.
        """
        self._context, self._encryption, self.negotiated_protocol = None, None, None
        scheme, provider = ("Negotiate", self._auth)
        for _restart in range(2):
            context = self._new_context(provider)
            token = context.step()
            while True:
                self._socket()
                connection = self._connections
                status, headers, _data = self._round_trip(b"", {"Authorization": f"{scheme} "
                                                                + base64.b64encode(token or b"").decode()},
                                                          read_timeout)
                in_token = _token(headers, scheme)
                if status == 401 and in_token:
                    if connection != self._connections or self._wire is None:
                        raise AuthenticationError("the server closed the connection in the middle of the logon")
                    token = context.step(in_token)
                    continue
                if status == 401:
                    offered = _offered(headers)
                    if scheme.lower() not in offered and not context.complete:
                        other = next((s for s in _SCHEMES if s.lower() in offered), None)
                        if other == "Kerberos" and provider in ("negotiate", "kerberos"):
                            scheme, provider = "Kerberos", "kerberos"
                            break  # start over under the Kerberos scheme
                        raise ValueError(f"Server responded with the auth protocol '{other or 'none'}' which is "
                                         f"incompatible with the specified auth_provider '{self._auth}'")
                    raise AuthenticationError(f"Failed to authenticate the user {self._user_text()} with "
                                              f"{self._auth}")
                if in_token and not context.complete:
                    context.step(in_token)  # Kerberos' AP-REP / SPNEGO's mechListMIC completes the context
                if status != 200:
                    raise WinRMTransportError("http", status, _data.decode("utf-8", "replace"))
                self._context = context
                self._logged_on = self._connections
                self.negotiated_protocol = getattr(context, "negotiated_protocol", None)
                if self._encrypt:
                    protocol = WinRMEncryption.KERBEROS if scheme == "Kerberos" else WinRMEncryption.SPNEGO
                    self._encryption = WinRMEncryption(context, protocol)
                return
        raise AuthenticationError(f"Failed to authenticate the user {self._user_text()} with {self._auth}")

    def _new_context(self, provider: str) -> Any:
        bindings = None
        if self._tls is not None:
            sock = self._socket()
            der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
            if der:
                bindings = spnego.channel_bindings.GssChannelBindings(application_data=tls_server_end_point(der))
        options = spnego.NegotiateOptions.wrapping_winrm if self._encrypt else spnego.NegotiateOptions(0)
        return spnego.client(self._username, self._password, hostname=self._spn_host, service=self._spn_service,
                             channel_bindings=bindings, context_req=spnego.ContextReq.default, protocol=provider,
                             options=options)

    def _user_text(self) -> str:
        return self._username if isinstance(self._username, str) else "(credential)"

    def _connections_after_reuse(self) -> int:
        """The connection number the next request will go out on (a closed one is replaced first)."""
        if self._wire is None:
            return self._connections + 1
        return self._connections

    # -- HTTP ------------------------------------------------------------------------------------------------
    def _socket(self) -> socket.socket:
        """The connection's socket, connecting first when there is none (or the last one was closed)."""
        if self._wire is None:
            if self._tls is not None and self._ssl is None:
                try:
                    self._ssl = self._tls()
                except OSError as exc:  # the CA file cannot be read
                    raise _connect_error(exc) from exc
            try:
                self._wire = self._connect()
            except BaseException as exc:
                raise _connect_error(exc) from exc
        return self._wire.sock

    def _connect(self) -> _Wire:
        self.before_connect()
        sock = socket.create_connection((self._address, self._port), self.connection_timeout)
        try:
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_hostname=self._address)
        except BaseException:
            sock.close()
            raise
        self._connections += 1
        with_nodelay(sock)
        self.on_connect(sock)
        return _Wire(sock, self._address)

    def _round_trip(self, body: bytes, headers: dict[str, str], read_timeout: float) -> tuple[int, Headers, bytes]:
        """POST `body`; answer (status, headers, body read within the bound). Network errors come out as
        requests' exceptions (the vocabulary scanner.winrm.faults translates)."""
        sock = self._socket()
        wire = self._wire
        assert wire is not None
        head = self._head + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        started = time.monotonic()
        try:
            sock.settimeout(read_timeout)
            sock.sendall(b"%sContent-Length: %d\r\n\r\n%s" % (head.encode("latin-1"), len(body), body))
            status, reply_headers, data, keep_alive = wire.read_reply(self.max_reply)
        except HostProtocolError:
            self.close()
            raise
        except BaseException as exc:
            self.close()
            raise _exchange_error(exc) from exc
        if not keep_alive:
            self.close()
        self.on_reply(Reply(status, reply_headers, len(data), time.monotonic() - started))
        return status, reply_headers, data


def unwrap_parts(context: Any, data: bytes, boundary: bytes) -> bytes:
    """The plaintext of an MS-WSMV multipart/encrypted body: each part's OriginalContent length, then the
    application/octet-stream part (4-byte signature length, signature, sealed data) up to the next boundary.

    pypsrp's WinRMEncryption.unwrap_message does the same with regex splits and copies of the whole body;
    this slices it once (the sealed data goes to pyspnego's unwrap_winrm unchanged). Same length check.
    """
    marker = b"--" + boundary
    octet = b"\tContent-Type: application/octet-stream\r\n"
    out: list[bytes] = []
    pos = 0
    while True:
        start = data.find(marker + b"\r\n", pos)
        if start < 0:
            break
        second = data.find(marker + b"\r\n", start + len(marker) + 2)
        if second < 0:
            raise WinRMError("encrypted reply: the MIME part with the sealed data is missing")
        length = _ORIGINAL_LENGTH.search(data, start, second)
        body = second + len(marker) + 2
        if length is None or not data.startswith(octet, body):
            raise WinRMError("encrypted reply: malformed MIME part headers")
        body += len(octet)
        if body + 4 > len(data):
            raise WinRMError("encrypted reply: cut short after the MIME part headers")
        (sig_len,) = struct.unpack_from("<i", data, body)
        if not 0 <= sig_len <= len(data) - body - 4:
            raise WinRMError("encrypted reply: bad signature length")
        sealed_at = body + 4 + sig_len
        end = data.find(marker, sealed_at)
        end = len(data) if end < 0 else end
        plain = context.unwrap_winrm(data[body + 4:sealed_at], data[sealed_at:end])
        if len(plain) != int(length.group(1)):
            raise WinRMError(f"The encrypted length from the server does not match the expected length, decryption "
                             f"failed, actual: {len(plain)} != expected: {int(length.group(1))}")
        out.append(plain)
        pos = end
    if not out:
        raise WinRMError("encrypted reply without an encrypted part")
    return out[0] if len(out) == 1 else b"".join(out)


class _LoggedOff(Exception):
    """A 401 on an authenticated request: the server no longer knows this connection's logon."""


def with_nodelay(sock: socket.socket) -> None:
    """No Nagle: a small request leaves at once, whatever the last segment's acknowledgement is doing."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def auth_schemes(*values: str) -> list[str]:
    """The auth scheme names WWW-Authenticate values offer, in order (never the tokens that may follow them)."""
    return [part.strip().split(" ", 1)[0] for value in values for part in value.split(",") if part.strip()]


def _offered(headers: Headers) -> set[str]:
    return {name.lower() for name in auth_schemes(*headers.get_all("WWW-Authenticate"))}


def _token(headers: Headers, scheme: str) -> bytes | None:
    """The security token the server sent under `scheme` (None without one)."""
    for value in headers.get_all("WWW-Authenticate"):
        for part in value.split(","):
            name, _, token = part.strip().partition(" ")
            if name.lower() == scheme.lower() and token.strip():
                try:
                    return base64.b64decode(token.strip())
                except ValueError:
                    return None
    return None


def _host_header(address: str, port: int, tls: bool) -> str:
    """The Host field as http.client wrote it: IDNA for a non-ASCII name, an IPv6 address in brackets, the
    port unless it is the scheme's default."""
    try:
        host = address.encode("ascii").decode("ascii")
    except UnicodeEncodeError:
        host = address.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return host if port == (443 if tls else 80) else f"{host}:{port}"


def _connect_error(exc: BaseException) -> BaseException:
    if isinstance(exc, requests.RequestException) or not isinstance(exc, OSError):
        return exc
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return requests.exceptions.SSLError(str(exc))
    if isinstance(exc, TimeoutError):
        return requests.exceptions.ConnectTimeout(str(exc))
    return requests.exceptions.ConnectionError(str(exc))


def _exchange_error(exc: BaseException) -> BaseException:
    if isinstance(exc, ssl.SSLError):
        return requests.exceptions.SSLError(str(exc))
    if isinstance(exc, TimeoutError):
        return requests.exceptions.ReadTimeout(str(exc))
    if isinstance(exc, OSError):
        return requests.exceptions.ConnectionError(f"{type(exc).__name__}: {exc}")
    return exc
