"""One HTTP/1.1 connection and llhttp's reading of the replies on it (httptools, Node.js's parser, in C).

The parsing of what a possibly hostile server sends is llhttp's (strict about status lines, field syntax,
Content-Length/Transfer-Encoding conflicts and chunk sizes); ours are the bounds, checked after each recv:
at most `bound` bytes of body (a larger declared one refused before it is read, an undeclared one as soon as it
passes), MAX_HEAD bytes of head (interim 1xx replies included), MAX_FIELDS fields, and the chunk framing and
trailer of a chunked reply. Interim 1xx replies are read past, a 101 refused, and a reply may end with the
connection when it declares neither a length nor chunks. A connection the server ends (Connection: close,
HTTP/1.0, bytes after the reply) is reported as not to be used again.
"""

from __future__ import annotations

import re
import socket

import httptools

from scanner.winrm.transport import BadReply, Headers, NetworkError

RECV_BYTES = 64 * 1024  # one recv_into(): also how far past a bound a hostile reply gets before it is refused
MAX_HEAD = 64 * 1024  # status lines and header fields before the final reply's head (interim 1xx ones included)
MAX_FIELDS = 100  # header fields in one reply (http.client's limit); HTTP.sys sends fewer than 10
MAX_LENGTH_DIGITS = 18  # a Content-Length past this is refused before Python turns it into a number
_DIGITS = re.compile(f"[0-9]{{1,{MAX_LENGTH_DIGITS}}}")


class Wire:
    """One connection (TCP, or TLS over it) and llhttp's parser of the replies on it.

    The parser calls the on_* methods back while `read_reply` feeds it what recv_into() got; they only take
    notes, and `read_reply` checks the bounds after each feed.
    """

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self._address = address  # for the errors: the address the inventory gave
        self._buffer = bytearray(RECV_BYTES)
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
        self._declared = _content_length(self._headers.get("Content-Length"))
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
        """(status, headers, body, whether the connection may carry the next request). Raises BadReply for a
        malformed reply or one past a bound, NetworkError when the server ends the connection early, OSError
        when the socket fails."""
        self._reset()
        view = memoryview(self._buffer)
        recv_into, feed = self.sock.recv_into, self._parser.feed_data
        while not self._done:
            got = recv_into(self._buffer)
            if not got:
                if self._final and self._declared is None and not self._chunked:
                    self._keep_alive = False
                    break  # a reply that ends with the connection (neither Content-Length nor chunked)
                raise self._closed_early()
            self._received += got
            try:
                feed(view[:got])
            except httptools.HttpParserUpgrade:
                pass  # 101 Switching Protocols: refused below
            except httptools.HttpParserError as exc:
                if not self._done:
                    raise BadReply(self._address, f"malformed HTTP reply: {exc}") from None
                self._keep_alive = False  # something after the reply: start the next request afresh
            self._check(bound)
        return self._status, self._headers, b"".join(self._chunks), self._keep_alive

    def _closed_early(self) -> NetworkError:
        if self._received == 0:
            return NetworkError(self._address, "reset", "the server closed the connection without a reply")
        return NetworkError(self._address, "closed-mid-reply", "the server closed the connection in the middle of "
                                                               "its reply")

    def _check(self, bound: int) -> None:
        if self._fields > MAX_FIELDS:
            raise BadReply(self._address, f"reply with more than {MAX_FIELDS} header fields")
        if not self._final:
            if self._received > MAX_HEAD:
                raise BadReply(self._address, f"reply headers exceed {MAX_HEAD} bytes")
            return
        if self._switched:
            raise BadReply(self._address, "the server switched protocols (HTTP 101) on a WinRM request")
        if self._declared is not None and not 0 <= self._declared <= bound:
            size = f"{self._declared} bytes" if self._declared >= 0 else f"more than {MAX_LENGTH_DIGITS} digits"
            raise BadReply(self._address, f"reply of {size} exceeds the {bound}-byte bound")
        if self._size > bound:
            raise BadReply(self._address, f"reply without length exceeds the {bound}-byte bound")
        if self._received > bound + bound // 4 + MAX_HEAD + RECV_BYTES:
            # what is not body: chunk framing and a chunked reply's trailer (llhttp gathers a field whole before
            # handing it over), bounded too, so tiny chunks or an endless trailer cannot grow without end
            raise BadReply(self._address, f"reply framing exceeds the {bound}-byte bound (chunk sizes or trailer "
                                          "fields)")

    def close(self) -> None:
        """Once: the socket, and the parser's reference back to this object (freed now, not by a later GC)."""
        self.sock.close()
        del self._parser


class _AfterReply(Exception):
    """Raised from llhttp's callback when a second message starts after the reply."""


def _content_length(value: str | None) -> int | None:
    """The declared length (llhttp has checked its syntax); -1 for one with more digits than any real length."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if _DIGITS.fullmatch(value) else -1


def with_nodelay(sock: socket.socket) -> None:
    """No Nagle: a small request leaves at once, whatever the last segment's acknowledgement is doing."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def host_header(address: str, port: int, tls: bool) -> str:
    """The Host field as http.client wrote it: IDNA for a non-ASCII name, an IPv6 address in brackets, the
    port unless it is the scheme's default."""
    try:
        host = address.encode("ascii").decode("ascii")
    except UnicodeEncodeError:
        host = address.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return host if port == (443 if tls else 80) else f"{host}:{port}"
