"""The fleet loop: bounded concurrency, a whole-host deadline, retries, an auth breaker, clean stops.

asyncio runs the show; each host's blocking pypsrp work runs in a worker thread (one ThreadPoolExecutor
sized to the concurrency, one AioPool slot per host). cmaudit enforces the deadline itself: when it
passes, the job is aborted from the loop thread (its sockets are shut down, so the worker wakes up),
and the pool slot is held until the worker has really finished (or a short grace), so abandoned
threads cannot pile up behind new hosts.

Retries: only errors marked `retryable` (refused, reset, 5xx, timeouts, WinRM quota faults), at most
`retries` times, with exponential backoff and jitter, and never past the host's deadline. Authentication
failures are never retried; after `max_auth_failures` rejected passwords in a row for one credential, the
hosts not yet started with that credential end as ERROR/auth-skipped, so a wrong password cannot lock the
service account out across the fleet. Only a rejected password counts (`HostError.password_rejected`): a
missing SPN, a refused Kerberos ticket, Basic refused for a domain account or an account without admin rights
cost the account nothing; a host that let the account log on but denied it access (ERROR/access) proves the
password right and resets the streak, like a success.

Stopping (Ctrl-C, SIGTERM, `request_stop()`): no host starts any more, running hosts get `grace`
seconds, then they are aborted; every host still gets a result (ERROR/interrupted when unfinished).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from asyncio_pool import AioPool

from scanner.model.errors import HostAuthSkipped, HostError, HostInternalError, HostInterrupted, HostTimeout
from scanner.model.records import ErrorCategory

log = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class HostLike(Protocol):
    @property
    def name(self) -> str: ...


H = TypeVar("H", bound=HostLike)


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
    max_auth_failures: int = 5
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
    ) -> None:
        if options.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.factory = factory
        self.options = options
        self.on_done = on_done
        self.credential_key = credential_key
        self.clock = clock
        self.jitter = jitter
        self.retried: list[tuple[str, int, str]] = []  # (host, attempt that failed, category): for tests/logs
        self.breaker_counted: list[str] = []  # hosts whose rejected credentials the lockout breaker counted
        self._auth_streak: dict[object, int] = {}
        self._tripped: set[object] = set()
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
        return bool(self._tripped)

    # -- the loop ------------------------------------------------------------------------------------
    async def run(self, hosts: Sequence[H]) -> list[HostRun[H, T]]:
        self._loop = asyncio.get_running_loop()
        self._stop, self._hard_stop = asyncio.Event(), asyncio.Event()
        if self._stop_requests:  # a stop requested before the loop existed still counts
            self._stop.set()
            self._hard_stop.set()
        results: dict[int, HostRun[H, T]] = {}
        executor = ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="cmaudit-host")
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

    async def _host(self, index: int, host: H, executor: ThreadPoolExecutor,
                    results: dict[int, HostRun[H, T]]) -> None:
        try:
            run = await self._scan_host(index, host, executor)
        except Exception as exc:  # a bug for one host must not lose the fleet (logged)
            log.debug("%s: internal error", host.name, exc_info=True)
            run = HostRun(index, host, None, HostInternalError(host.name, f"internal error: {type(exc).__name__}"),
                          0, 0, None, utc_now(), 0.0)
        results[index] = run
        self._account(run)
        if self.on_done is not None:
            self.on_done(run)

    def _account(self, run: HostRun[H, T]) -> None:
        """Feed the auth breaker: consecutive rejected passwords per credential; a logon that worked (a success,
        or access denied after logging on) resets the streak."""
        key = self.credential_key(run.host)
        if run.error is None or run.error.category is ErrorCategory.ACCESS:
            self._auth_streak[key] = 0
        elif run.error.password_rejected:
            self.breaker_counted.append(run.host.name)
            streak = self._auth_streak.get(key, 0) + 1
            self._auth_streak[key] = streak
            if 0 < self.options.max_auth_failures <= streak:
                self._tripped.add(key)
                log.debug("%s: lockout breaker tripped after %d rejected passwords in a row", run.host.name, streak)

    def _skip_reason(self, host: H) -> HostError | None:
        assert self._stop is not None
        if self._stop.is_set():
            return HostInterrupted(host.name, "run stopped before this host was scanned")
        if self.credential_key(host) in self._tripped:
            return HostAuthSkipped(
                host.name,
                f"skipped after {self.options.max_auth_failures} authentication failures in a row "
                "(protecting the account from lockout)")
        return None

    async def _scan_host(self, index: int, host: H, executor: ThreadPoolExecutor) -> HostRun[H, T]:
        skip = self._skip_reason(host)
        if skip is not None:
            log.debug("%s: not scanned: %s", host.name, skip.message)
            return HostRun(index, host, None, skip, 0, 0, None, utc_now(), 0.0)
        started, t0 = utc_now(), self.clock()
        deadline = t0 + self.options.timeout
        attempts = requests = 0
        error: HostError | None = None
        log.debug("%s: started (deadline %gs)", host.name, self.options.timeout)
        while True:
            attempts += 1
            outcome = await self._attempt(host, deadline, attempts, executor)
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
            skip = self._skip_reason(host)
            if skip is not None:
                error = type(skip)(host.name, f"{skip.message}; last error: {error.message}")
                break
        return HostRun(index, host, None, error, attempts, requests, started, utc_now(), self.clock() - t0)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half fixed, half random, capped."""
        ceiling = min(self.options.backoff_cap, self.options.backoff_base * (2 ** (attempt - 1)))
        return float(ceiling / 2 + self.jitter() * ceiling / 2)

    async def _attempt(self, host: H, deadline: float, attempt: int,
                       executor: ThreadPoolExecutor) -> _Attempt[T]:
        assert self._loop is not None and self._hard_stop is not None
        job = self.factory(host, deadline, attempt)
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
