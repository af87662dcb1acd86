"""Every use of pypsrp's private internals, in one place, each with the reason it is needed.

Checked against pypsrp 0.9.0 and 0.9.1 (pyproject pins ">=0.9,<1"); tests/scanner/winrm/test_pypsrp_compat.py
fails loudly when an installed pypsrp no longer has what these overrides rely on. Everything else in
cmaudit uses pypsrp's public API (WSMan, WinRS, the exceptions).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import textwrap
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, cast

from pypsrp.exceptions import WinRMError, WinRMTransportError
from pypsrp.shell import WinRS
from pypsrp.wsman import NAMESPACES, WSMan, _TransportHTTP

from scanner.winrm.envelope import serialize

SendRequest = Callable[..., bytes]

# pypsrp's WSMan.__init__ calls ElementTree.register_namespace for every WS-Man prefix: it rewrites a
# process-wide dict, and two hosts' threads doing it at once can fail one of them with "dictionary keys changed
# during iteration" (a garbage collection inside one call lets the other thread in). Every WSMan cmaudit builds
# is built under this lock; checked against pypsrp 0.9.1 (wsman.py registers in __init__). Envelopes are written
# under it too (write_envelope): register_namespace deletes a prefix before it sets it again, and a tree written
# in between gets invented prefixes, even ns0 for the xml: namespace, which no XML parser accepts.
WSMAN_CONSTRUCTION = threading.Lock()


# sha256 of the source of `WSMan.invoke` in every pypsrp release whose invoke `invoke` below is a copy of
INVOKE_SOURCES = {
    "0cd3653376eb0d08750340a3ebcd9c2eade3a94cee9daafe06fdccbd900f0ef6": "pypsrp 0.9.0 and 0.9.1",
}
_pypsrp_log = logging.getLogger("pypsrp.wsman")  # the logger pypsrp's own invoke writes to
_ENVELOPE = f"{{{NAMESPACES['s']}}}Envelope"
_BODY = f"{{{NAMESPACES['s']}}}Body"


def invoke(wsman: WSMan, action: str, resource_uri: str, resource: ET.Element | None, option_set: Any = None,
           selector_set: Any = None, timeout: int | None = None, *, retries_on_read_timeout: int = 0) -> ET.Element:
    """pypsrp's `WSMan.invoke` with the envelope written by scanner.winrm.envelope.serialize.

    pypsrp writes every request with ElementTree's pure-Python serializer (~55 us; `serialize` writes the same
    bytes in a quarter of the CPU; write_envelope says why under a lock). The rest is pypsrp's invoke line for
    line: the header from `_create_header` (private), the HTTP timeout of the operation timeout + 2 s, the
    read-timeout retries, a WS-Management fault read from an HTTP error by `_parse_wsman_fault` (private; else
    the transport error as it came, logged as pypsrp logs it) and the check that the reply's RelatesTo is the
    request's MessageID. INVOKE_SOURCES names the pypsrp releases it was copied from; missing_internals()
    reports any other.
    """
    envelope = ET.Element(_ENVELOPE)

    http_timeout = None
    if timeout:
        # the reply cannot be expected before the operation timeout: the HTTP timeout must exceed it
        http_timeout = timeout + 2

    message_id, header = wsman._create_header(action, resource_uri, option_set, selector_set, timeout)
    message_id = f"uuid:{message_id}"
    envelope.append(header)

    body = ET.SubElement(envelope, _BODY)
    if resource is not None:
        body.append(resource)

    xml = write_envelope(envelope)

    try:
        response = wsman.transport.send(xml, retries_on_read_timeout=retries_on_read_timeout, timeout=http_timeout)
    except WinRMTransportError as err:
        try:
            raise wsman._parse_wsman_fault(err.response_text)
        except ET.ParseError:
            _pypsrp_log.error("Failed to parse WSManFault message on WinRM error"
                              " response, raising original WinRMTransportError")
            raise err  # noqa: B904 - as pypsrp raises it

    response_xml = ET.fromstring(response)
    relates_to_et = response_xml.find("s:Header/wsa:RelatesTo", namespaces=NAMESPACES)
    relates_to = relates_to_et.text if relates_to_et is not None else ""

    if message_id != relates_to:
        raise WinRMError("Received related id does not match related "
                         f"expected message id: Sent: {message_id}, Received: {relates_to}")
    return response_xml


def write_envelope(envelope: ET.Element) -> bytes:
    """The envelope's bytes (scanner.winrm.envelope.serialize), never while a WSMan registers its prefixes."""
    with WSMAN_CONSTRUCTION:
        return serialize(envelope)


def source_digest(function: Callable[..., Any]) -> str:
    """sha256 of a function's source, as INVOKE_SOURCES holds it."""
    return hashlib.sha256(textwrap.dedent(inspect.getsource(function)).encode()).hexdigest()


def build_requests_session(transport: Any) -> Any:
    """Build the requests session now, not lazily on the first send (`_TransportHTTP._build_session`).

    Needed so the session's connection pools can be instrumented (abort, reply bound) before the first
    request; it is the very call pypsrp's `send` makes, so its auth and TLS settings are unchanged.
    """
    transport.session = transport._build_session()
    return transport.session


def wrap_send_request(transport: Any, wrapper: Callable[[SendRequest], SendRequest]) -> None:
    """Replace `_TransportHTTP._send_request` with `wrapper(original)`.

    It is the one method every HTTP exchange passes through (pypsrp's own encryption set-up POST included),
    so the deadline check, the abort check and the DTD refusal run before pypsrp parses any reply; the
    public `send` would miss the set-up POST and sees only the unwrapped body.
    """
    transport._send_request = wrapper(transport._send_request)


