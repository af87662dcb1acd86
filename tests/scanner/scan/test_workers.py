"""`--workers N`: the hosts spread over worker processes behave exactly like one process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scanner.model.records import ErrorCategory, Verdict
from scanner.scan.workers import split_concurrency
from simulator.fleet import Fleet
from tests.paths import REPO
from tests.support.fleet import healthy_machine, new_password, scan

HUNG_RUN_BOUND = 60.0  # far beyond what the parent's deadline needs, far below "forever"


def test_default_is_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cmaudit scan` without --workers scans in its own process, however many cores and hosts there are
    (bench/RESULTS.md: more workers were slower on the machine it was measured on)."""
    from scanner.cli.main import main

    probes = [socket.socket() for _ in range(40)]  # more hosts than --concurrency's 32
    for probe in probes:  # loopback ports nothing listens on: every host is refused at once
        probe.bind(("127.0.0.1", 0))
    rows = [f"sms{i:02d},127.0.0.1,{probe.getsockname()[1]}" for i, probe in enumerate(probes)]
    for probe in probes:
        probe.close()
    (tmp_path / "hosts.csv").write_text("host,address,port\n" + "\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setenv("CMAUDIT_PASSWORD", new_password())
    main(["scan", str(tmp_path / "hosts.csv"), "-o", str(tmp_path / "run"), "--username", "LAB\\auditor",
          "--retries", "0", "--no-history", "--quiet"])
    doc = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert len(doc["hosts"]) == 40 and doc["meta"]["options"]["workers"] == 1


def test_concurrency_is_spread_over_the_workers() -> None:
    """The workers' slots add up to --concurrency, as even as it goes."""
    assert split_concurrency(64, 4) == [16] * 4
    assert split_concurrency(5, 2) == [3, 2]


def _summary(outcome: Any) -> list[tuple[Any, ...]]:
    """What a host's result says, less where its evidence file is (the folder names the port, fleets differ)."""
    return [(h.host, h.verdict, h.reasons,
             replace(h.facts, logs=tuple(replace(f, saved_as=None) for f in h.facts.logs)),
             h.requests, h.attempts, h.error.category if h.error else None)
            for h in outcome.results.hosts]


@pytest.mark.network
def test_two_workers_give_the_results_and_requests_of_one(tmp_path: Path) -> None:
    """The same mixed fleet scanned in one process and over two workers: identical verdicts, facts, evidence
    hashes and WS-Man requests per host, and the servers saw the same HTTP requests per host."""
    password = new_password()
    per_host: dict[int, list[int]] = {}
    outcomes = {}
    for workers in (1, 2):  # a fresh fleet each time: the 503 fault answers the first request only
        with Fleet(hosts=14, password=password, faults="3=http503x1,5=badauth") as fleet:
            outcomes[workers] = scan(fleet, tmp_path / f"w{workers}", password, concurrency=4, workers=workers,
                                     quiet=True).outcome
            per_host[workers] = [h.counters.requests for h in fleet.hosts]
    one, two = outcomes[1], outcomes[2]
    assert one.workers == 1 and two.workers == 2 and len(two.worker_stats) == 2
    assert sum(stats["hosts"] for stats in two.worker_stats) == 14
    assert _summary(one) == _summary(two)
    assert per_host[1] == per_host[2]
    assert [h.verdict for h in two.results.hosts].count(Verdict.ERROR) == 1  # badauth; the 503 was retried
    assert len(list((tmp_path / "w2").rglob("*.gz"))) == len(list((tmp_path / "w1").rglob("*.gz"))) > 5


@pytest.mark.network
@pytest.mark.parametrize("workers", [1, 2])
def test_one_lockout_breaker_for_all_workers(tmp_path: Path, workers: int) -> None:
    """A wrong password is tried exactly K times in total (K=3), however many workers share the concurrency, not K
    per worker; every other host is skipped and never contacted, and the summary says so first."""
    password = new_password()
    with Fleet(hosts=12, password=password, machine_factory=healthy_machine, profiles=["h"] * 12) as fleet:
        result = scan(fleet, tmp_path, "wrong-" + password, concurrency=2, workers=workers, max_auth_failures=3)
        contacted = [h.counters.requests > 0 for h in fleet.hosts]
    categories = [h.error.category if h.error else None for h in result.outcome.results.hosts]
    assert categories.count(ErrorCategory.AUTH) == 3
    assert categories.count(ErrorCategory.AUTH_SKIPPED) == 12 - 3
    assert sum(contacted) == 3
    assert result.stdout.startswith("PASSWORD REJECTED: the password for LAB\\auditor was rejected by 3 host(s); 9 "
                                    "not tried to protect the account.")


@pytest.mark.network
def test_stop_with_workers_writes_results_for_every_host(tmp_path: Path) -> None:
    """A stop request during a run over two workers still gives every host a result: finished ones keep
    theirs, hanging ones end interrupted after the grace, unstarted ones were never contacted."""
    password = new_password()
    with Fleet(hosts=8, password=password, faults="2-7=hang", machine_factory=healthy_machine,
               profiles=["h"] * 8) as fleet:
        runners: list[Any] = []
        done: list[Any] = []

        def on_done(run: Any) -> None:
            done.append(run)
            if len(done) == 2:
                runners[0].request_stop()

        result = scan(fleet, tmp_path, password, concurrency=4, workers=2, timeout=60.0, grace=0.3,
                      on_runner=runners.append, on_host_done=on_done)
        contacted = [h.counters.requests > 0 for h in fleet.hosts]
    doc = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert doc["meta"]["interrupted"] is True and len(doc["hosts"]) == 8
    assert [h["error"] is None for h in doc["hosts"][:2]] == [True, True]
    assert all(h["error"]["category"] == "interrupted" for h in doc["hosts"][2:])
    assert contacted[6:] == [False, False]  # 4 slots: hosts 6 and 7 never started
    assert result.outcome.exit_status & 2


@pytest.mark.network
def test_workers_get_no_secret_through_argv_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The password (and its NTLM hashes) reach the workers over their pipe only: neither their command line
    nor their environment holds it, although the parent's environment does."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads another process's environment and command line in Linux's /proc")
    from tests.support.ntlm import hash_forms

    password = new_password()
    monkeypatch.setenv("CMAUDIT_PASSWORD", password)
    seen: list[bytes] = []

    with Fleet(hosts=6, password=password, machine_factory=healthy_machine, profiles=["h"] * 6) as fleet:
        runners: list[Any] = []

        def on_done(run: Any) -> None:
            if not seen:
                for worker in runners[0]._pool:
                    pid = worker.process.pid
                    seen.append(Path(f"/proc/{pid}/environ").read_bytes() + Path(f"/proc/{pid}/cmdline").read_bytes())

        result = scan(fleet, tmp_path, password, concurrency=2, workers=2, on_runner=runners.append,
                      on_host_done=on_done)
    assert os.environ["CMAUDIT_PASSWORD"] == password  # the parent's environment is as it was
    assert len(seen) == 2 and all(b"CMAUDIT" not in s or password.encode() not in s for s in seen)
    forms = [password, *hash_forms(password)]
    assert not [form for s in seen for form in forms if form.encode() in s]
    assert all(h.error is None for h in result.outcome.results.hosts)


@pytest.mark.network
def test_debug_trace_holds_every_workers_hosts(tmp_path: Path) -> None:
    """With --debug, the one trace file gets every host's lines from the worker that scanned it."""
    from scanner.cli.debug import debug_trace

    password = new_password()
    trace = tmp_path / "trace.log"
    with Fleet(hosts=6, password=password, machine_factory=healthy_machine, profiles=["h"] * 6) as fleet, \
            debug_trace(trace, ["scan"]):
        scan(fleet, tmp_path, password, concurrency=2, workers=2)
        names = [h.name for h in fleet.hosts]
    text = trace.read_text(encoding="utf-8")
    for name in names:
        lines = [line for line in text.splitlines() if f" {name}: " in line]
        assert any("WS-Man Create cmd ok" in line for line in lines), name
        assert any("[w1/" in line or "[w2/" in line for line in lines), name
    assert password not in text


@pytest.mark.network
@pytest.mark.skipif(os.name == "nt", reason="sends a POSIX signal to another process group")
def test_ctrl_c_to_the_process_group_with_workers(tmp_path: Path) -> None:
    """Ctrl-C at a terminal reaches cmaudit and its workers alike: the run still ends promptly with a complete
    results.json and no worker prints a traceback."""
    password = new_password()
    with Fleet(hosts=6, password=password, faults="1-5=hang", machine_factory=healthy_machine,
               profiles=["h"] * 6) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        env = {**os.environ, "CMAUDIT_PASSWORD": password}
        proc = subprocess.Popen(
            [sys.executable, "-m", "scanner", "scan", str(inventory), "-o", str(tmp_path / "run"),
             "--username", fleet.username, "--timeout", "60", "--concurrency", "4", "--workers", "2",
             "--no-history"],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True)
        assert proc.stderr is not None
        for line in proc.stderr:
            if "[1/6]" in line:
                break
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (2, 3), stderr
    assert "Traceback" not in stderr
    doc = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert len(doc["hosts"]) == 6 and doc["meta"]["interrupted"] is True
    assert doc["meta"]["options"]["workers"] == 2
    assert sum(h["error"] is not None and h["error"]["category"] == "interrupted" for h in doc["hosts"]) == 5


@pytest.mark.network
def test_workers_that_cannot_start_leave_the_scan_to_this_process(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """When the OS refuses new processes the scan still judges every host, in cmaudit's own process, and
    says so on stderr."""
    import multiprocessing.context

    def refuse(self: Any) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", refuse)
    password = new_password()
    with Fleet(hosts=4, password=password, machine_factory=healthy_machine, profiles=["h"] * 4) as fleet:
        result = scan(fleet, tmp_path, password, concurrency=2, workers=2)
    assert all(h.error is None for h in result.outcome.results.hosts)
    assert "worker processes could not be started" in result.stderr


@pytest.mark.network
def test_every_workers_last_word_is_heard_however_late_its_reader(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's closing statistics reach the run even when the thread reading its pipe only gets to them
    after the process has exited (a loaded machine once lost one worker's: its pipe was closed under it)."""
    from scanner.scan import workers as workers_module

    real_on_message = workers_module.WorkerPool._on_message

    def late_read(self: Any, worker: Any) -> None:
        """The pipe reader, slowed down only for the worker's goodbye: posted once the process has exited."""
        while True:
            try:
                message = worker.conn.recv()
            except Exception:  # noqa: BLE001 - as the real reader: EOF or a closed pipe means the worker is gone
                message = ("lost",)
            if message[0] == "bye":
                worker.process.join()
            try:
                self._loop.call_soon_threadsafe(real_on_message, self, worker, message)
            except RuntimeError:
                return
            if message[0] in ("lost", "bye"):
                return

    monkeypatch.setattr(workers_module.WorkerPool, "_read", late_read)
    password = new_password()
    with Fleet(hosts=4, password=password, machine_factory=healthy_machine, profiles=["h"] * 4) as fleet:
        outcome = scan(fleet, tmp_path, password, concurrency=2, workers=2, quiet=True).outcome
    assert [h.error for h in outcome.results.hosts] == [None] * 4
    assert sorted(s["worker"] for s in outcome.worker_stats) == [1, 2]


def _run_bounded(pool: Any, fleet: list[Any]) -> list[Any]:
    """`pool.run(fleet)` in a thread of its own, failing (not hanging) when it outlives HUNG_RUN_BOUND; the test's
    wedged worker processes are killed whatever happens."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(asyncio.run(pool.run(fleet))), daemon=True)
    thread.start()
    thread.join(HUNG_RUN_BOUND)
    try:
        assert not thread.is_alive(), "the run waited for the wedged worker"
    finally:
        for worker in pool._pool:
            worker.process.kill()
    return list(box[0])


def test_a_wedged_worker_is_ended_and_its_hosts_time_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker frozen in C code (no thread of it runs) cannot hold the run: past its host's deadline and grace
    the parent kills it, its hosts end as ERROR/timeout, and the other worker scans the rest."""
    from scanner.scan import workers as workers_module
    from scanner.scan.accounts import AccountKey
    from scanner.scan.runner import RunnerOptions
    from scanner.scan.workers import WorkerPool
    from tests.support.hung_worker import WedgingJobs, hosts

    # A host's deadline runs from its hand-out, while its worker may still be starting: a spawned worker takes
    # seconds to start on Windows (more under wine), so the slack there must cover that.
    monkeypatch.setattr(workers_module, "HUNG_WORKER_GRACE_S", 10.0 if os.name == "nt" else 1.0)
    options = RunnerOptions(concurrency=2, timeout=1.0, abort_grace=0.5, grace=0.2)
    pool = WorkerPool(WedgingJobs(), 2, options, account_key=AccountKey(None))  # type: ignore[arg-type]
    fleet = hosts("first", "wedge", "after1", "after2", "after3")
    t0 = time.monotonic()
    runs = _run_bounded(pool, fleet)
    by_name = {run.host.name: run for run in runs}
    assert len(runs) == len(fleet) and time.monotonic() - t0 < HUNG_RUN_BOUND
    wedged = by_name["wedge"].error
    assert wedged is not None and wedged.category is ErrorCategory.TIMEOUT
    assert "stopped answering" in wedged.message
    assert by_name["first"].value == "first-ok" and by_name["after3"].value == "after3-ok"


def test_a_second_stop_ends_a_wedged_worker_at_once() -> None:
    """Two stop requests while a worker is frozen: the run ends at once (not after the abort grace, let alone the
    host's deadline), the frozen worker's host is ERROR/interrupted, and the results are all there."""
    from scanner.scan.accounts import AccountKey
    from scanner.scan.runner import RunnerOptions
    from scanner.scan.workers import SECOND_STOP_ANSWER_S, WorkerPool
    from tests.support.hung_worker import WedgingJobs, hosts

    options = RunnerOptions(concurrency=2, timeout=HUNG_RUN_BOUND * 2, abort_grace=6.0, grace=1.0)
    stop_at: list[float] = []

    def on_done(run: Any) -> None:
        if run.host.name == "slow" and not stop_at:  # "wedge" started before "slow" began its work: frozen by now
            stop_at.append(time.monotonic())
            pool.request_stop()
            pool.request_stop()

    pool = WorkerPool(WedgingJobs(), 2, options, account_key=AccountKey(None), on_done=on_done)  # type: ignore[arg-type]
    pool.gate.patience = 2.0  # "after" waits this long behind the wedged first logon, then goes
    runs = _run_bounded(pool, hosts("wedge", "after", "slow", "more"))
    assert time.monotonic() - stop_at[0] < SECOND_STOP_ANSWER_S + 4.0  # was the abort grace + 2 s + a tick
    wedge, after, slow, more = runs
    assert wedge.error is not None and wedge.error.category is ErrorCategory.INTERRUPTED
    assert "did not answer and was ended" in wedge.error.message
    assert after.value == "after-ok" and slow.value == "slow-ok"
    # `more` may get a free slot while `slow` works (and be judged) or wait until the stop: both are right
    assert more.value == "more-ok" or (more.error is not None and more.error.category is ErrorCategory.INTERRUPTED)


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="SIGSTOP is POSIX-only; the wedged-worker test above "
                                                           "covers the parent's deadline on Windows")
def test_a_stopped_worker_ends_the_run_within_the_timeout_plus_30_seconds(tmp_path: Path) -> None:
    """`--workers 2 --timeout 10` with one worker stopped by SIGSTOP mid-run: the scan still ends within --timeout
    plus 30 s and results.json holds every host (the stopped worker's ERROR/timeout)."""
    password = new_password()
    stopped: list[int] = []
    box: list[Any] = []
    with Fleet(hosts=8, password=password, machine_factory=healthy_machine, profiles=["h"] * 8,
               latency_ms=150) as fleet:
        pools: list[Any] = []

        def stop_worker_one(run: Any) -> None:
            if not stopped:
                pid = pools[0]._pool[0].process.pid
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
                box.append(time.monotonic())

        def scan_it() -> None:
            box.append(scan(fleet, tmp_path, password, workers=2, concurrency=4, timeout=10.0,
                            on_runner=pools.append, on_host_done=stop_worker_one))

        thread = threading.Thread(target=scan_it, daemon=True)
        thread.start()
        thread.join(10.0 + 30.0 + HUNG_RUN_BOUND)
        try:
            assert not thread.is_alive(), "the scan waited for the stopped worker"
        finally:
            for pid in stopped:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
    stopped_at, result = box
    assert time.monotonic() - stopped_at < 10.0 + 30.0
    saved = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert len(saved["hosts"]) == 8
    lost = [h for h in saved["hosts"] if h["error"] and "stopped answering" in h["error"]["message"]]
    assert lost and all(h["error"]["category"] == "timeout" for h in lost)
    assert all(h["verdict"] != "ERROR" for h in saved["hosts"] if h not in lost)
