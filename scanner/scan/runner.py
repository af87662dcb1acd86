"""The fleet loop: bounded concurrency, a whole-host deadline, retries, the logon gate, clean stops.

asyncio runs the show; each host's blocking pypsrp work runs in a worker thread (one ThreadPoolExecutor
sized to the concurrency, one AioPool slot per host). cmaudit enforces the deadline itself: when it
passes, the job is aborted from the loop thread (its sockets are shut down, so the worker wakes up),
and the pool slot is held until the worker has really finished (or a short grace), so abandoned
threads cannot pile up behind new hosts.

Retries: only errors marked `retryable` (refused, reset, 5xx, timeouts, WinRM quota faults), at most
`retries` times, with exponential backoff and jitter, and never past the host's deadline. Authentication
failures are never retried.

Lockout: every attempt asks the run's logon gate (scanner.scan.logon_gate) for a ticket before it logs on, and
gives it back with what the attempt said about the password. The gate lets an account's first logon run alone,
and never more logons of an account in flight than its --max-auth-failures allows, so a wrong password reaches
at most that many hosts at any concurrency; the account's other hosts end as ERROR/auth-skipped, never tried.
What counts is what the servers may have counted: a rejected password (`HostError.password_rejected`), and a
logon whose password left without an answer (a timeout, a 5xx after NTLM's AUTHENTICATE: the job's
`password_sent`); a missing SPN, a refused Kerberos ticket, Basic refused for a domain account, an unreachable
host cost the account nothing. Only the session's proof (`watch_logon`: a WS-Management reply to a finished
logon) proves the password right; the job gives its ticket back then, so the account's other hosts start after
the first logon, not after the first whole host. A host whose password went unanswered is not retried while
the account is unproven. Waiting for a ticket holds the host's slot but not its deadline (a retry's wait does
count: it is inside the host's budget).

Stopping (Ctrl-C, SIGTERM, `request_stop()`): no host starts any more, running hosts get `grace`
seconds, then they are aborted; every host still gets a result (ERROR/interrupted when unfinished).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from asyncio_pool import AioPool

from scanner.model.errors import (
    HostAuthSkipped,
    HostError,
    HostInternalError,
    HostInterrupted,
    HostTimeout,
    lockout_protection,
)
from scanner.model.options import DEFAULT_MAX_AUTH_FAILURES
from scanner.model.records import ErrorCategory
from scanner.scan.logon_gate import Admitted, LogonGate, LogonVerdict, NoRetry, Refused, Waiting, verdict_of

log = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class HostLike(Protocol):
    @property
    def name(self) -> str: ...


H = TypeVar("H", bound=HostLike)
H_contra = TypeVar("H_contra", bound=HostLike, contravariant=True)


class HostJob(Protocol[T_co]):
    """One attempt at one host: `run` blocks in a worker thread, `abort` may be called from any thread."""

    @property
    def requests(self) -> int: ...

    def run(self) -> T_co: ...

    def abort(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    concurrency: int = 32  # like PowerShell's Invoke-Command -ThrottleLimit
    timeout: float = 120.0  # whole-host budget, retries included
    retries: int = 2
    max_auth_failures: int = DEFAULT_MAX_AUTH_FAILURES
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    grace: float = 3.0  # after a stop request, how long running hosts may finish
    abort_grace: float = 6.0  # after an abort, how long to wait for the worker (it deletes its shell, 5 s at most)


@dataclass(frozen=True, slots=True)
class HostRun(Generic[H, T]):
    """How one host went: a value or an error, never both."""

    index: int
    host: H
    value: T | None
    error: HostError | None
    attempts: int
    requests: int
    started: str | None
    finished: str | None
    seconds: float


@dataclass(frozen=True, slots=True)
class _Attempt(Generic[T]):
    value: T | None
    error: HostError | None
    requests: int
    cut_off: tuple[str, float] | None = None  # (UTC, monotonic) when the deadline or a stop cut it off


JobFactory = Callable[[H, float, int], HostJob[T]]  # (host, deadline on the monotonic clock, attempt)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@runtime_checkable
class SignalsLogon(Protocol):
    """A job that can say when its session proved the logon (`callback`, from any thread, at most once) and whether
    its password left the jump box (`password_sent`, read when the attempt is over)."""

    def watch_logon(self, callback: Callable[[], None]) -> None: ...

    @property
    def password_sent(self) -> bool: ...


def attempt_verdict(job: object, error: HostError | None) -> LogonVerdict:
    """What an attempt said about the password, besides a proof (which its job signals as it comes)."""
    if isinstance(job, SignalsLogon):
        return verdict_of(error, password_sent=job.password_sent)
    # a job that cannot say (refused before any traffic, a test's stand-in): judged by how it ended
    if error is None or error.category is ErrorCategory.ACCESS:
        return LogonVerdict.ACCEPTED
    return verdict_of(error, password_sent=False)


class Gateway(Protocol[H_contra]):
    """Where a runner asks for logon tickets: the gate in this process (LocalGateway), or the --workers parent's
    over the pipe. All three are called on the runner's event loop."""

    async def admit(self, index: int, host: H_contra, *, until: float | None,
                    stop: asyncio.Event) -> Admitted | Refused | NoRetry | None:
        """A ticket or a refusal; None when `stop` is set or `until` (monotonic) passes first."""
        ...

    def logged_on(self, ticket: int) -> None: ...

    def finish(self, ticket: int, verdict: LogonVerdict) -> None: ...