def install_transport(wsman: Any, transport: Any) -> None:
    """Put cmaudit's lean transport (scanner.winrm.lean) in place of pypsrp's requests-based `_TransportHTTP`.

    `WSMan.transport` is a plain attribute; WSMan uses three things of it: `send(message,
    retries_on_read_timeout=..., timeout=...)`, `endpoint` (the wsa:To header) and `close()`. The lean
    transport is built from the replaced one's `endpoint`, `path` and `wrap_required`, so URL and encryption
    policy stay pypsrp's. missing_internals() checks all of that is still so.
    """
    wsman.transport = transport


def set_response_body(response: Any, body: bytes) -> None:
    """Store a body read in bounded chunks where requests keeps a read body (`Response._content`).

    requests offers no public way to read at most N bytes and then hand the response on; without this a
    hostile server could make `response.content` buffer an unbounded reply.
    """
    response._content = body


def track_new_connections(session: Any, on_connection: Callable[[Any], None],
                          before_connect: Callable[[], None]) -> None:
    """Call `before_connect()` before and `on_connection(conn)` after every connection urllib3 opens.

    urllib3 has no connect hook; swapping each pool manager's `pool_classes_by_scheme` for pools whose
    ConnectionCls is wrapped is how `abort()` learns every socket it must shut down to wake a worker
    blocked in recv() (urllib3 2.x).
    """
    for adapter in session.adapters.values():
        poolmanager = adapter.poolmanager
        classes = dict(poolmanager.pool_classes_by_scheme)
        for scheme, pool_cls in classes.items():
            classes[scheme] = _tracking_pool(pool_cls, on_connection, before_connect)
        poolmanager.pool_classes_by_scheme = classes


def _tracking_pool(pool_cls: Callable[..., Any], on_connection: Callable[[Any], None],
                   before_connect: Callable[[], None]) -> Callable[..., Any]:
    def make_pool(*args: Any, **kwargs: Any) -> Any:
        pool = pool_cls(*args, **kwargs)
        conn_cls = pool.ConnectionCls

        def make_conn(*cargs: Any, **ckwargs: Any) -> Any:
            conn = conn_cls(*cargs, **ckwargs)
            connect = conn.connect

            def tracked_connect() -> None:
                before_connect()
                connect()
                on_connection(conn)

            conn.connect = tracked_connect
            return conn

        pool.ConnectionCls = make_conn
        return pool

    return make_pool


def shell_selectors(shell: Any) -> Any:
    """The SelectorSet (ShellId) pypsrp keeps for an open shell (`WinRS._selector_set`), or None.

    WinRS.close() reuses the shell's own WSMan; deleting an aborted host's shell needs a fresh connection,
    and WinRM 1.1 names the shell only in ResourceCreated's selectors (no rsp:ShellId for `WinRS.id`).
    """
    return getattr(shell, "_selector_set", None)


def negotiated_protocol(transport: Any) -> str | None:
    """"kerberos" or "ntlm": what pyspnego settled on for this connection (None for Basic/certificate/CredSSP).

    pypsrp's HTTPNegotiateAuth keeps each host's pyspnego context in `contexts`; nothing else says whether
    Negotiate ended in Kerberos or fell back to NTLM, which the debug trace must show.
    """
    contexts = getattr(getattr(getattr(transport, "session", None), "auth", None), "contexts", None)
    if not isinstance(contexts, dict):
        return None
    for context in contexts.values():
        protocol = getattr(context, "negotiated_protocol", None)
        if isinstance(protocol, str):
            return protocol
    return None


def missing_internals() -> list[str]:
    """What the overrides above need and the installed pypsrp lacks (empty when all is there)."""
    missing: list[str] = []
    if "_selector_set" not in vars(WinRS(cast(Any, None))):
        missing.append("WinRS._selector_set")
    for name, params in (("_build_session", ("self",)), ("_send_request", ("self", "request", "timeout"))):
        method = getattr(_TransportHTTP, name, None)
        if method is None:
            missing.append(f"_TransportHTTP.{name}")
        elif tuple(inspect.signature(method).parameters) != params:
            missing.append(f"_TransportHTTP.{name}{tuple(inspect.signature(method).parameters)}")
    from pypsrp.negotiate import HTTPNegotiateAuth

    if source_digest(WSMan.invoke) not in INVOKE_SOURCES:
        missing.append("WSMan.invoke (changed: compare pypsrp_compat.invoke with it)")
    header_params = ("self", "action", "resource_uri", "option_set", "selector_set", "timeout")
    for name, wanted in (("_create_header", header_params), ("_parse_wsman_fault", ("xml_text",))):
        method = getattr(WSMan, name, None)
        if method is None:
            missing.append(f"WSMan.{name}")
        elif tuple(inspect.signature(method).parameters) != wanted:
            missing.append(f"WSMan.{name}{tuple(inspect.signature(method).parameters)}")
    if "self.transport.endpoint" not in inspect.getsource(WSMan._create_header):
        missing.append("WSMan._create_header -> self.transport.endpoint")
    init = inspect.getsource(_TransportHTTP.__init__)
    missing += [f"_TransportHTTP.{name}" for name in ("endpoint", "path", "wrap_required")
                if f"self.{name} =" not in init]

    if "self.contexts" not in inspect.getsource(HTTPNegotiateAuth):
        missing.append("HTTPNegotiateAuth.contexts")
    return missing
