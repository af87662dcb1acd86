"""The per-account logon gate: a wrong password reaches at most --max-auth-failures hosts, at any concurrency.

A domain counts failed logons per account and locks it at its threshold; cmaudit must never be the one that
gets it there. The breaker alone cannot promise that: with 32 hosts started at once, all 32 logons are on the
wire before the first rejection comes back. So each logon asks the gate first, and the gate admits only as many
logons of an account as the account can afford to lose.

Rules, per account (K = --max-auth-failures; r = passwords rejected in a row; n = logons in flight):

    state                                   | admits a logon while | why
    tripped:  r reached K once              | never (refused)      | K rejections in a row: protect the account
    proven:   the last verdict was a logon  | always               | the password is right: no lockout risk
    fresh:    r = 0, nothing proven yet     | n < 1                | the first logon happens alone
    fresh, its lone logon pending PATIENCE s| n < K                | a hung first host must not hold the fleet
    rejected: 0 < r < K                     | n < K - r            | never more in flight than the allowance left

In every row n + r <= K, so at most K logons in a row can be rejected. A logon ends with a verdict: ACCEPTED (a
logon worked: success, or access denied after logging on) resets r and proves the account; REJECTED (the server
refused the password) adds one to r; UNKNOWN (unreachable, timeout, a 5xx, a refused Kerberos ticket) changes
nothing but n. K = 0 turns the gate off, as it turns the breaker off: everything is admitted, nothing refused.

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
    UNKNOWN = "unknown"  # the logon said nothing about the password


def verdict_of(error: HostError | None) -> LogonVerdict:
    """What a scan attempt's outcome says about the password: a result or ERROR/access means it logged on."""
    if error is None or error.category is ErrorCategory.ACCESS:
        return LogonVerdict.ACCEPTED
    return LogonVerdict.REJECTED if error.password_rejected else LogonVerdict.UNKNOWN


@dataclass(frozen=True, slots=True)
class Admitted:
    ticket: int


@dataclass(frozen=True, slots=True)
class Refused:
    """The account tripped: `rejected_by` are the hosts whose rejections tripped it."""

    rejected_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Waiting:
    """Ask again when a ticket of the account comes back, or at `retry_at` (the driver's clock) if given."""

    retry_at: float | None = None


Decision = Admitted | Refused | Waiting


@dataclass(slots=True)
class _Account:
    streak: list[str] = field(default_factory=list)  # hosts that rejected the password since the last logon
    proven: bool = False
    in_flight: int = 0
    alone_since: float | None = None  # when the fresh account's lone first logon was admitted
    tripped_by: tuple[str, ...] = ()  # once tripped, tripped for the rest of the run (as the breaker was)


@dataclass(slots=True)
class _Ticket:
    account: Hashable
    host: str
    in_flight: bool = True


class LogonGate:
    """The rules above for every account of a run; one per run (the parent's, with --workers)."""

    def __init__(self, max_failures: int, *, patience: float = PATIENCE_S) -> None:
        self.max_failures = max_failures
        self.patience = patience
        self._accounts: dict[Hashable, _Account] = {}
        self._tickets: dict[int, _Ticket] = {}
        self._next_ticket = 1
        self.counted: list[str] = []  # every host whose rejected password was counted, in order

    # -- questions ------------------------------------------------------------------------------------
    def tripped(self, account: Hashable) -> bool:
        state = self._accounts.get(account)
        return state is not None and bool(state.tripped_by)

    def refusal(self, account: Hashable) -> Refused | None:
        """The refusal a tripped account's hosts get, without asking for a ticket (None: not tripped)."""
        state = self._accounts.get(account)
        return Refused(state.tripped_by) if state is not None and state.tripped_by else None

    @property
    def any_tripped(self) -> bool:
        return any(self.tripped(account) for account in self._accounts)

    def in_flight(self, account: Hashable) -> int:
        state = self._accounts.get(account)
        return 0 if state is None else state.in_flight

    def admit(self, account: Hashable, host: str, now: float) -> Decision:
        """May `host` log on with `account` now? A ticket, a refusal, or wait."""
        state = self._accounts.setdefault(account, _Account())
        if state.tripped_by:
            return Refused(state.tripped_by)
        cap, retry_at = self._cap(state, now)
        if cap is not None and state.in_flight >= cap:
            return Waiting(retry_at)
        if not state.proven and not state.streak and state.in_flight == 0:
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
        if state.streak:
            return k - len(state.streak), None
        if state.alone_since is not None and now - state.alone_since < self.patience:
            return 1, state.alone_since + self.patience
        return (1 if state.alone_since is None else k), None

    # -- news -----------------------------------------------------------------------------------------
    def logged_on(self, ticket: int) -> None:
        """The ticket's logon worked (its first authenticated reply came): the account is proven."""
        held = self._tickets.get(ticket)
        if held is None:
            return
        self._free(held)
        self._record(held, LogonVerdict.ACCEPTED)

    def finish(self, ticket: int, verdict: LogonVerdict) -> None:
        """The ticket's attempt is over; its verdict is counted (once), its place in flight given back."""
        held = self._tickets.pop(ticket, None)
        if held is None:
            return
        self._free(held)
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
            state.streak.clear()
            state.proven = True
        elif verdict is LogonVerdict.REJECTED:
            self.counted.append(held.host)
            state.streak.append(held.host)
            state.proven = False
            if 0 < self.max_failures <= len(state.streak) and not state.tripped_by:
                state.tripped_by = tuple(state.streak)


def rejected_passwords(outcomes: Iterable[tuple[Hashable, HostError | None]]) -> tuple[RejectedPassword, ...]:
    """Every account (host's account, host's error) whose password a host rejected, in the order first seen, with
    how many hosts rejected it and how many were not tried to protect it from a lockout."""
    rejected: dict[Hashable, int] = {}
    skipped: dict[Hashable, int] = {}
    for account, error in outcomes:
        if error is None:
            continue
        if error.password_rejected:
            rejected[account] = rejected.get(account, 0) + 1
        elif error.category is ErrorCategory.AUTH_SKIPPED:
            skipped[account] = skipped.get(account, 0) + 1
    return tuple(RejectedPassword(str(account), count, skipped.get(account, 0)) for account, count in rejected.items())
