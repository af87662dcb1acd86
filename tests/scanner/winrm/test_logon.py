"""The logon as a state object, without sockets: each leg's Authorization value out, the server's answer in."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import spnego
from spnego.exceptions import InvalidTokenError

from scanner.model.errors import HostAuthFailed, HostInternalError, HostProtocolError
from scanner.model.host import Host
from scanner.winrm.faults import translate
from scanner.winrm.logon import MAX_LEGS, LoggedOn, Logon, LogonAnswer, auth_schemes, token_for
from scanner.winrm.transport import (
    HTTPStatus,
    LogonBroken,
    LogonFailed,
    LogonRejected,
    LogonRoundTrips,
    OwnBug,
    SchemeNotOffered,
)
from tests.support.ntlm import ntlm_challenge


class FakeContext:
    """A security context that answers each server token with the next of `tokens`, complete after `legs`."""

    def __init__(self, provider: str, tokens: list[bytes], legs: int, mechanism: str = "ntlm",
                 fail_on: bytes | None = None) -> None:
        self.provider, self.tokens, self.legs = provider, list(tokens), legs
        self.negotiated_protocol: str | None = None
        self.mechanism, self.fail_on = mechanism, fail_on
        self.complete = False
        self.seen: list[bytes | None] = []

    def step(self, in_token: bytes | None = None) -> bytes | None:
        self.seen.append(in_token)
        if in_token is not None and in_token == self.fail_on:
            raise InvalidTokenError(context_msg="the server's token was refused")
        self.negotiated_protocol = self.mechanism
        token = self.tokens.pop(0) if self.tokens else None
        self.complete = len(self.seen) >= self.legs
        return token


def _logon(contexts: list[FakeContext], auth: str = "ntlm") -> tuple[Logon, list[str]]:
    made: list[str] = []

    def new_context(provider: str) -> Any:
        made.append(provider)
        return contexts[len(made) - 1]

    return Logon("10.0.0.1", auth, new_context, user="LAB\\auditor"), made


def _header(scheme: str, token: bytes) -> str:
    return f"{scheme} {base64.b64encode(token).decode()}"


def _token_of(value: str) -> bytes:
    return base64.b64decode(value.split(" ", 1)[1])


def test_ntlm_needs_two_legs() -> None:
    """NEGOTIATE goes out with the first POST, the challenge comes back, AUTHENTICATE goes out, a 200 logs on."""
    context = FakeContext("ntlm", [b"NEGOTIATE", b"AUTHENTICATE"], legs=2)
    logon, _ = _logon([context])
    first = logon.start()
    assert first.startswith("Negotiate ") and _token_of(first) == b"NEGOTIATE"
    second = logon.answer(LogonAnswer(401, (_header("Negotiate", b"CHALLENGE"),)))
    assert isinstance(second, str) and _token_of(second) == b"AUTHENTICATE"
    done = logon.answer(LogonAnswer(200))
    assert isinstance(done, LoggedOn) and done.scheme == "Negotiate" and done.mechanism == "ntlm"
    assert context.seen == [None, b"CHALLENGE"] and logon.legs == 2


def test_a_final_token_in_the_200_completes_the_context() -> None:
    """Kerberos' AP-REP (or SPNEGO's mechListMIC) rides on the 200: the context takes it before logging on."""
    context = FakeContext("negotiate", [b"AP-REQ"], legs=2, mechanism="kerberos")
    logon, _ = _logon([context], auth="negotiate")
    logon.start()
    done = logon.answer(LogonAnswer(200, (_header("Negotiate", b"AP-REP"),)))
    assert isinstance(done, LoggedOn) and done.mechanism == "kerberos"
    assert context.seen == [None, b"AP-REP"] and context.complete


def test_a_bare_401_after_authenticate_is_a_rejected_password() -> None:
    """NTLM's 401 without a token after AUTHENTICATE is the password (or the account) refused: `final` says the
    last token was answered."""
    logon, _ = _logon([FakeContext("ntlm", [b"NEGOTIATE", b"AUTHENTICATE"], legs=2)])
    logon.start()
    logon.answer(LogonAnswer(401, (_header("Negotiate", b"CHALLENGE"),)))
    with pytest.raises(LogonRejected) as rejected:
        logon.answer(LogonAnswer(401, ("Negotiate",)))
    assert rejected.value.final and rejected.value.mechanism == "ntlm" and "LAB\\auditor" in rejected.value.message


def test_a_server_that_keeps_challenging_gets_at_most_max_legs() -> None:
    """A listener that answers every leg with another challenge ends the logon after MAX_LEGS legs, never a flood."""
    context = FakeContext("ntlm", [b"T"] * 100, legs=1000)
    logon, _ = _logon([context])
    sent = [logon.start()]
    with pytest.raises(LogonRoundTrips):
        while True:
            step = logon.answer(LogonAnswer(401, (_header("Negotiate", b"CHALLENGE-AGAIN"),)))
            assert isinstance(step, str)
            sent.append(step)
    assert len(sent) == MAX_LEGS == logon.legs <= 4


def test_kerberos_only_listener_starts_over_under_the_kerberos_scheme() -> None:
    """A listener offering only `Kerberos` (Negotiate turned off) gets the logon again under that scheme, once,
    with a Kerberos context; the start-over counts towards the bound."""
    first = FakeContext("negotiate", [b"SPNEGO"], legs=2)
    second = FakeContext("kerberos", [b"AP-REQ"], legs=2, mechanism="kerberos")
    logon, made = _logon([first, second], auth="negotiate")
    logon.start()
    again = logon.answer(LogonAnswer(401, ("Kerberos",)))
    assert isinstance(again, str) and again.startswith("Kerberos ") and _token_of(again) == b"AP-REQ"
    done = logon.answer(LogonAnswer(200, (_header("Kerberos", b"AP-REP"),)))
    assert isinstance(done, LoggedOn) and done.scheme == "Kerberos"
    assert made == ["negotiate", "kerberos"] and logon.legs == 2


@pytest.mark.parametrize(("auth", "offered"), [
    pytest.param("ntlm", "Kerberos", id="ntlm-to-a-kerberos-only-listener"),
    pytest.param("negotiate", "Basic realm=\"WSMAN\"", id="basic-only"),
])
def test_a_listener_without_a_usable_scheme_is_refused_by_name(auth: str, offered: str) -> None:
    """A method the listener does not offer ends at once, naming what it offers (no password was tried)."""
    logon, _ = _logon([FakeContext(auth, [b"FIRST"], legs=2)], auth=auth)
    logon.start()
    with pytest.raises(SchemeNotOffered) as refused:
        logon.answer(LogonAnswer(401, (offered,)))
    assert auth in refused.value.message


NTLM_HOST = Host(name="sms01", address="10.0.0.1", port=5985, scheme="http", auth="ntlm", username="LAB\\auditor")


def test_a_closed_connection_with_a_challenge_to_answer_ends_the_logon() -> None:
    """NTLM cannot go on over another connection: a challenge on a connection the server closed (a proxy without
    keep-alive) ends the logon as ERROR/protocol naming keep-alive, never as a rejected password."""
    logon, _ = _logon([FakeContext("ntlm", [b"NEGOTIATE", b"AUTHENTICATE"], legs=2)])
    logon.start()
    with pytest.raises(LogonBroken) as broken:
        logon.answer(LogonAnswer(401, (_header("Negotiate", b"CHALLENGE"),), connection_kept=False))
    assert broken.value.kind == "closed" and "closed the connection" in broken.value.message
    err = translate(broken.value, "sms01", target=NTLM_HOST)
    assert isinstance(err, HostProtocolError) and not err.password_rejected and "keep" in err.hint


def test_another_status_during_the_logon_is_an_http_status() -> None:
    """HTTP.sys's 400 to headers too long (Kerberos token bloat) comes out as a status seen during the logon."""
    logon, _ = _logon([FakeContext("negotiate", [b"BIG-TOKEN"], legs=1, mechanism="kerberos")], auth="negotiate")
    logon.start()
    with pytest.raises(HTTPStatus) as status:
        logon.answer(LogonAnswer(400, (), b"Bad Request - Request Too Long", server="Microsoft-HTTPAPI/2.0"))
    assert status.value.status == 400 and status.value.during_logon and "Too Long" in status.value.text


