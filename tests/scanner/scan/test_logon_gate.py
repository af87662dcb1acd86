"""The logon gate's rules, without sockets or clocks: how many logons of an account it lets run at once."""

from __future__ import annotations

import itertools
import random

import pytest

from scanner.model.errors import HostAccessDenied, HostAuthFailed, HostError, HostProtocolError, HostTimeout
from scanner.scan.logon_gate import Admitted, LogonGate, LogonVerdict, NoRetry, Refused, Waiting, verdict_of

A = ("LAB\\auditor", "CMAUDIT_PASSWORD")
B = ("LAB\\other", "OTHER_PASSWORD")


def _ticket(decision: object) -> int:
    assert isinstance(decision, Admitted), decision
    return decision.ticket


def test_first_logon_of_an_account_happens_alone() -> None:
    """Until one logon worked, a second host of the same account waits; another account is not held back."""
    gate = LogonGate(5)
    first = _ticket(gate.admit(A, "cm1", 0.0))
    assert isinstance(gate.admit(A, "cm2", 0.1), Waiting)
    _ticket(gate.admit(B, "other1", 0.1))
    gate.logged_on(first)
    for n in range(2, 40):  # proven: every other host goes at once
        _ticket(gate.admit(A, f"cm{n}", 0.2))


def test_a_wrong_password_reaches_at_most_the_allowance() -> None:
    """With K=3, rejections open at most the allowance left, and the fourth host is refused, never tried."""
    gate = LogonGate(3)
    first = _ticket(gate.admit(A, "cm1", 0.0))
    assert isinstance(gate.admit(A, "cm2", 0.0), Waiting)
    gate.finish(first, LogonVerdict.REJECTED)
    second, third = _ticket(gate.admit(A, "cm2", 0.1)), _ticket(gate.admit(A, "cm3", 0.1))
    assert isinstance(gate.admit(A, "cm4", 0.1), Waiting)  # 1 rejected + 2 in flight = 3
    gate.finish(second, LogonVerdict.REJECTED)
    assert isinstance(gate.admit(A, "cm4", 0.2), Waiting)  # 2 rejected + 1 in flight = 3
    gate.finish(third, LogonVerdict.REJECTED)
    refused = gate.admit(A, "cm4", 0.3)
    assert refused == Refused(("cm1", "cm2", "cm3"))
    assert gate.tripped(A) and gate.counted == ["cm1", "cm2", "cm3"]


def test_a_logon_without_verdict_lets_the_next_host_go_first() -> None:
    """A first host that was unreachable said nothing about the password: the next one goes, alone again."""
    gate = LogonGate(5)
    first = _ticket(gate.admit(A, "down", 0.0))
    gate.finish(first, LogonVerdict.UNKNOWN)
    _ticket(gate.admit(A, "cm2", 0.1))
    assert isinstance(gate.admit(A, "cm3", 0.1), Waiting)


def test_a_hung_first_logon_holds_the_others_only_for_the_patience() -> None:
    """A lone first logon that has not answered after the patience lets up to K logons run, never more."""
    gate = LogonGate(3, patience=10.0)
    _ticket(gate.admit(A, "hung", 0.0))
    waiting = gate.admit(A, "cm2", 1.0)
    assert waiting == Waiting(retry_at=10.0)
    _ticket(gate.admit(A, "cm2", 10.0))
    _ticket(gate.admit(A, "cm3", 10.0))
    assert gate.admit(A, "cm4", 10.0) == Waiting(None)


def test_access_denied_proves_the_password_and_resets_the_streak() -> None:
    """Rejections in a row are what count: a logon that worked in between starts the count again."""
    gate = LogonGate(2)
    gate.finish(_ticket(gate.admit(A, "bad1", 0.0)), LogonVerdict.REJECTED)
    gate.finish(_ticket(gate.admit(A, "denied", 0.0)), LogonVerdict.ACCEPTED)
    gate.finish(_ticket(gate.admit(A, "bad2", 0.0)), LogonVerdict.REJECTED)
    assert not gate.tripped(A)
    _ticket(gate.admit(A, "next", 0.0))


