"""Listeners that are not (or not quite) WinRM, on 127.0.0.1 port 0: what the logon gate must not trust.

Each counts, on its own side, the requests that carried a password: NTLM's AUTHENTICATE (bare or inside SPNEGO)
and Basic headers, which is what a domain controller behind a real listener would have counted as a failed logon
had the password been wrong.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.loopback import read_request
from tests.support.ntlm import ntlm_challenge

NTLM_AUTHENTICATE = b"NTLMSSP\x00\x03\x00\x00\x00"
NTLM_NEGOTIATE = b"NTLMSSP\x00\x01\x00\x00\x00"
WEB_PAGE = b"<html><body>It works!</body></html>"
# a WS-Management fault that answers no request of ours (no wsa:RelatesTo): a proxy's, or a hostile server's
STRAY_FAULT = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    b'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>'
    b"http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action></s:Header><s:Body><s:Fault><s:Code><s:Value>"
    b"s:Receiver</s:Value><s:Subcode><s:Value>w:InternalError</s:Value></s:Subcode></s:Code><s:Reason><s:Text "
    b'xml:lang="en-US">The WS-Management service cannot process the request.</s:Text></s:Reason><s:Detail>'
    b'<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858770" '
    b'Machine="x"><f:Message>The service is busy.</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body>'
    b"</s:Envelope>"
)

Reply = bytes | None  # None: never answer (the connection stays open until the client gives up)


@dataclass
class Rogue:
    """Where a rogue listens and what reached it."""

    port: int
    requests: int = 0
    passwords: int = 0  # requests that carried a password (AUTHENTICATE, Basic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def row(self, name: str, *, auth: str, scheme: str) -> dict[str, str]:
        """An inventory row for this listener."""
        return {"host": name, "address": "127.0.0.1", "port": str(self.port), "transport": scheme, "auth": auth}


def http_reply(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *[f"{name}: {value}" for name, value in headers]]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def web_page(status: int = 200, body: bytes = WEB_PAGE, content_type: str = "text/html") -> Callable[[bytes], Reply]:
    """A web server on the port: the same answer to every POST, whatever it carries."""
    return lambda token: http_reply(status, body, (("Content-Type", content_type),))


def challenge_then(after_authenticate: Reply) -> Callable[[bytes], Reply]:
    """An NTLM listener that challenges the NEGOTIATE, then answers the password's proof with `after_authenticate`
    (an HTTP 504, or None: never) instead of a verdict."""
    challenge = base64.b64encode(ntlm_challenge()).decode()

    def answer(token: bytes) -> Reply:
        if NTLM_NEGOTIATE in token:
            return http_reply(401, headers=(("WWW-Authenticate", f"Negotiate {challenge}"),))
        return after_authenticate

    return answer


@contextmanager
def rogue(answer: Callable[[bytes], Reply], *, tls: ssl.SSLContext | None = None) -> Iterator[Rogue]:
    """A keep-alive listener: `answer(token)` gets each request's logon token (b"" without one) and gives the raw
    reply (None: keep the connection open, never answer)."""
    server = socket.create_server(("127.0.0.1", 0))
    found = Rogue(server.getsockname()[1])
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        try:
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
            pending = b""
            while not stop.is_set():
                got = read_request(conn, pending)
                if got is None:
                    return
                head, pending = got
                token = _token(head)
                with found.lock:
                    found.requests += 1
                    found.passwords += NTLM_AUTHENTICATE in token or b"\r\nauthorization: basic " in head.lower()
                reply = answer(token)
                if reply is None:
                    stop.wait()
                    return
                conn.sendall(reply)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield found
    finally:
        stop.set()
        try:
            server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        server.close()


def tls_context() -> ssl.SSLContext:
    """A server TLS context with a throwaway CA's certificate for 127.0.0.1 (scans use --insecure with it)."""
    import trustme

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def _token(head: bytes) -> bytes:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"authorization:"):
            value = line.split(b":", 1)[1].strip()
            scheme, _, token = value.partition(b" ")
            if scheme.lower() in (b"negotiate", b"ntlm", b"kerberos"):
                try:
                    return base64.b64decode(token.strip())
                except ValueError:
                    return b""
    return b""
