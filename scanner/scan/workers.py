"""`--workers N`: one run's hosts spread over N worker processes, each running the async runner.

Why: a scan is CPU-bound in Python (NTLM sealing, XML, judging: one core under the GIL) long before it is
latency-bound; N processes use N cores.

Why N workers behave exactly like one process: the parent keeps everything that makes a run one run.
- Order: the parent holds the inventory and hands each worker as many hosts as it has slots (--concurrency
  spread over the workers, so at most --concurrency hosts run at once in total), and the next host only when
  a result comes back. Hosts start in inventory order; hosts of an account that tripped are not handed out.
- The logon gate: one, in the parent (scanner.scan.logon_gate). A worker asks the parent for a ticket before
  every attempt's logon and gives it back over the pipe (RemoteGateway), so an account's first logon runs
  alone and a wrong password reaches at most --max-auth-failures hosts in the whole run, not per worker.
- Stopping: Ctrl-C/SIGTERM and request_stop() reach the parent only (workers ignore both signals: a
  terminal's Ctrl-C reaches the whole process group); the parent stops handing out hosts, gives the
  unstarted ones their ERROR/interrupted result, and passes each stop request on, so workers give running
  hosts the same grace and a second request aborts them at once. Every host gets a result.
- A hung worker (wedged in C code, stopped, swapped out) cannot hold the run: the parent gives every host it
  handed out its deadline (--timeout from its first logon ticket) plus the abort grace and HUNG_WORKER_GRACE_S,
  after a stop request the graces only, and after a second one SECOND_STOP_ANSWER_S; past that it kills the
  worker and ends its hosts as ERROR/timeout (ERROR/interrupted after a stop). The other workers go on.
- Progress, the audit trail (--log-file) and results: the parent's on_done sees every host's result, as
  with one process. Evidence is written by the worker that collected it, into the same run folder.
- --debug: each worker forwards its trace records (redacted there already) to the parent, which writes
  them to the one trace file (again through the redacting filter), thread names prefixed `wN/`.
- A worker that dies loses nothing silently: its unfinished hosts end as ERROR/internal.

Secrets: passwords, NTLM hashes and Kerberos ticket-cache credentials reach a worker over its pipe after it
has started, never through argv or the environment (variables holding a secret are removed from the
environment the children inherit). Kerberos: the parent obtained every TGT before any host was contacted;
workers use the same private ticket caches and never pre-authenticate again.
Workers are started with multiprocessing's `spawn` method: no fork of a process that may hold threads or
locks, the same on Linux, macOS and Windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from scanner.model.errors import HostAuthSkipped, HostError, HostInternalError, HostInterrupted, HostTimeout
from scanner.model.host import Host
from scanner.model.records import HostResult
from scanner.model.redaction import REDACTOR, RedactingFilter
from scanner.scan.accounts import AccountKey
from scanner.scan.jobs import RunJobs
from scanner.scan.logon_gate import Admitted, LogonGate, LogonVerdict, NoRetry, Refused
from scanner.scan.runner import (
    HostRun,
    LocalGateway,
    Runner,
    RunnerOptions,
    account_name,
    first_of,
    not_tried,
    utc_now,
)

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 15.0  # after the last result: how long a worker may take to exit before it is killed
HUNG_WORKER_GRACE_S = 10.0  # past a host's deadline and abort grace: how long the parent waits for its result
STOP_GRACE_S = 2.0  # past a stop request's grace (and the abort grace): the same, once the run is stopping
SECOND_STOP_ANSWER_S = 1.0  # after a second stop request: how long a worker may take to answer before it is ended
WATCH_TICK_S = 0.5  # how often the parent looks for hosts past their deadline
# Loggers a worker forwards to the parent when the parent traces them (--debug).
FORWARDED_LOGGERS = ("scanner", "urllib3.connectionpool")

Run = HostRun[Host, HostResult]


def split_concurrency(concurrency: int, workers: int) -> list[int]:
    """Each worker's slots: --concurrency spread as evenly as it goes (they add up to --concurrency)."""
    base, extra = divmod(concurrency, workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB (Linux's VmHWM; None where /proc does not say)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass(frozen=True)
class WorkerSetup:
    """Everything one worker needs; sent over its pipe once it runs."""

    index: int
    jobs: RunJobs = field(repr=False)
    options: RunnerOptions
    account_key: AccountKey
    trace: tuple[str, ...] = ()


@dataclass(eq=False)
class _Worker:
    index: int
    slots: int
    process: Any
    conn: Connection
    in_flight: dict[int, Host] = field(default_factory=dict)
    deadlines: dict[int, float] = field(default_factory=dict)  # index -> when the parent stops waiting for it
    asking: dict[int, tuple[int, asyncio.Future[None]]] = field(default_factory=dict)  # request -> (index, decision)
    tickets: dict[int, int] = field(default_factory=dict)  # logon ticket -> index
    alive: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)
    reader: threading.Thread | None = None  # the thread reading this worker's pipe (WorkerPool._read)

    def send(self, message: tuple[Any, ...]) -> None:
        if not self.alive:
            return
        try:
            with self.lock:
                self.conn.send(message)
        except (OSError, ValueError):  # the worker is gone: its reader notices and ends its hosts
            pass


class WorkerPool:
    """Runs every host of a run over `workers` processes; to the execute step it looks like a Runner."""

    def __init__(self, jobs: RunJobs, workers: int, options: RunnerOptions, *, account_key: AccountKey,
                 on_done: Callable[[Run], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 gate: LogonGate | None = None) -> None:
        if workers < 2:
            raise ValueError("a worker pool needs at least two workers")
        self.jobs = jobs
        self.workers = min(workers, options.concurrency)
        self.options = options
        self.account_key = account_key
        self.on_done = on_done
        self.clock = clock
        self.gate = gate or LogonGate(options.max_auth_failures)
        self.gateway: LocalGateway[Host] = LocalGateway(self.gate, account_key, clock)
        self.interrupted = False
        self.worker_stats: list[dict[str, Any]] = []
        self._stop_requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: list[_Worker] = []
        self._queue: deque[tuple[int, Host]] = deque()
        self._results: dict[int, Run] = {}
        self._total = 0
        self._finished: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_limit: float | None = None  # after a stop request: no host is waited for past this
        self._runner: Runner[Host, HostResult] | None = None  # the one-process fallback, if it came to that
        self.fallback: str | None = None  # why the hosts were scanned in this process after all

    @property
    def breaker_tripped(self) -> bool:
        """An account spent its --max-auth-failures allowance (rejected or unanswered logons): its other hosts were
        not tried."""
        return self.gate.any_tripped

    @property
    def breaker_counted(self) -> list[str]:
        """Hosts whose rejected passwords the run's logon gate counted."""
        return self.gate.counted

    # -- stopping (any thread) -----------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop starting hosts; a second request aborts running ones at once. Safe from any thread."""
        loop = self._loop
        if loop is None:
            self._stop_requests += 1
            self.interrupted = True
            return
        if loop.is_closed():
            return
        loop.call_soon_threadsafe(self._on_stop)

    def _on_stop(self) -> None:
        self._stop_requests += 1
        self.interrupted = True
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            self._runner.request_stop()
        while self._queue:
            index, host = self._queue.popleft()
            self._skip(index, host, HostInterrupted(host.name, "run stopped before this host was scanned"))
        # After the first request workers give running hosts the grace, then the abort grace to wind down; a
        # worker that has not answered by then will not. A second request means now: a worker gets a moment to
        # send what its aborted hosts came to, then it is ended (issue 24: the parent terminates it).
        if self._stop_requests == 1:
            limit = self.clock() + max(self.options.grace, 0.0) + self.options.abort_grace + STOP_GRACE_S
        else:
            limit = self.clock() + SECOND_STOP_ANSWER_S
        self._stop_limit = limit if self._stop_limit is None else min(limit, self._stop_limit)
        for worker in self._pool:
            worker.send(("stop",))
            for index in worker.in_flight:
                worker.deadlines[index] = min(worker.deadlines.get(index, limit), limit)

    # -- the run -------------------------------------------------------------------------------------
    async def run(self, hosts: Sequence[Host]) -> list[Run]:
        self._loop = asyncio.get_running_loop()
        self._finished = asyncio.Event()
        self._stopping = asyncio.Event()
        self._total = len(hosts)
        self._queue = deque(enumerate(hosts))
        if self._stop_requests:
            self._on_stop()
        try:
            if self._queue:
                try:
                    self._start_workers()
                except Exception as exc:  # noqa: BLE001 - no processes here (limits, a frozen build...): one process
                    return await self._in_this_process(hosts, exc)
                for worker in self._pool:
                    for _ in range(worker.slots):
                        self._hand_out(worker)
            if len(self._results) < self._total:
                await self._watch()
        finally:
            await self._shut_down()
        for index, host in enumerate(hosts):  # belt and braces: every host has a line
            if index not in self._results:
                self._results[index] = HostRun(index, host, None, HostInterrupted(host.name, "not scanned"), 0, 0,
                                               None, None, 0.0)
        return [self._results[i] for i in range(len(hosts))]

    async def _watch(self) -> None:
        """Until every host has its result: end the workers that let a host's deadline pass without a word."""
        assert self._finished is not None
        while not self._finished.is_set():
            now = self.clock()
            for worker in self._pool:
                if worker.alive and self._overdue(worker, now):
                    self._give_up_on(worker)
            await first_of(self._finished.wait(), timeout=WATCH_TICK_S)

    @staticmethod
    def _overdue(worker: _Worker, now: float) -> bool:
        """A host of `worker` is past its deadline, and not because it waits for a logon ticket from us."""
        waiting = {index for index, _ in worker.asking.values()}
        return any(now >= worker.deadlines.get(index, now) and index not in waiting for index in worker.in_flight)

    def _give_up_on(self, worker: _Worker) -> None:
        """Kill a worker that stopped answering; its hosts end as ERROR/timeout (interrupted after a stop)."""
        log.debug("worker process %d did not answer within its hosts' deadlines: killing it", worker.index)
        with contextlib.suppress(OSError, ValueError):
            worker.process.kill()  # SIGKILL: a stopped or wedged process ignores anything gentler

        def error(host: Host) -> HostError:
            if self.interrupted:
                return HostInterrupted(host.name, f"run stopped while this host was being scanned; worker process "
                                                  f"{worker.index} did not answer and was ended")
            return HostTimeout(host.name, f"no result within the per-host deadline of {self.options.timeout:g}s: "
                                          f"worker process {worker.index} stopped answering and was ended",
                               retryable=False)

        self._drop(worker, error)

    def _drop(self, worker: _Worker, error: Callable[[Host], HostError]) -> None:
        """A worker is gone: its logon tickets come back, its hosts end with `error`, nothing more goes to it."""
        worker.alive = False
        for _, decision in worker.asking.values():
            decision.cancel()
        worker.asking.clear()
        for ticket in worker.tickets:  # what it did with them nobody will say: its passwords may have left unanswered
            self.gateway.finish(ticket, LogonVerdict.UNANSWERED)
        worker.tickets.clear()
        for index, host in sorted(worker.in_flight.items()):
            self._finish(HostRun(index, host, None, error(host), 0, 0, None, utc_now(), 0.0))
        worker.in_flight.clear()
        if not any(w.alive for w in self._pool):
            while self._queue:
                index, host = self._queue.popleft()
                self._skip(index, host, HostInternalError(host.name, "internal error: no worker process left"))

    async def _in_this_process(self, hosts: Sequence[Host], exc: BaseException) -> list[Run]:
        """Worker processes could not be started: scan every host here instead, as --workers 1 would."""
        self.fallback = f"worker processes could not be started ({type(exc).__name__}: {exc}); scanned in one process"
        log.debug("%s", self.fallback)
        for worker in self._pool:
            worker.alive = False
            worker.process.kill()
        self._pool = []
        runner: Runner[Host, HostResult] = Runner(self.jobs.factory(), self.options, on_done=self.on_done,
                                                   credential_key=self.account_key, gate=self.gate,
                                                   clock=self.clock)
        self._runner = runner
        for _ in range(self._stop_requests):
            runner.request_stop()
        runs = await runner.run(hosts)
        self.interrupted = self.interrupted or runner.interrupted
        return runs

    def _start_workers(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        trace = tuple(name for name in FORWARDED_LOGGERS if logging.getLogger(name).isEnabledFor(logging.DEBUG))
        slots = split_concurrency(self.options.concurrency, self.workers)
        with _children_environment(self.jobs.secrets), _signals_ignored():
            for index, share in enumerate(slots):
                parent, child = ctx.Pipe()
                process = ctx.Process(target=worker_main, args=(child,), name=f"cmaudit-worker-{index + 1}",
                                      daemon=True)
                process.start()
                child.close()
                self._pool.append(_Worker(index + 1, share, process, parent))
        for worker, share in zip(self._pool, slots, strict=True):
            worker.send(("setup", WorkerSetup(worker.index, self.jobs, replace(self.options, concurrency=share),
                                              self.account_key, trace)))
            worker.reader = threading.Thread(target=self._read, args=(worker,),
                                             name=f"cmaudit-worker-{worker.index}-pipe", daemon=True)
            worker.reader.start()
        log.debug("started %d worker processes with %s host slots", len(self._pool), "+".join(map(str, slots)))

    def _read(self, worker: _Worker) -> None:
        """Reader thread of one worker's pipe: every message is handled on the loop."""
        assert self._loop is not None
        while True:
            try:
                message = worker.conn.recv()
            except Exception:  # noqa: BLE001 - EOF, or the pipe closed under us at shutdown: the worker is gone
                message = ("lost",)
            try:
                self._loop.call_soon_threadsafe(self._on_message, worker, message)
            except RuntimeError:  # the loop is closed: the run is over
                return
            if message[0] in ("lost", "bye"):
                return

    def _on_message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "done":
            run: Run = message[1]
            worker.in_flight.pop(run.index, None)
            worker.deadlines.pop(run.index, None)
            self._finish(run)
            self._hand_out(worker)
        elif kind in ("admit", "admit-cancel", "logon", "finish"):
            self._on_gate_message(worker, message)
        elif kind == "log":
            _replay(*message[1:])
        elif kind == "bye":
            self.worker_stats.append(message[1])
            worker.alive = False
        elif kind == "lost" and worker.alive:
            self._drop(worker, lambda host: HostInternalError(
                host.name, f"internal error: worker process {worker.index} ended unexpectedly"))

    # -- the logon gate, for the workers -------------------------------------------------------------
    def _on_gate_message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "admit":
            _, request, index, left = message
            host = worker.in_flight.get(index)
            if host is None or not worker.alive:
                worker.send(("gate", request, None))
                return
            until = None if left is None else self.clock() + left
            decision = asyncio.ensure_future(self._decide(worker, request, index, host, until))
            worker.asking[request] = (index, decision)
        elif kind == "admit-cancel":
            asked = worker.asking.pop(message[1], None)
            if asked is not None:
                asked[1].cancel()
        elif kind == "logon":
            self.gateway.logged_on(message[1])
        elif kind == "finish":
            worker.tickets.pop(message[1], None)
            self.gateway.finish(message[1], LogonVerdict(message[2]))

    async def _decide(self, worker: _Worker, request: int, index: int, host: Host, until: float | None) -> None:
        """Answer a worker's request for a logon ticket, once the gate has one (or refuses, or the run stops)."""
        assert self._stopping is not None
        decision = await self.gateway.admit(index, host, until=until, stop=self._stopping)
        worker.asking.pop(request, None)
        if not worker.alive:
            if isinstance(decision, Admitted):
                self.gateway.finish(decision.ticket, LogonVerdict.UNKNOWN)
            return
        if isinstance(decision, Admitted):
            worker.tickets[decision.ticket] = index
            if until is None:  # its first attempt: the host's own deadline starts now, in the worker
                worker.deadlines[index] = self._deadline(self.options.timeout)
        else:  # refused, or the run stops: the worker ends the host at once
            worker.deadlines[index] = self._deadline(0.0)
        worker.send(("gate", request, decision))

    def _deadline(self, budget: float) -> float:
        """When the parent stops waiting for a host that starts now with `budget` seconds: that, the abort grace,
        and slack; never later than a stop request allows."""
        deadline = self.clock() + budget + self.options.abort_grace + HUNG_WORKER_GRACE_S
        return deadline if self._stop_limit is None else min(deadline, self._stop_limit)

    def _hand_out(self, worker: _Worker) -> None:
        """Give `worker` the next host the stop request and the logon gate allow (skipped ones end here)."""
        while self._queue and worker.alive:
            index, host = self._queue.popleft()
            refused = self.gate.refusal(self.account_key(host))
            if refused is not None:
                self._skip(index, host, HostAuthSkipped(host.name, not_tried(account_name(self.account_key(host)),
                                                                             refused)))
                continue
            worker.in_flight[index] = host
            worker.deadlines[index] = self._deadline(self.options.timeout)
            worker.send(("host", index, host))
            return

    def _skip(self, index: int, host: Host, error: HostError) -> None:
        log.debug("%s: not scanned: %s", host.name, error.message)
        self._finish(HostRun(index, host, None, error, 0, 0, None, utc_now(), 0.0))

    def _finish(self, run: Run) -> None:
        if run.index in self._results:
            return
        self._results[run.index] = run
        if self.on_done is not None:
            self.on_done(run)
        if len(self._results) >= self._total and self._finished is not None:
            self._finished.set()

    async def _shut_down(self) -> None:
        for worker in self._pool:
            worker.send(("exit",))
        assert self._loop is not None
        for worker in self._pool:
            await self._loop.run_in_executor(None, worker.process.join, JOIN_TIMEOUT_S)
            if worker.process.is_alive():
                worker.process.kill()  # workers ignore SIGTERM (the parent stops them), and a stopped one any signal
                await self._loop.run_in_executor(None, worker.process.join, 5.0)
            if worker.reader is not None:
                # the reader ends once it has posted the worker's last messages (bye, logs) or its EOF: closing
                # the pipe before that lost a worker's goodbye on a loaded machine
                await self._loop.run_in_executor(None, worker.reader.join, 5.0)
            with contextlib.suppress(OSError):
                worker.conn.close()
        await asyncio.sleep(0)  # let the readers' last messages (bye, logs) be handled


@contextlib.contextmanager
def _children_environment(secrets: Sequence[str]) -> Any:
    """Spawned children inherit the environment: take out every variable that holds one of the run's secrets
    (e.g. $CMAUDIT_PASSWORD) while they start, and put them back afterwards."""
    wanted = {s for s in secrets if s}
    removed = {name: value for name, value in os.environ.items() if value in wanted}
    for name in removed:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(removed)


@contextlib.contextmanager
def _signals_ignored() -> Any:
    """Children start with SIGINT/SIGTERM ignored (inherited across exec), so a Ctrl-C that reaches the whole
    process group while they import cannot kill them or print a traceback; the parent tells them to stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved: list[tuple[int, Any]] = []
    for signum in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if signum is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            saved.append((signum, signal.signal(signum, signal.SIG_IGN)))
    try:
        yield
    finally:
        for signum, handler in saved:
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, handler)


def _replay(name: str, levelno: int, created: float, thread: str, text: str) -> None:
    """A worker's (already redacted) trace record, handed to the parent's handlers as if logged here."""
    logger = logging.getLogger(name)
    if not logger.isEnabledFor(levelno):
        return
    record = logging.makeLogRecord({"name": name, "levelno": levelno, "levelname": logging.getLevelName(levelno),
                                    "created": created, "msecs": (created % 1) * 1000, "threadName": thread,
                                    "msg": text, "args": None})
    logger.handle(record)


# -- the worker process ----------------------------------------------------------------------------------------
class _Forward(logging.Handler):
    """Sends each trace record, redacted here first, to the parent."""

    def __init__(self, send: Callable[[tuple[Any, ...]], None], worker: int) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RedactingFilter())
        self._send = send
        self._worker = worker

    def emit(self, record: logging.LogRecord) -> None:
        self._send(("log", record.name, record.levelno, record.created, f"w{self._worker}/{record.threadName}",
                    str(record.msg)))


def worker_main(conn: Connection) -> None:
    """A worker process: receive the run's setup, scan the hosts the parent hands over, report each result."""
    for signum in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if signum is not None:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, signal.SIG_IGN)
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        try:
            with lock:
                conn.send(message)
        except (OSError, ValueError):
            pass

    try:
        kind, setup = conn.recv()
    except (EOFError, OSError):
        os._exit(1)
    assert kind == "setup" and isinstance(setup, WorkerSetup)
    REDACTOR.remember(setup.jobs.secrets)
    if setup.trace:
        handler = _Forward(send, setup.index)
        for name in setup.trace:
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG)
            logger.addHandler(handler)
            logger.propagate = False
    gateway = RemoteGateway(send)
    runner: Runner[Host, HostResult] = Runner(
        setup.jobs.factory(), setup.options, on_done=lambda run: send(("done", run)),
        credential_key=setup.account_key, gateway=gateway)
    scanned = asyncio.run(_serve(conn, runner, gateway))
    send(("bye", {"worker": setup.index, "hosts": scanned, "slots": setup.options.concurrency,
                  "peak_rss_mb": peak_rss_mb()}))
    with contextlib.suppress(OSError):
        conn.close()
    # Threads abandoned after an abort (already woken, finishing their cleanup) must not hold the exit.
    os._exit(0)


class RemoteGateway:
    """A worker's way to the run's logon gate, which the parent keeps: tickets are asked for and given back over
    the pipe. Called on the worker's event loop only."""

    def __init__(self, send: Callable[[tuple[Any, ...]], None]) -> None:
        self._send = send
        self._asking: dict[int, asyncio.Future[Admitted | Refused | NoRetry | None]] = {}
        self._requests = 0

    async def admit(self, index: int, host: Host, *, until: float | None,
                    stop: asyncio.Event) -> Admitted | Refused | NoRetry | None:
        self._requests += 1
        request = self._requests
        answer: asyncio.Future[Admitted | Refused | NoRetry | None] = asyncio.get_running_loop().create_future()
        self._asking[request] = answer
        left = None if until is None else max(0.0, until - time.monotonic())
        self._send(("admit", request, index, left))
        await first_of(asyncio.shield(answer), stop.wait(), timeout=left)
        if answer.done():
            return answer.result()
        del self._asking[request]  # gave up (stop or deadline): a ticket granted meanwhile goes straight back
        self._send(("admit-cancel", request))
        return None

    def answer(self, request: int, decision: Admitted | Refused | NoRetry | None) -> None:
        waiting = self._asking.pop(request, None)
        if waiting is None:
            if isinstance(decision, Admitted):
                self.finish(decision.ticket, LogonVerdict.UNKNOWN)
            return
        waiting.set_result(decision)

    def parent_gone(self) -> None:
        """Nobody will grant a ticket any more: every waiting request gives up."""
        for waiting in self._asking.values():
            if not waiting.done():
                waiting.set_result(None)
        self._asking.clear()

    def logged_on(self, ticket: int) -> None:
        self._send(("logon", ticket))

    def finish(self, ticket: int, verdict: LogonVerdict) -> None:
        self._send(("finish", ticket, verdict.value))


async def _serve(conn: Connection, runner: Runner[Host, HostResult], gateway: RemoteGateway) -> int:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, Host] | None] = asyncio.Queue()
    count = 0

    def handle(message: tuple[Any, ...]) -> None:
        nonlocal count
        kind = message[0]
        if kind == "host":
            count += 1
            queue.put_nowait((message[1], message[2]))
        elif kind == "gate":
            gateway.answer(message[1], message[2])
        elif kind == "stop":
            runner.request_stop()
        elif kind in ("exit", "lost"):
            if kind == "lost":  # the parent is gone: nobody will read results any more
                runner.request_stop()
                runner.request_stop()
                gateway.parent_gone()
            queue.put_nowait(None)

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except Exception:  # noqa: BLE001 - EOF or a broken pipe: the parent is gone
                message = ("lost",)
            try:
                loop.call_soon_threadsafe(handle, message)
            except RuntimeError:
                return
            if message[0] in ("exit", "lost"):
                return

    threading.Thread(target=read, name="cmaudit-parent-pipe", daemon=True).start()
    await runner.serve(queue.get)
    return count