def test_the_security_packages_refusal_keeps_its_error_as_the_cause() -> None:
    """pyspnego's error (a refused token, a rejected password at the KDC, SSPI's SEC_E_LOGON_DENIED) ends the logon
    as LogonFailed with that error as its cause, for the rejection table to read."""
    logon, _ = _logon([FakeContext("ntlm", [b"NEGOTIATE"], legs=2, fail_on=b"BAD")])
    logon.start()
    with pytest.raises(LogonFailed) as failed:
        logon.answer(LogonAnswer(401, (_header("Negotiate", b"BAD"),)))
    assert isinstance(failed.value.cause, InvalidTokenError) and "refused" in failed.value.message


def _real_ntlm(provider: str) -> Any:
    return spnego.client("LAB\\auditor", "S3cret!", hostname="sms01", service="host", protocol=provider,
                         options=spnego.NegotiateOptions.wrapping_winrm)


def test_pyspnegos_ntlm_goes_two_legs() -> None:
    """pyspnego's own NTLM driven through the state object: NEGOTIATE, then AUTHENTICATE to the challenge."""
    logon = Logon("10.0.0.1", "ntlm", _real_ntlm)
    assert _token_of(logon.start()).startswith(b"NTLMSSP\x00\x01\x00\x00\x00")  # NEGOTIATE
    authenticate = logon.answer(LogonAnswer(401, (_header("Negotiate", ntlm_challenge()),)))
    assert isinstance(authenticate, str) and _token_of(authenticate).startswith(b"NTLMSSP\x00\x03\x00\x00\x00")
    done = logon.answer(LogonAnswer(200))
    assert isinstance(done, LoggedOn) and done.mechanism == "ntlm" and logon.legs == 2


