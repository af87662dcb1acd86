"""The NTLM / Negotiate / Kerberos logon over HTTP as a state object: replies in, Authorization values out.

No sockets here (h11's and httpx's `auth_flow` way): the transport posts each Authorization value `Logon` gives
and hands it the server's answer, so every leg, the bound on legs and every refusal is a unit test with bytes in
and bytes out. The security package (pyspnego's context) comes from a factory, so tests give a fake.

The first leg already carries the first token (no anonymous probe). What an answer to a leg means:

    answer                                   context            next
    200 (a final token or none)              -                  the context takes the token; logged on
    another status but 401                   -                  HTTPStatus (a 400 here is Kerberos token bloat)
    401 with a token for our scheme          -                  the context answers it: the next leg
    401 without one, our scheme not offered  not yet complete   Kerberos offered (negotiate, kerberos): start
                                                                over under the Kerberos scheme; else SchemeNotOffered
    401 without one, otherwise               -                  LogonRejected (`final` once the context is complete:
                                                                NTLM's 401 after AUTHENTICATE)
    the server closed the connection with a token to answer    LogonRejected (NTLM cannot go on elsewhere)

At most MAX_LEGS legs per logon, a start-over included (NTLM needs 2, SPNEGO with Kerberos 1 or 2, a start-over
under the Kerberos scheme one more): a server that keeps challenging gets LogonRoundTrips, never a flood.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scanner.winrm.transport import (
    HTTPStatus,
    LogonFailed,
    LogonRejected,
    LogonRoundTrips,
    SchemeNotOffered,
    library_text,
)

MAX_LEGS = 4
SCHEMES = ("Negotiate", "Kerberos", "NTLM")

ContextFactory = Callable[[str], Any]  # provider ("ntlm", "negotiate", "kerberos") -> a pyspnego client context


@dataclass(frozen=True, slots=True)
class LogonAnswer:
    """The server's answer to one leg: status, its WWW-Authenticate values, body, whether the connection lives."""

    status: int
    www_authenticate: tuple[str, ...] = ()
    body: bytes = b""
    connection_kept: bool = True
    server: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedOn:
    """The logon succeeded: the context (message encryption uses it) and the scheme it ran under."""

    context: Any = field(repr=False)
    scheme: str
    mechanism: str | None


def auth_schemes(*values: str) -> list[str]:
    """The auth scheme names WWW-Authenticate values offer, in order (never the tokens that may follow them)."""
    return [part.strip().split(" ", 1)[0] for value in values for part in value.split(",") if part.strip()]


def token_for(values: tuple[str, ...] | list[str], scheme: str) -> bytes | None:
    """The security token the server sent under `scheme` (None without one, or when it is not base64)."""
    for value in values:
        for part in value.split(","):
            name, _, token = part.strip().partition(" ")
            if name.lower() == scheme.lower() and token.strip():
                try:
                    return base64.b64decode(token.strip())
                except (binascii.Error, ValueError):
                    return None
    return None


class Logon:
    """One logon: `start()` gives the first Authorization value, `answer(reply)` the next one, or LoggedOn.

    Raises the LogonError subclasses of scanner.winrm.transport (HTTPStatus for a status that is neither 200
    nor 401); a security package's own error is wrapped in LogonFailed with it as the cause.
    """

    def __init__(self, address: str, auth: str, new_context: ContextFactory, *, user: str = "",
                 max_legs: int = MAX_LEGS) -> None:
        self.address, self.auth, self.user = address, auth, user
        self.max_legs = max_legs
        self.legs = 0
        self._new_context = new_context
        self.scheme = "Negotiate"
        self._provider = auth
        self._context: Any = None
        self._restarted = False

    # -- the two calls -------------------------------------------------------------------------------------
    def start(self) -> str:
        """The first leg's Authorization value (a new context's first token)."""
        self._context = self._call(self._new_context, self._provider)
        return self._leg(self._call(self._context.step))

    def answer(self, reply: LogonAnswer) -> str | LoggedOn:
        """The next leg's Authorization value, or LoggedOn once the server accepted the logon."""
        token = token_for(reply.www_authenticate, self.scheme)
        if reply.status != 401:
            return self._done(reply, token)
        if token:
            if not reply.connection_kept:
                raise self._rejected("the server closed the connection in the middle of the logon", final=False)
            return self._leg(self._call(self._context.step, token))
        offered = {name.lower() for name in auth_schemes(*reply.www_authenticate)}
        if self.scheme.lower() not in offered and not self._context.complete:
            return self._other_scheme(offered)
        raise self._rejected(f"Failed to authenticate the user {self.user or '(credential)'} with {self.auth}",
                             final=bool(self._context.complete))

    # -- the rows of the table above -----------------------------------------------------------------------
    def _done(self, reply: LogonAnswer, token: bytes | None) -> LoggedOn:
        if token and not self._context.complete:
            self._call(self._context.step, token)  # Kerberos' AP-REP / SPNEGO's mechListMIC completes the context
        if reply.status != 200:
            raise HTTPStatus(self.address, reply.status, reply.body.decode("utf-8", "replace"), server=reply.server,
                             during_logon=True)
        return LoggedOn(self._context, self.scheme, self.mechanism)

    def _other_scheme(self, offered: set[str]) -> str:
        other = next((s for s in SCHEMES if s.lower() in offered), None)
        if other == "Kerberos" and self._provider in ("negotiate", "kerberos") and not self._restarted:
            self.scheme, self._provider, self._restarted = "Kerberos", "kerberos", True
            return self.start()  # start over under the Kerberos scheme
        raise SchemeNotOffered(self.address, f"Server responded with the auth protocol '{other or 'none'}' which is "
                                             f"incompatible with the specified auth_provider '{self.auth}'",
                               scheme=self.scheme, offered=tuple(sorted(offered)))

    def _leg(self, token: bytes | None) -> str:
        if self.legs >= self.max_legs:
            raise LogonRoundTrips(self.address, f"the server still asked for another logon round trip after "
                                                f"{self.legs} (NTLM needs 2, Negotiate and Kerberos at most "
                                                f"{self.max_legs})",
                                  scheme=self.scheme, mechanism=self.mechanism)
        self.legs += 1
        return f"{self.scheme} {base64.b64encode(token or b'').decode()}"

    def _rejected(self, message: str, *, final: bool) -> LogonRejected:
        return LogonRejected(self.address, message, scheme=self.scheme, mechanism=self.mechanism, final=final)

    # -- helpers -------------------------------------------------------------------------------------------
    @property
    def mechanism(self) -> str | None:
        """What the security package settled on (or proposed): "ntlm", "kerberos", or None."""
        protocol = getattr(self._context, "negotiated_protocol", None)
        return protocol if isinstance(protocol, str) else None

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        """A call into the security package; its errors (pyspnego's SpnegoError and friends) become LogonFailed."""
        try:
            return function(*args)
        except Exception as exc:
            raise LogonFailed(self.address, f"{type(exc).__name__}: {library_text(exc)}", scheme=self.scheme,
                              mechanism=self.mechanism, cause=exc) from exc
