"""The NTLM / Negotiate / Kerberos logon over HTTP as a state object: replies in, Authorization values out.

No sockets here (h11's and httpx's `auth_flow` way): the transport posts each Authorization value `Logon` gives
and hands it the server's answer, so every leg, the bound on legs and every refusal is a unit test with bytes in
and bytes out. The security package (pyspnego's context) comes from a factory, so tests give a fake.

The first leg already carries the first token (no anonymous probe). What an answer to a leg means:

    answer                                   before it          next
    200 (a final token or none)              a credential sent  the context takes the token; logged on
    200                                      only NTLM's        LogonBroken "early-accept" (nothing proved who we
                                             NEGOTIATE sent     are: not a logon a WinRM listener accepts)
    another status but 401                   -                  HTTPStatus (a 400 here is Kerberos token bloat)
    401 with a token for our scheme          -                  the context answers it: the next leg
    401 with a token, connection closed      -                  LogonBroken "closed" (NTLM cannot go on elsewhere)
    401 without one, our scheme not offered  context unfinished Kerberos offered (negotiate, kerberos): start
                                                                over under the Kerberos scheme; else SchemeNotOffered
    401 without one, otherwise               -                  LogonRejected, `final` when the last leg carried the
                                                                password's proof (NTLM's AUTHENTICATE, bare or inside
                                                                SPNEGO, whose context is not complete until the
                                                                server's last token) or the context is complete

At most MAX_LEGS legs per logon, a start-over included (NTLM needs 2, SPNEGO with Kerberos 1 or 2, a start-over
under the Kerberos scheme one more): a server that keeps challenging gets LogonRoundTrips, never a flood.
Only the security package's own errors become LogonFailed; anything else raised in a call into it is cmaudit's bug
(OwnBug), never blamed on the server.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scanner.winrm.transport import (
    HTTPStatus,
    LogonBroken,
    LogonFailed,
    LogonRejected,
    LogonRoundTrips,
    OwnBug,
    SchemeNotOffered,
    from_security_package,
    library_text,
)

MAX_LEGS = 4
_NTLM_NEGOTIATE = b"NTLMSSP\x00\x01\x00\x00\x00"
_NTLM_AUTHENTICATE = b"NTLMSSP\x00\x03\x00\x00\x00"
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


def carries_proof(token: bytes | None) -> bool:
    """Does this logon token prove who we are? NTLM's NEGOTIATE does not (the password's proof comes in
    AUTHENTICATE, bare or inside SPNEGO); any other token (AUTHENTICATE, a Kerberos AP-REQ) does."""
    if not token:
        return False
    return _NTLM_AUTHENTICATE in token or _NTLM_NEGOTIATE not in token


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
        self._last_token: bytes | None = None  # what the last leg sent
        self._proof_sent = False  # a leg carried a credential's proof

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
                raise LogonBroken(self.address, "the server closed the connection after its logon challenge, before "
                                                "the password's proof could answer it", scheme=self.scheme,
                                  kind="closed", mechanism=self.mechanism)
            return self._leg(self._call(self._context.step, token))
        offered = {name.lower() for name in auth_schemes(*reply.www_authenticate)}
        if self.scheme.lower() not in offered and not self._context.complete:
            return self._other_scheme(offered)
        final = bool(self._context.complete) or carries_proof(self._last_token)
        raise LogonRejected(self.address, f"Failed to authenticate the user {self.user or '(credential)'} with "
                                          f"{self.auth}", scheme=self.scheme, mechanism=self.mechanism, final=final)

    # -- the rows of the table above -----------------------------------------------------------------------
    def _done(self, reply: LogonAnswer, token: bytes | None) -> LoggedOn:
        if reply.status == 200 and not self._proof_sent:
            raise LogonBroken(self.address, "the server accepted the logon (HTTP 200) before any credential was sent",
                              scheme=self.scheme, kind="early-accept", mechanism=self.mechanism)
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
        shown = ", ".join(sorted(offered)) or "none"
        raise SchemeNotOffered(self.address, f"the server offers {shown}, which {self.auth} cannot use",
                               scheme=self.scheme, offered=tuple(sorted(offered)))

    def _leg(self, token: bytes | None) -> str:
        if self.legs >= self.max_legs:
            raise LogonRoundTrips(self.address, f"the server still asked for another logon round trip after "
                                                f"{self.legs} (NTLM needs 2, Negotiate and Kerberos at most "
                                                f"{self.max_legs})",
                                  scheme=self.scheme, mechanism=self.mechanism)
        self.legs += 1
        self._last_token = token
        self._proof_sent = self._proof_sent or carries_proof(token)
        return f"{self.scheme} {base64.b64encode(token or b'').decode()}"

    # -- helpers -------------------------------------------------------------------------------------------
    @property
    def mechanism(self) -> str | None:
        """What the security package settled on (or proposed): "ntlm", "kerberos", or None."""
        protocol = getattr(self._context, "negotiated_protocol", None)
        return protocol if isinstance(protocol, str) else None

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        """A call into the security package: its own errors (pyspnego's SpnegoError, krb5's, GSSAPI's) become
        LogonFailed; anything else is a bug of ours, said as such."""
        try:
            return function(*args)
        except Exception as exc:
            if not from_security_package(exc):
                raise OwnBug(self.address, f"internal error during the logon: {type(exc).__name__}", cause=exc) \
                    from exc
            raise LogonFailed(self.address, f"{type(exc).__name__}: {library_text(exc)}", scheme=self.scheme,
                              mechanism=self.mechanism, cause=exc) from exc