def test_pyspnego_would_start_over_for_ever_but_the_logon_stops() -> None:
    """Given a new challenge after AUTHENTICATE, pyspnego's finished NTLM context starts over with NEGOTIATE, and
    would do so for as long as the server plays along; the logon stops at MAX_LEGS."""
    logon = Logon("10.0.0.1", "ntlm", _real_ntlm)
    logon.start()
    tokens: list[bytes] = []
    with pytest.raises(LogonRoundTrips):
        for _ in range(100):
            step = logon.answer(LogonAnswer(401, (_header("Negotiate", ntlm_challenge()),)))
            assert isinstance(step, str)
            tokens.append(_token_of(step)[:12])
    assert tokens[:2] == [b"NTLMSSP\x00\x03\x00\x00\x00", b"NTLMSSP\x00\x01\x00\x00\x00"]  # AUTHENTICATE, NEGOTIATE
    assert logon.legs == MAX_LEGS


def test_schemes_and_tokens_are_read_from_every_header_value() -> None:
    """WWW-Authenticate values name their schemes in order; a token is read only under its own scheme, and one
    that is not base64 carries nothing."""
    values = ("Negotiate", "Kerberos, Basic realm=\"WSMAN\"", "NTLM abc=")
    assert auth_schemes(*values) == ["Negotiate", "Kerberos", "Basic", "NTLM"]
    assert token_for(values, "ntlm") == base64.b64decode("abc=")
    assert token_for(values, "negotiate") is None and not token_for(("Negotiate ***",), "Negotiate")


def test_a_bare_401_to_ntlms_negotiate_is_not_a_rejected_password() -> None:
    """A bare 401 to the first NTLM message (no password's proof sent yet) is ERROR/auth that says no password was
    sent, and the lockout breaker does not count it."""
    logon = Logon("10.0.0.1", "ntlm", _real_ntlm)
    logon.start()
    with pytest.raises(LogonRejected) as rejected:
        logon.answer(LogonAnswer(401, ("Negotiate",)))
    assert not rejected.value.final
    err = translate(rejected.value, "sms01", target=NTLM_HOST)
    assert isinstance(err, HostAuthFailed) and not err.password_rejected
    assert "before any password was sent" in err.message and err.hint