def test_a_tripped_account_stays_tripped() -> None:
    """A logon admitted before the trip that later works does not reopen the account for the rest of the run."""
    gate = LogonGate(1)
    proven = _ticket(gate.admit(A, "cm1", 0.0))
    gate.logged_on(proven)
    late = _ticket(gate.admit(A, "cm2", 0.0))
    gate.finish(_ticket(gate.admit(A, "cm3", 0.0)), LogonVerdict.REJECTED)
    gate.finish(late, LogonVerdict.ACCEPTED)
    assert isinstance(gate.admit(A, "cm4", 0.1), Refused)


def test_zero_turns_the_gate_off() -> None:
    """--max-auth-failures 0: every logon is admitted at once and nothing is ever refused."""
    gate = LogonGate(0)
    tickets = [_ticket(gate.admit(A, f"cm{n}", 0.0)) for n in range(10)]
    for ticket in tickets:
        gate.finish(ticket, LogonVerdict.REJECTED)
    _ticket(gate.admit(A, "cm10", 0.0))


def test_news_about_a_ticket_counts_once() -> None:
    """A logon signal followed by the attempt's end frees one place in flight, and a finished ticket is ignored."""
    gate = LogonGate(3)
    ticket = _ticket(gate.admit(A, "cm1", 0.0))
    gate.logged_on(ticket)
    gate.finish(ticket, LogonVerdict.ACCEPTED)
    gate.finish(ticket, LogonVerdict.REJECTED)
    gate.logged_on(ticket)
    assert gate.in_flight(A) == 0 and gate.counted == []


@pytest.mark.parametrize(("error", "sent", "verdict"), [
    pytest.param(HostAuthFailed("h", "credentials rejected"), True, LogonVerdict.REJECTED, id="rejected"),
    pytest.param(HostAuthFailed("h", "no SPN", password_rejected=False), False, LogonVerdict.UNKNOWN, id="no-spn"),
    pytest.param(HostAuthFailed("h", "Basic refused for a domain account", password_rejected=False), True,
                 LogonVerdict.UNKNOWN, id="refused-before-any-password-check"),
    pytest.param(HostTimeout("h", "no answer"), False, LogonVerdict.UNKNOWN, id="timeout-before-the-password"),
    pytest.param(HostTimeout("h", "no answer"), True, LogonVerdict.UNANSWERED, id="timeout-after-the-password"),
    pytest.param(HostProtocolError("h", "HTTP 504", retryable=True), True, LogonVerdict.UNANSWERED,
                 id="5xx-after-the-password"),
    pytest.param(HostAccessDenied("h", "not an administrator"), True, LogonVerdict.UNKNOWN,
                 id="access-refused-after-an-accepted-logon"),
    pytest.param(None, True, LogonVerdict.UNANSWERED, id="result-without-a-proof"),
])
def test_what_an_attempt_says_about_the_password(error: HostError | None, sent: bool, verdict: LogonVerdict) -> None:
    """Without its session's proof, an attempt whose password left counts against the allowance unless it was
    rejected (which counts anyway); one that never sent the password costs nothing."""
    assert verdict_of(error, password_sent=sent) is verdict


def test_an_unanswered_password_counts_until_the_account_is_proven() -> None:
    """A logon whose password left without an answer takes a place in the allowance, as a rejection does: with
    K=2, one unanswered and one rejected logon trip the account, and the refusal names both."""
    gate = LogonGate(2)
    gate.finish(_ticket(gate.admit(A, "slow", 0.0)), LogonVerdict.UNANSWERED)
    assert gate.spent(A) == 1
    second = _ticket(gate.admit(A, "cm2", 0.1))
    assert isinstance(gate.admit(A, "cm3", 0.1), Waiting)  # 1 unanswered + 1 in flight = 2
    gate.finish(second, LogonVerdict.REJECTED)
    refused = gate.admit(A, "cm3", 0.2)
    assert refused == Refused(("cm2",), ("slow",))
    assert isinstance(refused, Refused) and "took it without an answer: slow" in refused.why


