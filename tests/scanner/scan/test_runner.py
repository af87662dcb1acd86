"""The fleet loop gives every host a result, inside its deadline, with retries only where they help."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from scanner.model.errors import HostAuthFailed, HostError, HostProtocolError, HostUnreachable
from scanner.model.records import ErrorCategory
from scanner.scan.runner import HostRun, Runner, RunnerOptions

# Upper bounds that only a real hang breaks: generous for a loaded 2-core machine, far below the
# timeouts a broken abort or stop would wait out.
HANG_BOUND = 20.0


@dataclass(frozen=True)
class FakeHost:
    name: str
    behaviour: str
    cred: str = "shared"


@dataclass
class FakeJob:
    host: FakeHost
    attempt: int
    released: threading.Event
    requests: int = 0
    aborted: threading.Event = field(default_factory=threading.Event)

    def run(self) -> str:
        self.requests += 2
        b = self.host.behaviour
        if b == "ok":
            return f"{self.host.name}-ok"
        if b.startswith("flaky") and self.attempt <= int(b[5:]):
            raise HostUnreachable(self.host.name, "connection refused")
        if b.startswith("flaky"):
            return f"{self.host.name}-ok"
        if b == "auth":
            raise HostAuthFailed(self.host.name, "credentials rejected (HTTP 401)")
        if b == "no-spn":  # a logon failure that is not a rejected password
            raise HostAuthFailed(self.host.name, "Kerberos: server not found in Kerberos database",
                                 password_rejected=False)
        if b == "protocol":
            raise HostProtocolError(self.host.name, "malformed XML")
        if b == "hang":  # honours abort, like a socket shut down from outside
            self.aborted.wait()
            raise HostError(self.host.name, "aborted")
        if b == "stuck":  # ignores abort entirely
            self.released.wait()
            raise HostError(self.host.name, "late")
        raise AssertionError(b)

    def abort(self) -> None:
        self.aborted.set()


def _run(hosts: list[FakeHost], stop_after: int | None = None, **opts: float) -> tuple[list[HostRun], Runner]:
    released = threading.Event()
    jobs: list[FakeJob] = []

    def factory(host: FakeHost, deadline: float, attempt: int) -> FakeJob:
        job = FakeJob(host, attempt, released)
        jobs.append(job)
        return job

    options = RunnerOptions(**{"concurrency": 4, "timeout": 2.0, "retries": 2, "backoff_base": 0.01,
                               "grace": 0.2, "abort_grace": 0.2, **opts})  # type: ignore[arg-type]
    done: list[HostRun] = []

    def on_done(run: HostRun) -> None:
        done.append(run)
        if len(done) == stop_after:
            runner.request_stop()

    runner: Runner = Runner(factory, options, jitter=lambda: 0.5, credential_key=lambda h: h.cred, on_done=on_done)
    try:
        results = asyncio.run(runner.run(hosts))
    finally:
        released.set()
    return results, runner


def test_every_host_gets_a_result_in_order() -> None:
    """Healthy, failing and hanging hosts all come back, in inventory order, with their category."""
    hosts = [FakeHost("a", "ok"), FakeHost("b", "protocol"), FakeHost("c", "hang"), FakeHost("d", "ok")]
    results, _ = _run(hosts, timeout=0.5)
    assert [r.host.name for r in results] == ["a", "b", "c", "d"]
    assert results[0].value == "a-ok" and results[0].error is None and results[0].requests == 2
    assert results[1].error is not None and results[1].error.category is ErrorCategory.PROTOCOL
    assert results[2].error is not None and results[2].error.category is ErrorCategory.TIMEOUT
    # cut off at its deadline, by the runner's own clock (never earlier; later only by event-loop lag)
    assert 0.45 <= results[2].seconds < 0.5 + HANG_BOUND


def test_retries_only_transient_errors() -> None:
    """A refused host is retried until it answers; auth and protocol errors are tried exactly once."""
    hosts = [FakeHost("flaky", "flaky2"), FakeHost("auth", "auth", cred="own"), FakeHost("bad", "protocol")]
    results, runner = _run(hosts)
    assert results[0].value == "flaky-ok" and results[0].attempts == 3
    assert results[1].attempts == 1 and results[2].attempts == 1
    assert {name for name, _, _ in runner.retried} == {"flaky"}


def test_retries_are_bounded() -> None:
    """A host that never recovers is tried 1 + --retries times and ends unreachable."""
    results, _ = _run([FakeHost("down", "flaky99")], retries=3)
    assert results[0].attempts == 4 and results[0].error is not None
    assert results[0].error.category is ErrorCategory.UNREACHABLE


def test_a_retry_that_gets_no_logon_turn_keeps_the_hosts_own_error() -> None:
    """A refusing host whose retry waits in vain behind the account's lone first logon (hung on another host)
    still ends unreachable, naming why it was not retried, not as a timeout of its own."""
    hosts = [FakeHost("refusing", "flaky99"), FakeHost("hung", "hang")]
    results, _ = _run(hosts, concurrency=2, timeout=1.0, retries=3)
    error = results[0].error
    assert error is not None and error.category is ErrorCategory.UNREACHABLE
    assert "connection refused" in error.message and "not retried" in error.message


def test_auth_breaker_skips_remaining_hosts_of_that_credential() -> None:
    """After K auth failures in a row no more logons are tried with that account; other accounts go on."""
    hosts = [FakeHost(f"bad{i}", "auth") for i in range(3)] + [FakeHost(f"later{i}", "ok") for i in range(5)]
    hosts.append(FakeHost("other-account", "ok", cred="own"))
    results, runner = _run(hosts, concurrency=1, max_auth_failures=3)
    assert runner.breaker_tripped
    cats = [r.error.category if r.error else None for r in results]
    assert cats[:3] == [ErrorCategory.AUTH] * 3
    assert cats[3:8] == [ErrorCategory.AUTH_SKIPPED] * 5
    assert results[8].value == "other-account-ok"


def test_breaker_counts_only_rejected_passwords() -> None:
    """Six logon failures that were no rejected password (missing SPN, not an admin) followed by a healthy
    host, at --max-auth-failures 5 and one host at a time: the healthy host is still scanned."""
    hosts = [FakeHost(f"nospn{i}", "no-spn") for i in range(6)] + [FakeHost("healthy", "ok")]
    results, runner = _run(hosts, concurrency=1, max_auth_failures=5)
    assert not runner.breaker_tripped
    assert results[-1].value == "healthy-ok"
    assert all(r.error is not None and r.error.category is ErrorCategory.AUTH for r in results[:6])


def test_single_bad_credential_does_not_trip_breaker() -> None:
    """One host with a wrong password among healthy ones leaves the others untouched."""
    hosts = [FakeHost("bad", "auth")] + [FakeHost(f"ok{i}", "ok") for i in range(6)]
    results, runner = _run(hosts, concurrency=2, max_auth_failures=2)
    assert not runner.breaker_tripped
    assert sum(r.error is None for r in results) == 6


def test_stop_gives_every_host_a_result() -> None:
    """Stopping mid-run marks unfinished hosts interrupted and still reports the finished ones."""
    hosts = [FakeHost("first", "ok")] + [FakeHost(f"h{i}", "hang") for i in range(3)]
    hosts += [FakeHost(f"q{i}", "ok") for i in range(5)]
    t0 = time.monotonic()
    results, runner = _run(hosts, stop_after=1, concurrency=4, timeout=60.0)
    assert time.monotonic() - t0 < HANG_BOUND  # the hanging hosts were aborted after the grace, not at 60 s
    assert runner.interrupted
    assert results[0].value == "first-ok"
    assert all(r.error is not None and r.error.category is ErrorCategory.INTERRUPTED for r in results[1:4])
    assert len(results) == len(hosts)


def test_worker_that_ignores_abort_does_not_hold_the_run() -> None:
    """A worker thread stuck beyond the deadline is abandoned; the run still ends on time."""
    t0 = time.monotonic()
    results, _ = _run([FakeHost("stuck", "stuck"), FakeHost("ok", "ok")], timeout=0.3)
    assert time.monotonic() - t0 < HANG_BOUND  # the stuck thread is only released after the run
    assert results[0].error is not None and results[0].error.category is ErrorCategory.TIMEOUT
    assert results[1].value == "ok-ok"


@pytest.mark.parametrize("concurrency", [pytest.param(1, id="serial"), pytest.param(3, id="three")])
def test_concurrency_is_bounded(concurrency: int) -> None:
    """No more than --concurrency hosts are worked on at once."""
    active = 0
    peak = 0
    lock = threading.Lock()

    class CountingJob:
        requests = 1

        def run(self) -> str:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.02)  # work, not synchronisation
            with lock:
                active -= 1
            return "ok"

        def abort(self) -> None:
            pass

    runner: Runner = Runner(lambda h, d, a: CountingJob(), RunnerOptions(concurrency=concurrency))
    results = asyncio.run(runner.run([FakeHost(f"h{i}", "ok") for i in range(8)]))
    assert all(r.value == "ok" for r in results) and peak <= concurrency


def test_stop_requested_before_the_run_scans_nothing() -> None:
    """A stop asked for before the loop starts (Ctrl-C during start-up) still counts: no host is contacted."""
    started: list[str] = []

    def factory(host: FakeHost, deadline: float, attempt: int) -> FakeJob:
        started.append(host.name)
        return FakeJob(host, attempt, threading.Event())

    runner: Runner = Runner(factory, RunnerOptions(concurrency=2, timeout=2.0))
    runner.request_stop()
    results = asyncio.run(runner.run([FakeHost("a", "ok"), FakeHost("b", "ok")]))
    assert started == [] and runner.interrupted
    assert all(r.error is not None and r.error.category is ErrorCategory.INTERRUPTED for r in results)


def test_only_rejected_credentials_feed_the_breaker() -> None:
    """Errors that prove the logon worked (access denied) reset the streak, like a success; errors that say nothing
    about the password (a Basic 401 for a domain account, no password at all) are not counted; rejected ones are."""
    from scanner.model.errors import HostAccessDenied

    class Job(FakeJob):
        def run(self) -> str:
            if self.host.behaviour == "denied":
                raise HostAccessDenied(self.host.name, "not an administrator")
            if self.host.behaviour == "uncounted":
                raise HostAuthFailed(self.host.name, "Basic refused for a domain account", password_rejected=False)
            return super().run()

    released = threading.Event()
    hosts = [FakeHost("bad1", "auth"), FakeHost("denied", "denied"), FakeHost("bad2", "auth"),
             FakeHost("basic", "uncounted"), FakeHost("bad3", "auth"), FakeHost("later", "ok")]
    runner: Runner = Runner(lambda host, deadline, attempt: Job(host, attempt, released),
                            RunnerOptions(concurrency=1, timeout=2.0, max_auth_failures=3, abort_grace=0.2),
                            credential_key=lambda h: h.cred)
    results = asyncio.run(runner.run(hosts))
    assert runner.breaker_counted == ["bad1", "bad2", "bad3"]
    assert results[-1].value == "later-ok" and results[-1].error is None  # bad2, bad3 are only two in a row


def test_a_wrong_password_reaches_at_most_the_limit_at_any_concurrency() -> None:
    """40 hosts at --concurrency 32 with a password every host rejects: 3 logons are tried, the other 37 hosts
    are never contacted and say why."""
    tried: list[str] = []

    def factory(host: FakeHost, deadline: float, attempt: int) -> FakeJob:
        tried.append(host.name)
        return FakeJob(host, attempt, threading.Event())

    hosts = [FakeHost(f"cm{i:02d}", "auth") for i in range(40)]
    runner: Runner = Runner(factory, RunnerOptions(concurrency=32, timeout=5.0, max_auth_failures=3),
                            credential_key=lambda h: "LAB\\auditor")
    results = asyncio.run(runner.run(hosts))
    assert len(tried) == 3
    skipped = [r for r in results if r.error is not None and r.error.category is ErrorCategory.AUTH_SKIPPED]
    assert len(skipped) == 37 and runner.breaker_tripped
    assert all(r.error is not None and r.error.message.startswith("not tried: protects LAB\\auditor from a lockout")
               for r in skipped)


class SignallingJob(FakeJob):
    """Logs on, says so, then holds the host until the test lets it go."""

    on_logon: Callable[[], None] = staticmethod(lambda: None)  # type: ignore[assignment]
    password_sent = True

    def watch_logon(self, callback: Callable[[], None]) -> None:
        self.on_logon = callback

    def run(self) -> str:
        self.on_logon()
        return f"{self.host.name}-ok" if self.released.wait(HANG_BOUND) else f"{self.host.name}-held-alone"


def test_other_hosts_start_once_the_first_logon_worked() -> None:
    """The account's other hosts start as soon as the first host is logged on, not when it is finished."""
    release = threading.Event()
    started: list[str] = []
    all_started = threading.Event()

    def factory(host: FakeHost, deadline: float, attempt: int) -> FakeJob:
        started.append(host.name)
        if len(started) == 4:
            all_started.set()
            release.set()
        return SignallingJob(host, attempt, release)

    runner: Runner = Runner(factory, RunnerOptions(concurrency=4, timeout=HANG_BOUND * 2, max_auth_failures=1),
                            credential_key=lambda h: "acct")
    results = asyncio.run(runner.run([FakeHost(f"h{i}", "ok") for i in range(4)]))
    assert all_started.is_set()  # all four were running together, the first one still held
    assert [r.value for r in results] == [f"h{i}-ok" for i in range(4)]


def test_a_stop_while_waiting_for_the_first_logon_interrupts_the_waiting_hosts() -> None:
    """Hosts waiting behind an account's first logon end as interrupted when the run is stopped."""
    hosts = [FakeHost("hung", "hang")] + [FakeHost(f"w{i}", "ok") for i in range(3)]
    runner_box: list[Runner] = []

    def factory(host: FakeHost, deadline: float, attempt: int) -> FakeJob:
        runner_box[0].request_stop()  # the first (and only) job to start asks for the stop
        return FakeJob(host, attempt, threading.Event())

    runner: Runner = Runner(factory, RunnerOptions(concurrency=4, timeout=HANG_BOUND * 2, grace=0.1,
                                                   abort_grace=0.2), credential_key=lambda h: "acct")
    runner_box.append(runner)
    results = asyncio.run(runner.run(hosts))
    assert all(r.error is not None and r.error.category is ErrorCategory.INTERRUPTED for r in results)
    assert all(r.attempts == 0 for r in results[1:])
