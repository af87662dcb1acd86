"""The per-account logon gate: a wrong password reaches at most --max-auth-failures hosts, at any concurrency.

A domain counts failed logons per account and locks it at its threshold; cmaudit must never be the one that
gets it there. The breaker alone cannot promise that: with 32 hosts started at once, all 32 logons are on the
wire before the first rejection comes back. So each logon asks the gate first, and the gate admits only as many
logons of an account as the account can afford to lose.

What a logon costs is counted from the servers' side: a logon whose password left the jump box (NTLM's
AUTHENTICATE, a Basic request, a password at the KDC) and got no proof back may have been counted as a failed
logon by the domain, whatever cmaudit saw (a timeout, a 5xx, a dropped connection). Only a proof (a parsed
WS-Management reply to a finished logon, see scanner.winrm.session) says the password is right.

Rules, per account (K = --max-auth-failures; n = logons in flight; spent = r + u + c, where r = hosts that
rejected the password, u = hosts the password went to without an answer, both since the last proof, and c = what
an earlier run left unproven, at most K - 1):

    state                                     | admits a logon while | why
    tripped:  spent reached K once            | never (Refused)      | K logons in a row may have failed
    proven:   the last verdict was a proof    | always               | the password is right: no lockout risk
    a retry of a host whose password went     | never (NoRetry)      | its first try is already counted; the next
      unanswered, the account unproven        |                      |   might be one more failed logon
    fresh:    spent = 0, nothing proven yet   | n < 1                | the first logon happens alone
    fresh, its lone logon pending PATIENCE s  | n < K                | a hung first host must not hold the fleet
    spent:    0 < spent < K                   | n < K - spent        | never more in flight than the allowance left

A logon is admitted while the account is unproven only when n + spent < K, and each one that ends either moves
into `spent` (rejected, unanswered) or cost nothing (no password left): so, since the last proof, at most K
logons admitted while the account was unproven can have cost it a failed logon. Logons admitted while it was
proven can still be rejected (the password changed mid-run, or a host refuses the account with a bare 401):
each such rejection ends the proof and counts, so more than K of them are possible only when the password
worked in between. A logon ends with a verdict: ACCEPTED (its session proved the logon) resets the count and
proves the account; REJECTED (the server refused the password) adds to r; UNANSWERED (the password left, nothing
came back that proves or refuses it) adds to u unless the account is proven meanwhile; UNKNOWN (no password left:
unreachable, refused before the password leg, a refused Kerberos ticket; or the server's own answer that no
failed logon was counted) changes nothing but n. K = 0 turns the
gate off, as it turns the breaker off: everything is admitted, nothing refused.

Sans-IO (h11's style): no clock, no lock, no event loop. `admit()` answers at once with a ticket, a refusal or
"wait"; the drivers (the runner's event loop, --workers' parent, doctor's threads) do the waiting and ask again
when a ticket comes back (`logged_on`, `finish`) or the wait's `retry_at` time comes.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from scanner.model.errors import HostError
from scanner.model.records import ErrorCategory, RejectedPassword

PATIENCE_S = 10.0  # a lone first logon pending this long no longer holds the account's other hosts back


class LogonVerdict(enum.Enum):
    ACCEPTED = "accepted"  # the account logged on: its password is right
    REJECTED = "rejected"  # the server refused the password: one step towards a lockout
    UNANSWERED = "unanswered"  # the password left, nothing proved or refused it: counted as a step, to be safe
    UNKNOWN = "unknown"  # no password left the jump box: the logon said nothing about it, and cost nothing


def verdict_of(error: HostError | None, *, password_sent: bool) -> LogonVerdict:
    """What an attempt that never proved its logon says about the password (a proof is news of its own:
    `LogonGate.logged_on`). An authentication or access error is the server's (or the KDC's) own answer: the
    password rejected; refused before any check (Basic for a domain account, a refused ticket); or accepted, the
    account then refused (a 401 to the request after a logon HTTP.sys accepted): the last two cost nothing, and
    prove nothing either (only the session's proof opens the gate)."""
    if error is not None and error.password_rejected:
        return LogonVerdict.REJECTED
    if error is not None and error.category in (ErrorCategory.AUTH, ErrorCategory.ACCESS):
        return LogonVerdict.UNKNOWN
    return LogonVerdict.UNANSWERED if password_sent else LogonVerdict.UNKNOWN


@dataclass(frozen=True, slots=True)
class Admitted:
    ticket: int


@dataclass(frozen=True, slots=True)
class Refused:
    """The account tripped: the hosts that rejected its password, those it went to without an answer (since the
    last proof), and the failed logons an earlier run left (`carried`)."""

    rejected_by: tuple[str, ...]
    unanswered: tuple[str, ...] = ()
    carried: int = 0

    @property
    def why(self) -> str:
        """What tripped it, in a few words: "3 host(s) in a row rejected its password: cm1, cm2, cm3"."""
        parts = []
        if self.rejected_by:
            parts.append(f"{len(self.rejected_by)} host(s) in a row rejected its password: {_few(self.rejected_by)}")
        if self.unanswered:
            parts.append(f"{len(self.unanswered)} host(s) took it without an answer: {_few(self.unanswered)}")
        if self.carried:
            parts.append(f"{self.carried} failed logon(s) left from an earlier run")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class NoRetry:
    """A retry refused: the host's last attempt sent the password without an answer, and the account is still
    unproven (the retry might be one more failed logon)."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """Ask again when a ticket of the account comes back, or at `retry_at` (the driver's clock) if given."""

    retry_at: float | None = None


Decision = Admitted | Refused | NoRetry | Waiting


def _few(hosts: tuple[str, ...]) -> str:
    return ", ".join(hosts[:3]) + (", ..." if len(hosts) > 3 else "")


@dataclass(slots=True)
class _Account:
    rejected: list[str] = field(default_factory=list)  # hosts that rejected the password since the last proof
    unanswered: list[str] = field(default_factory=list)  # hosts the password went to unanswered since the last proof
    carried: int = 0  # failed logons an earlier run left unproven (at most K - 1)
    proven: bool = False
    in_flight: int = 0
    alone_since: float | None = None  # when the fresh account's lone first logon was admitted
    tripped: Refused | None = None  # once tripped, tripped for the rest of the run (as the breaker was)
    accepted: int = 0  # logons that proved the account in this run
    rejected_in_run: list[str] = field(default_factory=list)  # every rejection of the run, proofs or not

    @property
    def spent(self) -> int:
        return len(self.rejected) + len(self.unanswered) + self.carried


@dataclass(slots=True)
class _Ticket:
    account: Hashable
    host: str
    in_flight: bool = True
    proven: bool = False  # this logon proved the account (`logged_on`): only a rejection may still count


@dataclass(frozen=True, slots=True)
class AccountTally:
    """What the gate saw of one account in a run: for the banner (`rejected_passwords`) and the next run."""

    account: Hashable
    rejected: tuple[str, ...]  # every host that rejected its password in the run
    unanswered: tuple[str, ...]  # hosts its password went to without an answer since the last proof
    accepted: int  # logons that proved it
    proven: bool  # the last verdict was a proof
    tripped: bool
    spent: int  # what counts against its allowance now (0 once proven)


class LogonGate:
    """The rules above for every account of a run; one per run (the parent's, with --workers)."""

    def __init__(self, max_failures: int, *, patience: float = PATIENCE_S) -> None:
        self.max_failures = max_failures
        self.patience = patience
        self._accounts: dict[Hashable, _Account] = {}
        self._tickets: dict[int, _Ticket] = {}
        self._next_ticket = 1
        self.counted: list[str] = []  # every host whose rejected password was counted, in order

    def carry(self, account: Hashable, failed: int) -> None:
        """Start `account` with `failed` logons an earlier run left unproven: at most K - 1, so one logon may
        still prove a corrected password (and a wrong one trips the account at once)."""
        if self.max_failures > 0 and failed > 0:
            state = self._accounts.setdefault(account, _Account())
            state.carried = max(state.carried, min(failed, self.max_failures - 1))

    # -- questions ------------------------------------------------------------------------------------
    def tripped(self, account: Hashable) -> bool:
        state = self._accounts.get(account)
        return state is not None and state.tripped is not None

    def refusal(self, account: Hashable) -> Refused | None:
        """The refusal a tripped account's hosts get, without asking for a ticket (None: not tripped)."""
        state = self._accounts.get(account)
        return None if state is None else state.tripped

    @property
    def any_tripped(self) -> bool:
        return any(self.tripped(account) for account in self._accounts)

    def in_flight(self, account: Hashable) -> int:
        state = self._accounts.get(account)
        return 0 if state is None else state.in_flight

    def spent(self, account: Hashable) -> int:
        """What counts against the account's allowance now: rejected and unanswered logons since the last proof."""
        state = self._accounts.get(account)
        return 0 if state is None else state.spent

    def tallies(self) -> list[AccountTally]:
        """Every account the run asked about, in the order first seen."""
        return [AccountTally(account, tuple(s.rejected_in_run), tuple(s.unanswered), s.accepted, s.proven,
                             s.tripped is not None, s.spent) for account, s in self._accounts.items()]

    def admit(self, account: Hashable, host: str, now: float) -> Decision:
        """May `host` log on with `account` now? A ticket, a refusal, or wait."""
        state = self._accounts.setdefault(account, _Account())
        if state.tripped is not None:
            return state.tripped
        if self.max_failures > 0 and not state.proven and host in state.unanswered:
            return NoRetry()
        cap, retry_at = self._cap(state, now)
        if cap is not None and state.in_flight >= cap:
            return Waiting(retry_at)
        if not state.proven and not state.spent and state.in_flight == 0:
            state.alone_since = now
        state.in_flight += 1
        ticket = self._next_ticket
        self._next_ticket += 1
        self._tickets[ticket] = _Ticket(account, host)
        return Admitted(ticket)

    def _cap(self, state: _Account, now: float) -> tuple[int | None, float | None]:
        """How many logons may be in flight (None: no limit), and when that may change without news."""
        k = self.max_failures
        if k <= 0 or state.proven:
            return None, None
        if state.spent:
            return k - state.spent, None
        if state.alone_since is not None and now - state.alone_since < self.patience:
            return 1, state.alone_since + self.patience
        return (1 if state.alone_since is None else k), None

    # -- news -----------------------------------------------------------------------------------------
    def logged_on(self, ticket: int) -> None:
        """The ticket's session proved its logon (a WS-Management reply to a finished logon): the account is
        proven, and its other hosts may start."""
        held = self._tickets.get(ticket)
        if held is None or held.proven:
            return
        self._free(held)
        held.proven = True
        self._record(held, LogonVerdict.ACCEPTED)

    def finish(self, ticket: int, verdict: LogonVerdict) -> None:
        """The ticket's attempt is over; its verdict is counted (once), its place in flight given back. After a
        proof (`logged_on`) only a rejection still counts."""
        held = self._tickets.pop(ticket, None)
        if held is None:
            return
        self._free(held)
        if held.proven and verdict is not LogonVerdict.REJECTED:
            return
        self._record(held, verdict)

    def _free(self, held: _Ticket) -> None:
        if held.in_flight:
            held.in_flight = False
            state = self._accounts[held.account]
            state.in_flight -= 1
            if state.in_flight == 0:
                state.alone_since = None

    def _record(self, held: _Ticket, verdict: LogonVerdict) -> None:
        state = self._accounts[held.account]
        if verdict is LogonVerdict.ACCEPTED:
            state.rejected.clear()
            state.unanswered.clear()
            state.carried = 0
            state.proven = True
            state.accepted += 1
        elif verdict is LogonVerdict.REJECTED:
            self.counted.append(held.host)
            state.rejected.append(held.host)
            state.rejected_in_run.append(held.host)
            state.proven = False
        elif verdict is LogonVerdict.UNANSWERED and not state.proven:
            state.unanswered.append(held.host)
        if 0 < self.max_failures <= state.spent and state.tripped is None:
            state.tripped = Refused(tuple(state.rejected), tuple(state.unanswered), state.carried)


def rejected_passwords(tallies: Iterable[AccountTally],
                       outcomes: Iterable[tuple[Hashable, HostError | None]]) -> tuple[RejectedPassword, ...]:
    """Every account whose password a host rejected, or that was stopped for lack of answers, in the order first
    seen: with how many hosts rejected it, took it unanswered, proved it, and were not tried to protect it."""
    skipped: dict[Hashable, int] = {}
    for account, error in outcomes:
        if error is not None and error.category is ErrorCategory.AUTH_SKIPPED:
            skipped[account] = skipped.get(account, 0) + 1
    return tuple(RejectedPassword(str(t.account), len(t.rejected), skipped.get(t.account, 0),
                                  unanswered=len(t.unanswered) if t.tripped else 0, accepted_by=t.accepted)
                 for t in tallies if t.rejected or (t.tripped and t.unanswered))