def test_a_proof_clears_the_unanswered_logons() -> None:
    """Once a logon proves the password, earlier unanswered logons were made with a right password: they cost
    nothing, and later ones do not count either."""
    gate = LogonGate(2)
    gate.finish(_ticket(gate.admit(A, "slow", 0.0)), LogonVerdict.UNANSWERED)
    proof = _ticket(gate.admit(A, "cm2", 0.1))
    gate.logged_on(proof)
    gate.finish(proof, LogonVerdict.UNANSWERED)  # the same attempt timing out later changes nothing
    gate.finish(_ticket(gate.admit(A, "slow2", 0.2)), LogonVerdict.UNANSWERED)
    assert gate.spent(A) == 0 and not gate.tripped(A)


def test_a_host_whose_password_went_unanswered_is_not_retried_while_unproven() -> None:
    """A retry after an unanswered password could be one more failed logon: refused until the account is proven,
    then admitted like any host."""
    gate = LogonGate(3)
    gate.finish(_ticket(gate.admit(A, "cm1", 0.0)), LogonVerdict.UNANSWERED)
    assert isinstance(gate.admit(A, "cm1", 1.0), NoRetry)
    other = _ticket(gate.admit(A, "cm2", 1.0))
    gate.logged_on(other)
    _ticket(gate.admit(A, "cm1", 2.0))


def test_an_earlier_run_leaves_at_least_one_logon() -> None:
    """Failed logons carried from an earlier run count against the allowance, but one logon is always left: a
    corrected password can prove itself, a wrong one trips the account at once."""
    gate = LogonGate(3)
    gate.carry(A, 5)
    first = _ticket(gate.admit(A, "cm1", 0.0))
    assert isinstance(gate.admit(A, "cm2", 20.0), Waiting)  # no patience: the allowance left is one
    gate.finish(first, LogonVerdict.REJECTED)
    refused = gate.admit(A, "cm2", 20.0)
    assert isinstance(refused, Refused) and refused.carried == 2 and "left from an earlier run" in refused.why
    fixed = LogonGate(3)
    fixed.carry(A, 5)
    fixed.logged_on(_ticket(fixed.admit(A, "cm1", 0.0)))
    assert fixed.spent(A) == 0 and isinstance(fixed.admit(A, "cm2", 0.0), Admitted)


MIXED = (LogonVerdict.REJECTED, LogonVerdict.UNANSWERED, LogonVerdict.UNKNOWN)


@pytest.mark.parametrize("limit", [pytest.param(k, id=f"K={k}") for k in (1, 2, 3, 5)])
@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(20)])
@pytest.mark.parametrize("verdicts", [pytest.param((LogonVerdict.REJECTED,), id="wrong-password"),
                                      pytest.param(MIXED, id="rejected-unanswered-or-never-sent")])
def test_unproven_logons_that_sent_the_password_never_exceed_the_limit(limit: int, seed: int,
                                                                       verdicts: tuple[LogonVerdict, ...]) -> None:
    """Whatever order logons start and end in, whatever mix of rejections, timeouts after the password and hosts
    that never got it, and hung first logons (the patience): no more than K logons whose password left are ever
    admitted without a proof; a wrong password trips the account after exactly K."""
    rng = random.Random(seed)
    gate = LogonGate(limit, patience=3.0)
    pending = [f"cm{n}" for n in range(40)]
    running: list[int] = []
    costly = 0  # logons that ended rejected or unanswered
    for now in itertools.count():
        if not pending and not running:
            break
        while pending and rng.random() < 0.8:
            decision = gate.admit(A, pending[0], float(now))
            if isinstance(decision, Waiting):
                break
            pending.pop(0)
            if isinstance(decision, Admitted):
                running.append(decision.ticket)
        assert costly + gate.in_flight(A) <= limit
        if running and rng.random() < 0.4:
            ticket = running.pop(rng.randrange(len(running)))
            verdict = rng.choice(verdicts)
            gate.finish(ticket, verdict)
            costly += verdict is not LogonVerdict.UNKNOWN
        assert now < 10_000
    assert costly <= limit
    if verdicts == (LogonVerdict.REJECTED,):
        assert costly == limit and gate.tripped(A)
