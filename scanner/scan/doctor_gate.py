"""`cmaudit doctor`'s logon gate: at most --max-auth-failures hosts (default 1) ever see a rejected password.

Doctor runs every host's steps at once, each in a thread, and only the logon step needs a ticket from the run's
LogonGate (scanner.scan.logon_gate): the steps before it (dns, tcp, tls, the listener, its auth methods) say
something useful about every host, whatever the password. HostDoctor asks its LogonAllowance before it logs
on; LogonTurn is that question answered by the gate, blocking the host's thread until its turn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from scanner.model.doctor_checks import Check
from scanner.model.errors import HostTimeout
from scanner.scan.logon_gate import Admitted, LogonGate, LogonVerdict, NoRetry, Refused, Waiting, verdict_of
from scanner.winrm.doctor_probes import HostDoctor


class BlockingGate:
    """The logon gate for threads: `admit` blocks the calling thread until its turn, a refusal, or its end."""

    def __init__(self, gate: LogonGate, clock: Callable[[], float] = time.monotonic) -> None:
        self.gate = gate
        self.clock = clock
        self._changed = threading.Condition()

    def admit(self, account: Hashable, host: str, *, deadline: float,
              cancelled: threading.Event) -> Admitted | Refused | NoRetry | None:
        """A ticket or a refusal; None once `cancelled` is set or `deadline` passes."""
        with self._changed:
            while True:
                now = self.clock()
                decision = self.gate.admit(account, host, now)
                if not isinstance(decision, Waiting):
                    return decision
                if cancelled.is_set() or now >= deadline:
                    return None
                wake = deadline if decision.retry_at is None else min(deadline, decision.retry_at)
                self._changed.wait(timeout=max(0.0, wake - now))

    def logged_on(self, ticket: int) -> None:
        with self._changed:
            self.gate.logged_on(ticket)
            self._changed.notify_all()

    def finish(self, ticket: int, verdict: LogonVerdict) -> None:
        with self._changed:
            self.gate.finish(ticket, verdict)
            self._changed.notify_all()

    def wake(self) -> None:
        """Let every waiting thread look at its `cancelled` flag again."""
        with self._changed:
            self._changed.notify_all()


class LogonTurn:
    """One host's place at doctor's logon gate, the LogonAllowance HostDoctor asks before logging on:
    `rejected_by` waits until the gate lets this host log on (None) or refuses (the hosts that rejected the
    password or took it unanswered); the ticket comes back when the session proved the logon, the password was
    rejected, or the host's checks end (unanswered when the password left without a proof)."""

    def __init__(self, gate: BlockingGate, host: str, deadline: float) -> None:
        self.gate = gate
        self.host = host
        self.deadline = deadline
        self.cancelled = threading.Event()
        self._ticket: int | None = None

    def rejected_by(self, account: object) -> str | None:
        decision = self.gate.admit(account, self.host, deadline=self.deadline,
                                   cancelled=self.cancelled)
        if isinstance(decision, Admitted):
            self._ticket = decision.ticket
            return None
        if isinstance(decision, Refused):
            return decision.why
        if isinstance(decision, NoRetry):  # doctor never retries a host: only a name seen twice gets here
            return "its earlier logon took the password without an answer"
        raise HostTimeout(self.host, "doctor's per-host deadline reached while the account's first logon (on "
                                     "another host) was still pending")

    def reject(self, account: object, host: str) -> None:
        self._give_back(LogonVerdict.REJECTED)

    def logged_on(self) -> None:
        if self._ticket is not None:
            self.gate.logged_on(self._ticket)

    def done(self, password_sent: bool) -> None:
        self._give_back(verdict_of(None, password_sent=password_sent))

    def cancel(self) -> None:
        self.cancelled.set()
        self.gate.wake()

    def _give_back(self, verdict: LogonVerdict) -> None:
        ticket, self._ticket = self._ticket, None
        if ticket is not None:
            self.gate.finish(ticket, verdict)


class GatedDoctor:
    """A HostDoctor whose logon waits its turn: the runner's job, giving the turn back however the checks end."""

    def __init__(self, doctor: HostDoctor, turn: LogonTurn) -> None:
        self.doctor = doctor
        self.turn = turn

    @property
    def requests(self) -> int:
        return self.doctor.requests

    def run(self) -> list[Check]:
        try:
            return self.doctor.run()
        finally:
            self.turn.done(self.doctor.password_sent)

    def abort(self) -> None:
        self.turn.cancel()
        self.doctor.abort()
