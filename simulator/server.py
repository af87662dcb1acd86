"""The WinRM listener of one simulated host: HTTP/1.1 (+TLS), authentication, message encryption.

One asyncio loop (see `LoopThread`) serves every host of a fleet, one listening socket per host, so a
thousand hosts cost a thousand sockets, not a thousand threads. The parser is small on purpose:
Content-Length bodies only, keep-alive, bounded header and body sizes. The NTLM/SPNEGO/Kerberos
context lives on the TCP connection, as with HTTP.sys.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import spnego

from simulator import encryption
from simulator.auth import (
    Account,
    basic_wrong_password,
    check_basic,
    client_sent_bindings,
    new_acceptor,
    ntlm_user,
    token_mechanism,
)
from simulator.eras import MODERN, Era, era
from simulator.faults import NO_FAULTS, HostFaults
from simulator.kerberos import HostKerberos, acceptor_error
from simulator.machine import CommandResult, Machine
from simulator.ntlm_store import NtlmStore
from simulator.wsman import (
    SERVER_MAX_ENVELOPE,
    CallContext,
    ShellPolicy,
    WinRS,
    envelope_too_big_fault,
    fault_envelope,
)

MAX_HEADER_BYTES = 32 * 1024
# A request bigger than this is refused without reading it; between SERVER_MAX_ENVELOPE and this it is
# read, decrypted and answered with the MaxEnvelopeSize fault, as Windows does.
MAX_BODY_BYTES = 4 * SERVER_MAX_ENVELOPE
IDLE_TIMEOUT_S = 120.0
IIS6_HEADER = "Microsoft-IIS/6.0"
# What IIS 6 sends for a URL nobody serves. No capture of IIS 6 answering POST /wsman is public [U]: the
# status and Server header follow IIS 6's documented behaviour, the page is its usual 404 text.
IIS6_NOT_FOUND = (b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\r\n'
                  b"<HTML><HEAD><TITLE>The page cannot be found</TITLE>\r\n"
                  b'<META HTTP-EQUIV="Content-Type" Content="text/html; charset=Windows-1252"></HEAD>'
                  b"<BODY><h1>The page cannot be found</h1>The page you are looking for might have been removed, had "
                  b"its name changed, or is temporarily unavailable.<hr><p>HTTP Error 404 - File or directory not "
                  b"found.<br>Internet Information Services (IIS)</p></BODY></HTML>\r\n")

T = TypeVar("T")

# Hostile replies for the xmlbomb and deepxml faults: a classic entity bomb (a few hundred bytes that a
# naive parser expands to gigabytes), and a well-formed envelope nested deeper than any recursive walker.
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b']><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&lol9;</s:Body></s:Envelope>'
)
DEEP_XML = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>'
            + b"<x>" * 50_000 + b"</x>" * 50_000 + b"</s:Body></s:Envelope>")


class LoopThread:
    """An asyncio event loop running in a daemon thread; `call()` runs a coroutine there and waits."""

    def __init__(self, name: str = "cmaudit-simulator") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


@dataclass(slots=True)
class Counters:
    """What a benchmark or a test wants to know about one host's traffic."""

    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    auth_handshakes: int = 0  # successful NTLM/Negotiate/Kerberos handshakes and Basic logons
    auth_failures: int = 0
    # logons as this host's account with a wrong password (NTLM AUTHENTICATE or Basic): what a domain controller
    # counts towards the account's lockout. Refused schemes, unreadable tokens and other accounts are not counted.
    wrong_passwords: int = 0
    kerberos_logons: int = 0  # handshakes that ended in Kerberos (under the Negotiate or Kerberos scheme)
    ntlm_logons: int = 0  # handshakes that ended in NTLM
    last_auth_error: str = ""  # why the last handshake failed, as the acceptor saw it (no secret in it)
    connections: int = 0
    max_reply_envelope: int = 0  # largest plaintext SOAP reply, to check MaxEnvelopeSize was honoured
    internal_errors: int = 0  # requests that hit a bug in the simulator or a profile (should stay 0)


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes
    head_size: int