def test_a_bare_401_after_authenticate_inside_spnego_is_a_rejected_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With Negotiate, pyspnego's context is not complete after the AUTHENTICATE it wraps in SPNEGO (it waits for
    the server's mechListMIC): the bare 401 to that leg still counts as the password refused."""
    def negotiate(provider: str) -> Any:
        return spnego.client("LAB\\auditor", "S3cret!", hostname="sms01", service="http", protocol=provider,
                             options=spnego.NegotiateOptions.use_negotiate | spnego.NegotiateOptions.wrapping_winrm)

    (tmp_path / "ntlm-users").write_text("LAB:auditor:S3cret!\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(tmp_path / "ntlm-users"))  # pyspnego's acceptor makes the challenge
    server = spnego.server(protocol="negotiate", options=spnego.NegotiateOptions.use_negotiate)
    logon = Logon("10.0.0.1", "negotiate", negotiate)
    challenge = server.step(_token_of(logon.start()))
    authenticate = logon.answer(LogonAnswer(401, (_header("Negotiate", challenge or b""),)))
    assert isinstance(authenticate, str) and b"NTLMSSP\x00\x03" in _token_of(authenticate)
    with pytest.raises(LogonRejected) as rejected:
        logon.answer(LogonAnswer(401, ("Negotiate",)))
    assert rejected.value.final and rejected.value.mechanism == "ntlm"
    assert translate(rejected.value, "sms01", target=NTLM_HOST).password_rejected


def test_a_200_to_the_first_ntlm_leg_is_not_a_logon() -> None:
    """A listener answering NTLM's NEGOTIATE with 200 accepted nobody: ERROR/protocol at once, not a logon with an
    unfinished context that fails later as a missing password."""
    logon = Logon("10.0.0.1", "ntlm", _real_ntlm)
    logon.start()
    with pytest.raises(LogonBroken) as broken:
        logon.answer(LogonAnswer(200))
    assert broken.value.kind == "early-accept"
    err = translate(broken.value, "sms01", target=NTLM_HOST)
    assert isinstance(err, HostProtocolError) and not err.password_rejected and "before any credential" in err.message


def test_a_bug_of_ours_in_the_logon_is_an_internal_error() -> None:
    """Only the security package's own errors become the logon's failure: a bug in cmaudit's code (here a context
    that raises AttributeError) is ERROR/internal, never blamed on the server."""
    class Broken:
        complete = False
        negotiated_protocol = None

        def step(self, in_token: bytes | None = None) -> bytes:
            raise AttributeError("'NoneType' object has no attribute 'pack'")

    logon = Logon("10.0.0.1", "ntlm", lambda provider: Broken())
    with pytest.raises(OwnBug) as bug:
        logon.start()
    err = translate(bug.value, "sms01", target=NTLM_HOST)
    assert isinstance(err, HostInternalError) and "AttributeError" in err.message


@pytest.mark.parametrize(("offered", "in_hint", "not_in_hint"), [
    pytest.param('Basic realm="WSMAN"', "Basic", "--auth kerberos", id="basic-only"),
    pytest.param("Kerberos", "--auth kerberos", "Basic", id="kerberos-only"),
    pytest.param("", "listener", "--auth kerberos", id="nothing"),
])
def test_the_hint_for_a_scheme_not_offered_follows_what_is_offered(offered: str, in_hint: str,
                                                                   not_in_hint: str) -> None:
    """A listener that offers only Basic (or nothing) is not told to use Kerberos: the message names what the
    server offers and the hint fits it."""
    logon, _ = _logon([FakeContext("ntlm", [b"FIRST"], legs=2)], auth="ntlm")
    logon.start()
    with pytest.raises(SchemeNotOffered) as refused:
        logon.answer(LogonAnswer(401, (offered,) if offered else ()))
    err = translate(refused.value, "sms01", target=NTLM_HOST)
    assert isinstance(err, HostAuthFailed) and not err.password_rejected
    assert "'none'" not in err.message and in_hint in err.hint and not_in_hint not in err.hint
