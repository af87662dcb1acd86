"""Every use cmaudit makes of pypsrp's (and requests') private internals, each with its fallback.

cmaudit uses pypsrp through its public API (WSMan and its actions, WinRS, OptionSet/SelectorSet, the exceptions,
WinRMEncryption) and writes the WS-Management envelope itself (scanner.winrm.wsman). What is left of pypsrp's
internals is listed in INTERNALS with what cmaudit does without it: `usable(name)` checks one once, and when an
installed pypsrp (pyproject allows ">=0.9,<1") no longer has it as cmaudit knows it, says so in one debug line
and answers False, so the caller takes the plain public path. Nothing fails to install or to run because a
pypsrp release reshaped a private method.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

log = logging.getLogger(__name__)

# pypsrp's WSMan.__init__ calls ElementTree.register_namespace for every WS-Man prefix: it rewrites a
# process-wide dict, and two hosts' threads doing it at once can fail one of them with "dictionary keys changed
# during iteration". Every WSMan cmaudit builds is built under this lock, and envelopes are written under it too
# (scanner.winrm.wsman): register_namespace deletes a prefix before it sets it again, and a tree written in
# between gets invented prefixes, even ns0 for the xml: namespace, which no XML parser accepts.
WSMAN_CONSTRUCTION = threading.Lock()


@dataclass(frozen=True, slots=True)
class Internal:
    """A private piece of pypsrp (or requests) cmaudit relies on, how to tell it is still there, the fallback."""

    name: str
    what: str  # the piece, as the debug line names it
    present: Callable[[], bool]
    fallback: str  # what cmaudit does without it


def _has_build_session() -> bool:
    from pypsrp.wsman import _TransportHTTP

    method = getattr(_TransportHTTP, "_build_session", None)
    return method is not None and tuple(inspect.signature(method).parameters) == ("self",)


def _has_selector_set() -> bool:
    from pypsrp.shell import WinRS

    return "_selector_set" in vars(WinRS(cast(Any, None)))


def _has_negotiate_contexts() -> bool:
    from pypsrp.negotiate import HTTPNegotiateAuth

    return isinstance(getattr(HTTPNegotiateAuth(), "contexts", None), dict)


def _has_response_content() -> bool:
    import requests

    return "_content" in vars(requests.Response())


def _has_pool_hooks() -> bool:
    import requests

    with requests.Session() as session:
        manager = session.get_adapter("https://localhost/").poolmanager  # type: ignore[attr-defined]
        classes = getattr(manager, "pool_classes_by_scheme", None)
    return isinstance(classes, dict) and all(hasattr(cls, "ConnectionCls") for cls in classes.values())


INTERNALS = {
    internal.name: internal for internal in (
        Internal("build_session", "pypsrp _TransportHTTP._build_session(self)", _has_build_session,
                 "the requests transport (CredSSP, certificate) runs as pypsrp builds it: no early abort hook, "
                 "reply bound, TLS policy or trace"),
        Internal("selector_set", "pypsrp WinRS._selector_set", _has_selector_set,
                 "Receive replies are read by pypsrp's own WinRS.receive; an aborted host's shell is left to its "
                 "IdleTimeout"),
        Internal("negotiate_contexts", "pypsrp HTTPNegotiateAuth.contexts", _has_negotiate_contexts,
                 "the trace names the configured auth method, not the negotiated one (requests transport)"),
        Internal("response_content", "requests Response._content", _has_response_content,
                 "replies without a Content-Length are not bounded on the requests transport"),
        Internal("pool_hooks", "urllib3 PoolManager.pool_classes_by_scheme / ConnectionCls", _has_pool_hooks,
                 "abort() cannot wake a request blocked on the requests transport (its timeouts still end it)"),
    )
}
_checked: dict[str, bool] = {}
_checked_lock = threading.Lock()


def usable(name: str) -> bool:
    """Whether the internal `name` of INTERNALS is there as cmaudit knows it; one debug line the first time not."""
    with _checked_lock:
        known = _checked.get(name)
        if known is not None:
            return known
        internal = INTERNALS[name]
        try:
            present = bool(internal.present())
        except Exception:  # noqa: BLE001 - whatever a changed library does, the answer is "not as we know it"
            present = False
        _checked[name] = present
    if not present:
        log.debug("%s is not as cmaudit knows it (another pypsrp/requests release?): %s", internal.what,
                  internal.fallback)
    return present


def forget_checks() -> None:
    """Check every internal again on its next use (tests that simulate a changed pypsrp)."""
    with _checked_lock:
        _checked.clear()


def missing_internals() -> list[str]:
    """The internals the installed libraries do not have as cmaudit knows them (`cmaudit doctor`, tests)."""
    return [internal.what for name, internal in INTERNALS.items() if not usable(name)]


# -- the uses, each behind its check -------------------------------------------------------------------------------
def build_requests_session(transport: Any) -> Any:
    """Build pypsrp's requests session now, not lazily on the first send (call only when usable("build_session")).

    It is the very call pypsrp's `send` makes, so its auth and TLS settings are pypsrp's; built early, its
    connection pools can be instrumented before the first request.
    """
    transport.session = transport._build_session()
    return transport.session


def set_response_body(response: Any, body: bytes) -> None:
    """Store a body read in bounded chunks where requests keeps a read body (`Response._content`).

    requests offers no public way to read at most N bytes and then hand the response on; without this a
    hostile server could make `response.content` buffer an unbounded reply.
    """
    if usable("response_content"):
        response._content = body


def track_new_connections(session: Any, on_connection: Callable[[Any], None],
                          before_connect: Callable[[], None]) -> None:
    """Call `before_connect()` before and `on_connection(conn)` after every connection urllib3 opens.

    urllib3 has no connect hook; swapping each pool manager's `pool_classes_by_scheme` for pools whose
    ConnectionCls is wrapped is how `abort()` learns every socket it must shut down.
    """
    if not usable("pool_hooks"):
        return
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
    return getattr(shell, "_selector_set", None) if usable("selector_set") else None


def negotiated_protocol(transport: Any) -> str | None:
    """"kerberos" or "ntlm": what pyspnego settled on in pypsrp's requests transport (None if not known).

    pypsrp's HTTPNegotiateAuth keeps each host's pyspnego context in `contexts`; nothing else says whether
    Negotiate ended in Kerberos or fell back to NTLM, which the debug trace and doctor show.
    """
    if not usable("negotiate_contexts"):
        return None
    contexts = getattr(getattr(getattr(transport, "session", None), "auth", None), "contexts", None)
    if not isinstance(contexts, dict):
        return None
    for context in contexts.values():
        protocol = getattr(context, "negotiated_protocol", None)
        if isinstance(protocol, str):
            return protocol
    return None