class LocalGateway(Generic[H]):
    """The logon gate driven by this process's event loop: waiters ask again whenever a ticket comes back."""

    def __init__(self, gate: LogonGate, account: Callable[[H], Hashable],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.gate = gate
        self.account = account
        self.clock = clock
        self._news: asyncio.Event | None = None

    async def admit(self, index: int, host: H, *, until: float | None,
                    stop: asyncio.Event) -> Admitted | Refused | NoRetry | None:
        key = self.account(host)
        while True:
            now = self.clock()
            decision = self.gate.admit(key, host.name, now)
            if not isinstance(decision, Waiting):
                return decision
            if stop.is_set() or (until is not None and now >= until):
                return None
            wake = min((t for t in (decision.retry_at, until) if t is not None), default=None)
            if self._news is None:
                self._news = asyncio.Event()
            await first_of(self._news.wait(), stop.wait(), timeout=None if wake is None else max(0.0, wake - now))

    def logged_on(self, ticket: int) -> None:
        self.gate.logged_on(ticket)
        self._tell()

    def finish(self, ticket: int, verdict: LogonVerdict) -> None:
        self.gate.finish(ticket, verdict)
        self._tell()

    def _tell(self) -> None:
        """Wake every waiter (in the order they started waiting) to ask the gate again."""
        news, self._news = self._news, None
        if news is not None:
            news.set()


async def first_of(*waits: Awaitable[object], timeout: float | None) -> None:
    """Return when the first of `waits` is done or `timeout` passes; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def account_name(key: object) -> str:
    return "the account" if key is None else str(key)


def not_tried(account: str, refused: Refused) -> str:
    """Why a host of a tripped account was never tried (its ERROR/auth-skipped message)."""
    return lockout_protection(account, refused.why)


NOT_RETRIED = ("not retried: the password went out without an answer and the account is not proven yet (a retry "
               "might be one more failed logon)")


class Runner(Generic[H, T]):
    """Runs jobs for every host; `run()` returns one HostRun per host, in inventory order."""

    def __init__(
        self,
        factory: JobFactory[H, T],
        options: RunnerOptions,
        *,
        on_done: Callable[[HostRun[H, T]], None] | None = None,
        credential_key: Callable[[H], object] = lambda host: None,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        gate: LogonGate | None = None,
        gateway: Gateway[H] | None = None,
    ) -> None:
        """`gate`: the run's logon gate (one per run; default: a new one); `gateway`: where to ask it (default:
        right here; a --workers process asks its parent)."""
        if options.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.factory = factory
        self.options = options
        self.on_done = on_done
        self.credential_key = credential_key
        self.clock = clock
        self.jitter = jitter
        self.retried: list[tuple[str, int, str]] = []  # (host, attempt that failed, category): for tests/logs
        self.gate = gate or LogonGate(options.max_auth_failures)
        self.gateway: Gateway[H] = gateway or LocalGateway(self.gate, credential_key, clock)
        self._stop: asyncio.Event | None = None
        self._hard_stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requests = 0
        self.interrupted = False

    # -- stopping ------------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop starting hosts; a second request aborts running ones at once. Safe from any thread."""
        loop = self._loop
        if loop is None:  # before run(): remembered, and run() starts stopped
            self._stop_requests += 1
            self.interrupted = True
            return
        if loop.is_closed():  # after run(): nothing left to stop
            return
        loop.call_soon_threadsafe(self._on_stop)

    def _on_stop(self) -> None:
        assert self._stop is not None and self._hard_stop is not None and self._loop is not None
        self._stop_requests += 1
        self.interrupted = True
        self._stop.set()
        if self._stop_requests > 1 or self.options.grace <= 0:
            self._hard_stop.set()
        else:
            self._loop.call_later(self.options.grace, self._hard_stop.set)

    @property
    def breaker_tripped(self) -> bool:
        """An account spent its --max-auth-failures allowance (rejected or unanswered logons): its other hosts were
        not tried."""
        return self.gate.any_tripped

    @property
    def breaker_counted(self) -> list[str]:
        """Hosts whose rejected passwords the logon gate counted."""
        return self.gate.counted

    # -- the loop ------------------------------------------------------------------------------------
    def _begin(self) -> ThreadPoolExecutor:
        self._loop = asyncio.get_running_loop()
        self._stop, self._hard_stop = asyncio.Event(), asyncio.Event()
        if self._stop_requests:  # a stop requested before the loop existed still counts
            self._stop.set()
            self._hard_stop.set()
        return ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="cmaudit-host")

    async def run(self, hosts: Sequence[H]) -> list[HostRun[H, T]]:
        results: dict[int, HostRun[H, T]] = {}
        executor = self._begin()
        try:
            async with AioPool(size=self.options.concurrency) as pool:
                for index, host in enumerate(hosts):
                    pool.spawn_n(self._host(index, host, executor, results))
        finally:
            # threads were given their chance (abort + grace); never block the exit on a stuck one
            executor.shutdown(wait=False, cancel_futures=True)
        for index, host in enumerate(hosts):  # belt and braces: every host has a line
            if index not in results:
                results[index] = HostRun(index, host, None, HostInterrupted(host.name, "not scanned"), 0, 0,
                                         None, None, 0.0)
        return [results[i] for i in range(len(hosts))]

    async def serve(self, next_host: Callable[[], Awaitable[tuple[int, H] | None]]) -> None:
        """Scan hosts as `next_host()` hands them over, (index, host), until it answers None (--workers: the
        parent hands each worker a host when it has a free slot); results go to `on_done`."""
        results: dict[int, HostRun[H, T]] = {}
        executor = self._begin()
        try:
            async with AioPool(size=self.options.concurrency) as pool:
                while (item := await next_host()) is not None:
                    index, host = item
                    await pool.spawn(self._host(index, host, executor, results))
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    async def _host(self, index: int, host: H, executor: ThreadPoolExecutor,
                    results: dict[int, HostRun[H, T]]) -> None:
        try:
            run = await self._scan_host(index, host, executor)
        except Exception as exc:  # a bug for one host must not lose the fleet (logged)
            log.debug("%s: internal error", host.name, exc_info=True)
            run = HostRun(index, host, None, HostInternalError(host.name, f"internal error: {type(exc).__name__}"),
                          0, 0, None, utc_now(), 0.0)
        results[index] = run
        if self.on_done is not None:
            self.on_done(run)

    async def _admit(self, index: int, host: H, until: float | None) -> int | HostError | str:
        """A logon ticket for the host's next attempt, or why it must not be tried: the host's error (stop,
        lockout, deadline), or for a retry only why not (the host keeps its own last error)."""
        assert self._stop is not None
        if self._stop.is_set():
            return HostInterrupted(host.name, "run stopped before this host was scanned")
        decision = await self.gateway.admit(index, host, until=until, stop=self._stop)
        if isinstance(decision, Admitted):
            return decision.ticket
        if isinstance(decision, NoRetry):
            return NOT_RETRIED
        if isinstance(decision, Refused):
            if until is not None:
                return f"not retried: {not_tried(account_name(self.credential_key(host)), decision)}"
            return HostAuthSkipped(host.name, not_tried(account_name(self.credential_key(host)), decision))
        if self._stop.is_set():
            return HostInterrupted(host.name, "run stopped before this host was scanned")
        if until is not None:
            return "not retried: the deadline came while waiting for the account's other logons"
        return HostTimeout(host.name, f"no result within the per-host deadline of {self.options.timeout:g}s (waiting "
                                      "for the account's other logons)", retryable=False)

    async def _scan_host(self, index: int, host: H, executor: ThreadPoolExecutor) -> HostRun[H, T]:
        ticket = await self._admit(index, host, None)
        if not isinstance(ticket, int):
            refusal = ticket if isinstance(ticket, HostError) else HostAuthSkipped(host.name, ticket)
            log.debug("%s: not scanned: %s", host.name, refusal.message)
            return HostRun(index, host, None, refusal, 0, 0, None, utc_now(), 0.0)
        started, t0 = utc_now(), self.clock()
        deadline = t0 + self.options.timeout
        attempts = requests = 0
        error: HostError | None = None
        log.debug("%s: started (deadline %gs)", host.name, self.options.timeout)
        while True:
            attempts += 1
            outcome = await self._attempt(host, deadline, attempts, executor, ticket)
            requests += outcome.requests
            value, error = outcome.value, outcome.error
            if error is None:
                log.debug("%s: done in %.2fs, %d attempt(s), %d WS-Man request(s)", host.name, self.clock() - t0,
                          attempts, requests)
                return HostRun(index, host, value, None, attempts, requests, started, utc_now(), self.clock() - t0)
            log.debug("%s: attempt %d failed: %s: %s", host.name, attempts, error.category.value, error.message)
            if outcome.cut_off is not None:  # deadline or stop: the host's time ended then, not after the grace
                finished, at = outcome.cut_off
                return HostRun(index, host, None, error, attempts, requests, started, finished, at - t0)
            if not error.retryable or attempts > self.options.retries:
                break
            delay = self._backoff(attempts)
            if self.clock() + delay >= deadline:
                log.debug("%s: no retry: the backoff of %.2fs would pass the deadline", host.name, delay)
                break
            log.debug("%s: retrying in %.2fs", host.name, delay)
            self.retried.append((host.name, attempts, error.category.value))
            assert self._stop is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            ticket = await self._admit(index, host, deadline)
            if isinstance(ticket, HostError):  # the run stopped
                error = ticket.again(message=f"{ticket.message}; last error: {error.message}")
                break
            if isinstance(ticket, str):  # the host keeps its own last error, with why it was not retried
                log.debug("%s: %s", host.name, ticket)
                error = error.again(message=f"{error.message}; {ticket}")
                break
        return HostRun(index, host, None, error, attempts, requests, started, utc_now(), self.clock() - t0)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half fixed, half random, capped."""
        ceiling = min(self.options.backoff_cap, self.options.backoff_base * (2 ** (attempt - 1)))
        return float(ceiling / 2 + self.jitter() * ceiling / 2)

    async def _attempt(self, host: H, deadline: float, attempt: int, executor: ThreadPoolExecutor,
                       ticket: int) -> _Attempt[T]:
        """One attempt with its logon ticket, given back with what the attempt said about the password."""
        job = self.factory(host, deadline, attempt)
        error: HostError | None = HostInterrupted(host.name, "cancelled")
        try:
            outcome = await self._run_job(host, deadline, job, executor, ticket)
            error = outcome.error
            return outcome
        finally:  # also when cancelled: a ticket never comes back twice, and never stays out
            self.gateway.finish(ticket, attempt_verdict(job, error))

    def _on_logon(self, ticket: int) -> Callable[[], None]:
        """The job's "logged on" signal (from its worker thread), handed to the gateway on the loop."""
        loop, gateway = self._loop, self.gateway
        assert loop is not None

        def signal() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over, nobody waits
                loop.call_soon_threadsafe(gateway.logged_on, ticket)

        return signal

    async def _run_job(self, host: H, deadline: float, job: HostJob[T], executor: ThreadPoolExecutor,
                       ticket: int) -> _Attempt[T]:
        assert self._loop is not None and self._hard_stop is not None
        if isinstance(job, SignalsLogon):
            job.watch_logon(self._on_logon(ticket))
        work: asyncio.Future[T] = self._loop.run_in_executor(executor, job.run)
        stopper: asyncio.Future[object] = asyncio.ensure_future(self._hard_stop.wait())
        try:
            left = max(0.0, deadline - self.clock())
            waiting: set[asyncio.Future[object]] = {work, stopper}  # type: ignore[arg-type]
            done, _ = await asyncio.wait(waiting, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if work in done:
            exc = work.exception()
            if exc is None:
                return _Attempt(work.result(), None, job.requests)
            if isinstance(exc, HostError):
                return _Attempt(None, exc, job.requests)
            log.debug("%s: internal error", host.name, exc_info=exc)
            return _Attempt(None, HostInternalError(host.name, f"internal error: {type(exc).__name__}"),
                            job.requests)
        # deadline or hard stop: abort from here, then give the worker a moment to notice
        decided = (utc_now(), self.clock())
        log.debug("%s: aborting the attempt (%s)", host.name,
                  "run stopped" if self._hard_stop.is_set() else "per-host deadline reached")
        job.abort()
        # The worker's own failure or the grace timeout ends the wait; cancelling this task still propagates.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(work), self.options.abort_grace)
        if not work.done():
            work.add_done_callback(_consume)
        if self._hard_stop.is_set():
            return _Attempt(None, HostInterrupted(host.name, "run stopped while this host was being scanned"),
                            job.requests, decided)
        return _Attempt(None, HostTimeout(host.name,
                                          f"no result within the per-host deadline of {self.options.timeout:g}s",
                                          retryable=False), job.requests, decided)


def _consume(fut: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned worker's exception so asyncio does not log it as never retrieved."""
    if not fut.cancelled():
        fut.exception()