@dataclass(slots=True)
class _Conn:
    peer_ip: str
    context: spnego.ContextProxy | None = None
    scheme: str = ""
    authenticated: bool = False


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False
    server: str | None = None  # another `Server:` than the listener's (IIS answering the port)


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            411: "Length Required", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Oversized(_BadRequest):
    """A Content-Length beyond MAX_BODY_BYTES."""

    def __init__(self, head_size: int, length: int) -> None:
        super().__init__(500)
        self.head_size, self.length = head_size, length


class HostServer:
    """One simulated host's WinRM listener (HTTP or HTTPS) in front of its virtual Machine."""

    def __init__(self, *, name: str, machine: Machine, account: Account, ntlm_store: NtlmStore,
                 faults: HostFaults = NO_FAULTS, latency_ms: float = 0.0, tls: ssl.SSLContext | None = None,
                 bindings: spnego.channel_bindings.GssChannelBindings | None = None,
                 kerberos: HostKerberos | None = None, era: Era | None = None) -> None:
        self.name = name
        self.machine = machine
        self.account = account
        self.ntlm_store = ntlm_store
        self.kerberos = kerberos
        self.faults = faults
        self.latency_s = (latency_ms + faults.latency_ms) / 1000.0
        self.tls = tls
        self._bindings = bindings
        self.counters = Counters()
        self.commands: list[str] = []
        self.port = 0
        self.era = era or machine_era(machine)
        self.winrs = WinRS(lambda: self.machine.hostname, self._run, faults, ShellPolicy.for_host(self.era, faults))
        self._server: asyncio.Server | None = None
        self._refusing: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._status_faults_sent = 0

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def server_header(self) -> str:
        return self.era.server_header

    def admin(self) -> bool:
        """Does the account's token hold administrator rights here (not `nonadmin`, not UAC-filtered)?"""
        if self.faults.nonadmin:
            return False
        uac = self.faults.uacfilter or self.era.uac_filters_local_admins
        return not (uac and self.account.is_local_to(self.machine.hostname))

    @property
    def running(self) -> bool:
        return self._server is not None or self._refusing is not None

    def _run(self, command_line: str, codepage: int) -> CommandResult:
        self.commands.append(command_line)
        try:
            return self.machine.run(command_line, codepage)
        except Exception:
            self.counters.internal_errors += 1  # WinRS answers w:InternalError; tests assert this stays 0
            raise

    # -- lifecycle (called on the loop) -------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 (port 0 the first time, the same port after a restart)."""
        if self.running:
            return
        if self.faults.refuse:
            # Bound but not listening: the kernel answers SYN with RST, i.e. "connection refused".
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", self.port))
            except OSError:  # the port is taken (base_port, or a restart after someone else took it)
                sock.close()
                raise
            self._refusing = sock
        else:
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, ssl=self.tls, limit=MAX_HEADER_BYTES,
                backlog=1024, ssl_handshake_timeout=30 if self.tls else None)
            sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection (clients see a reset or EOF)."""
        if self._refusing is not None:
            self._refusing.close()
            self._refusing = None
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    # -- one TCP connection ---------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.counters.connections += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        conn = _Conn(peer_ip=str(peer[0]))
        try:
            while True:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT_S):
                        request = await self._read_request(reader)
                except _BadRequest as bad:
                    self.counters.requests += 1
                    reply = _Reply(bad.status, close=True)
                    if isinstance(bad, _Oversized):
                        reply = _Reply(500, oversized_reply(self.machine.hostname),
                                       [("Content-Type", "application/soap+xml;charset=UTF-8")], close=True)
                    await self._send(writer, reply)
                    await self._discard_rest(reader, writer)
                    break
                if request is None:
                    break
                self.counters.requests += 1
                self.counters.bytes_in += request.head_size + len(request.body)
                if self.faults.hang:
                    while await reader.read(65536):
                        pass
                    break
                try:
                    reply = await self._handle(conn, request)
                except Exception:  # noqa: BLE001 - a bug here must cost one connection, not the listener
                    self.counters.internal_errors += 1
                    reply = _Reply(500, close=True)
                if request.headers.get("connection", "").lower() == "close":
                    reply.close = True
                if self.faults.reset:
                    await self._reset(writer, reply)
                    return
                await self._send(writer, reply)
                if reply.close:
                    break
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): end quietly so asyncio's stream callback does not log the cancellation
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise _BadRequest(400) from None
            return None
        except asyncio.LimitOverrunError:
            raise _BadRequest(431) from None
        try:
            lines = head.decode("iso-8859-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise _BadRequest(400) from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise _BadRequest(400)
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if "transfer-encoding" in headers:
            raise _BadRequest(411)
        raw_length = headers.get("content-length", "0")
        if not raw_length.isdigit():
            raise _BadRequest(400)
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            # Too big to even read: answer with the MaxEnvelopeSize fault and drop the connection.
            raise _Oversized(len(head), length)
        body = await reader.readexactly(length) if length else b""
        return _Request(method, target, version, headers, body, len(head))

    # -- one request ----------------------------------------------------------------------------------

    async def _handle(self, conn: _Conn, request: _Request) -> _Reply:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        early = self._before_logon(request)
        if early is not None:
            return early
        auth_headers: list[tuple[str, str]] = []
        denied = self._authenticate(conn, request, auth_headers)
        if denied is not None:
            return denied
        if not request.body:
            return _Reply(200, headers=auth_headers)  # the empty POST that carries the handshake
        if self.faults.denied401 and not self.admin():
            # the logon itself worked (no failure counted: a domain controller saw a right password), but WinRM
            # refuses the token with a bare 401, as pywinrm#114/#188 report [S]
            return self._unauthorized(conn)
        protocol = encryption.protocol_of(request.headers.get("content-type", ""))
        plain = self._plain_body(conn, request, protocol)
        if isinstance(plain, _Reply):
            return plain
        ctx = CallContext(owner=self.account.user, client_ip=conn.peer_ip, admin=self.admin())
        status, reply_xml = await self.winrs.handle(plain, ctx)
        self.counters.max_reply_envelope = self.winrs.max_reply_envelope
        reply = self._misbehave(reply_xml.encode("utf-8"))
        headers = auth_headers
        if protocol is not None:
            assert conn.context is not None
            reply = encryption.wrap(conn.context, reply, protocol)
            headers.append(("Content-Type", encryption.content_type(protocol)))
        else:
            headers.append(("Content-Type", "application/soap+xml;charset=UTF-8"))
        return _Reply(status, reply, headers)

    def _before_logon(self, request: _Request) -> _Reply | None:
        """The answers that come before any logon: an HTTP status fault, IIS on the port, a wrong method or URL."""
        status_fault = self.faults.http_status
        if status_fault and (self.faults.http_status_count is None
                             or self._status_faults_sent < self.faults.http_status_count):
            self._status_faults_sent += 1
            text = _REASONS[status_fault]
            body = f"<html><body><h1>{status_fault} {text}</h1></body></html>".encode()
            return _Reply(status_fault, body, [("Content-Type", "text/html")])
        if self.faults.iis404:
            return _Reply(404, IIS6_NOT_FOUND, [("Content-Type", "text/html")], server=IIS6_HEADER)
        if request.method != "POST":
            return _Reply(405, headers=[("Allow", "POST")])
        if request.target.split("?")[0].lower() not in ("/wsman", "/wsman/"):
            return _Reply(404)
        return None

    def _plain_body(self, conn: _Conn, request: _Request, protocol: str | None) -> bytes | _Reply:
        """The SOAP request in plain text (decrypted, or as sent over HTTPS), or the reply that refuses it."""
        if protocol is not None:
            if conn.context is None or not conn.authenticated:
                return self._unauthorized(conn)
            try:
                return encryption.unwrap(conn.context, request.body)
            except encryption.EncryptionError:
                return _Reply(400, close=True)
        if self.tls is None:
            # AllowUnencrypted=false: an authenticated caller's plain SOAP over HTTP is answered 500 with an
            # empty body [S: pywinrm#129, metasploit#8900]; without a logon it is a 401.
            return _Reply(500) if conn.authenticated else self._unauthorized(conn)
        return request.body

    def _misbehave(self, reply: bytes) -> bytes:
        """The SOAP reply as the badxml, xmlbomb and deepxml faults spoil it (the last one set wins)."""
        if self.faults.badxml:
            reply = reply[: max(1, len(reply) // 2)] + b"<rsp:Stream Name=\"stdout\"><<>"
        if self.faults.xmlbomb:
            reply = BILLION_LAUGHS
        if self.faults.deepxml:
            reply = DEEP_XML
        return reply

    def _challenge_headers(self) -> list[tuple[str, str]]:
        if self.faults.krbonly:
            headers = [("WWW-Authenticate", "Kerberos")]
        else:
            headers = [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "Kerberos")]
        if self.tls is not None:
            headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return headers

    def _unauthorized(self, conn: _Conn, failed: bool = False, why: str = "") -> _Reply:
        conn.context, conn.authenticated, conn.scheme = None, False, ""
        if failed:
            self.counters.auth_failures += 1
            self.counters.last_auth_error = why or "logon refused"
        return _Reply(401, headers=self._challenge_headers())

    def _count_wrong_password(self, wrong: bool) -> None:
        if wrong:
            self.counters.wrong_passwords += 1

    def _basic_logon(self, conn: _Conn, value: str) -> _Reply | None:
        """None when Basic credentials may proceed (this request only); else the 401 to send."""
        local_only = self.faults.basiclocal or self.era.basic_local_only
        if (self.tls is None or self.faults.badauth
                or not check_basic(value, self.account, local_only=local_only, machine=self.machine.hostname)):
            self._count_wrong_password(self.tls is not None and basic_wrong_password(
                value, self.account, local_only=local_only, machine=self.machine.hostname))
            return self._unauthorized(conn, failed=True)
        conn.context, conn.authenticated = None, False  # Basic authorises this request only
        self.counters.auth_handshakes += 1
        return None

    def _authenticate(self, conn: _Conn, request: _Request, out_headers: list[tuple[str, str]]) -> _Reply | None:
        """None when the request may proceed (out_headers gets the final token); else the 401 to send."""
        header = request.headers.get("authorization", "")
        if not header:
            return None if conn.authenticated else self._unauthorized(conn)
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "basic":
            return self._basic_logon(conn, value)
        token = self._read_token(conn, scheme, value)
        if isinstance(token, _Reply):
            return token
        return self._step(conn, scheme, token, out_headers)

    def _read_token(self, conn: _Conn, scheme: str, value: str) -> tuple[bytes, str] | _Reply:
        """(token, its mechanism) of a Negotiate, NTLM or Kerberos header this listener takes; else the 401."""
        lowered = scheme.lower()
        if lowered not in ("negotiate", "ntlm", "kerberos"):
            return self._unauthorized(conn, failed=True, why=f"scheme {scheme[:20]!r} not offered")
        if self.faults.krbonly and lowered != "kerberos":
            # Auth/Negotiate=false: HTTP.sys hands no Negotiate/NTLM token to an SSP, so no logon is attempted and
            # none fails (a client sending its first token unasked, without an anonymous probe, costs nothing)
            return self._unauthorized(conn)
        try:
            token = base64.b64decode(value.strip(), validate=True)
        except binascii.Error:
            return self._unauthorized(conn, failed=True, why="token is not base64")
        mechanism = token_mechanism(token)
        if mechanism == "ntlm" and (self.faults.nontlm or self.faults.krbonly):
            return self._unauthorized(conn, failed=True, why="NTLM is refused by policy")
        if lowered == "kerberos" and mechanism != "kerberos":
            return self._unauthorized(conn, failed=True, why="the Kerberos scheme carried no Kerberos token")
        return token, mechanism

    def _step(self, conn: _Conn, scheme: str, read: tuple[bytes, str],
              out_headers: list[tuple[str, str]]) -> _Reply | None:
        """One leg of the handshake on the connection's acceptor (a new one for a new handshake)."""
        token, mechanism = read
        lowered = scheme.lower()
        if conn.context is None or conn.context.complete or conn.scheme != lowered:
            try:
                with self.ntlm_store.scope():
                    conn.context = self._new_context(lowered)
            except Exception as exc:  # noqa: BLE001 - e.g. Kerberos asked of a host without keys
                return self._unauthorized(conn, failed=True, why=f"no acceptor: {type(exc).__name__}")
            conn.scheme, conn.authenticated = lowered, False
        # NTLM: Windows (CbtHardeningLevel=Relaxed) checks the binding only when the client sent one, and
        # pyspnego's NTLM acceptor would refuse a client that sends none. MIT Kerberos already behaves so.
        use_bindings = mechanism == "kerberos" or client_sent_bindings(token)
        bindings = self._bindings if use_bindings else None
        try:
            with self.ntlm_store.scope():
                out_token = conn.context.step(token, channel_bindings=bindings)
        except Exception as exc:  # noqa: BLE001 - any acceptor failure is a logon failure, never a traceback
            self._count_wrong_password(self.account.matches(ntlm_user(token)))
            real = acceptor_error(conn.context) or exc
            return self._unauthorized(conn, failed=True, why=f"{type(real).__name__}: {real}"[:300])
        if not conn.context.complete:
            if not out_token:
                return self._unauthorized(conn, failed=True, why="handshake ended without a token")
            return _Reply(401, headers=[("WWW-Authenticate", f"{scheme} {base64.b64encode(out_token).decode()}")])
        return self._logged_on(conn, scheme, out_token, out_headers)

    def _logged_on(self, conn: _Conn, scheme: str, out_token: bytes | None,
                   out_headers: list[tuple[str, str]]) -> _Reply | None:
        """The handshake is complete: this host's account is logged on (counted), anyone else gets the 401."""
        assert conn.context is not None
        principal = conn.context.client_principal
        if self.faults.badauth or not self.account.matches(principal):
            return self._unauthorized(conn, failed=True, why="not this host's account")
        conn.authenticated = True
        self.counters.auth_handshakes += 1
        if conn.context.negotiated_protocol == "kerberos":
            self.counters.kerberos_logons += 1
        else:
            self.counters.ntlm_logons += 1
        if out_token:  # SPNEGO's mechListMIC / Kerberos' AP-REP: without it the client context never completes
            out_headers.append(("WWW-Authenticate", f"{scheme} {base64.b64encode(out_token).decode()}"))
        return None

    def _new_context(self, scheme: str) -> spnego.ContextProxy:
        """The acceptor for a new handshake under `scheme`; call inside the NTLM store's scope."""
        if scheme == "kerberos":
            if self.kerberos is None:
                raise LookupError("this host has no Kerberos keys")
            return self.kerberos.kerberos_context(self._bindings)
        if scheme == "negotiate" and self.kerberos is not None:
            return self.kerberos.negotiate_context(self._bindings, ntlm=not (self.faults.nontlm or self.faults.krbonly))
        return new_acceptor(scheme)

    # -- writing ----------------------------------------------------------------------------------------

    def _encode(self, reply: _Reply) -> bytes:
        server = reply.server or self.server_header
        lines = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Error')}", f"Server: {server}"]
        lines += [f"{name}: {value}" for name, value in reply.headers]
        body = reply.body
        if self.faults.chunked:
            lines.append("Transfer-Encoding: chunked")
            size = 8192
            body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                            for i in range(0, len(body), size)) + b"0\r\n\r\n"
        else:
            lines.append(f"Content-Length: {len(reply.body)}")
        if reply.close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1") + body

    async def _send(self, writer: asyncio.StreamWriter, reply: _Reply) -> None:
        data = self._encode(reply)
        self.counters.bytes_out += len(data)
        if self.faults.drip_bps:
            delay = 1.0 / self.faults.drip_bps
            for i in range(len(data)):
                writer.write(data[i:i + 1])
                await writer.drain()
                await asyncio.sleep(delay)
            return
        writer.write(data)  # head and body in one write: no Nagle/delayed-ACK stall
        await writer.drain()

    async def _discard_rest(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Half-close and swallow what the client is still sending, so our error answer is not lost to
        the RST the kernel sends when a socket closes with unread data."""
        if writer.can_write_eof():
            writer.write_eof()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                budget = MAX_BODY_BYTES
                while budget > 0 and (chunk := await reader.read(65536)):
                    budget -= len(chunk)

    async def _reset(self, writer: asyncio.StreamWriter, reply: _Reply) -> None:
        data = self._encode(reply)
        writer.write(data[: len(data) // 2])
        with contextlib.suppress(Exception):
            await writer.drain()
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


def machine_era(machine: Machine) -> Era:
    """The era a machine's profile names (custom test machines without one are `modern`)."""
    name = getattr(machine, "era", None)
    return era(name) if isinstance(name, str) else MODERN


def oversized_reply(machine_name: str) -> bytes:
    """The plain (unencrypted: we never read the body) fault for a request too big to accept."""
    return fault_envelope(envelope_too_big_fault(), None, machine_name).encode()
