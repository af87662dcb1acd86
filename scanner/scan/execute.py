"""The execute step of a scan: every host of a `RunPlan`, in this process or over worker processes, into the
run's records (`RunResults`: every host, also when the run is stopped).

Nothing here prints: progress goes to the `HostProgress` the caller passes (the CLI's bar), and what the
admin should know afterwards comes back as notes.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from scanner.config.waivers import apply_waivers
from scanner.history.database import audit_name_for
from scanner.model.host import endpoint, run_keys
from scanner.model.notes import Note
from scanner.model.records import HostResult, RunResults, Verdict
from scanner.scan import preflight
from scanner.scan.accounts import UNPROVEN, AccountKey, carried_from, carry_into
from scanner.scan.audit_log import AuditLog
from scanner.scan.jobs import RunJobs
from scanner.scan.logon_gate import AccountTally, LogonGate, rejected_passwords
from scanner.scan.results import host_result, merge_rescan, run_meta
from scanner.scan.run_plan import RunInputs, RunPlan
from scanner.scan.runner import HostRun, Runner, RunnerOptions, utc_now
from scanner.scan.workers import WorkerPool
from scanner.winrm.collect import CollectOptions
from scanner.winrm.session import SessionOptions

if TYPE_CHECKING:
    from scanner.model.host import Host

Run = HostRun["Host", HostResult]
AnyRunner = Runner["Host", HostResult] | WorkerPool


class HostProgress(Protocol):
    """Where the execute step reports each finished host (the CLI's progress bar)."""

    def host_done(self, name: str, verdict: Verdict, detail: str = "") -> None: ...

    def stopping(self) -> None:
        """A stop was asked for (Ctrl-C, SIGTERM): no new hosts; running ones get a few seconds."""

    def close(self) -> None: ...


class NoProgress:
    """Progress nobody watches (benchmarks, library callers)."""

    def host_done(self, name: str, verdict: Verdict, detail: str = "") -> None:
        pass

    def stopping(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Executed:
    """What the execute step answers: the run's records, the runner that made them, what to tell the admin."""

    results: RunResults
    runner: AnyRunner
    workers: int  # processes the hosts ran in (1: this one)
    notes: tuple[Note, ...] = ()

    @property
    def worker_stats(self) -> list[dict[str, Any]]:
        """Per worker process: hosts, slots, peak RSS (empty with one process)."""
        return self.runner.worker_stats if isinstance(self.runner, WorkerPool) else []


def worker_count(asked: int, concurrency: int, hosts: int) -> int:
    """--workers, never more than the concurrency's slots or the hosts to scan, and at least one."""
    return max(1, min(asked, concurrency, hosts or 1))


def execute(plan: RunPlan, *, progress: HostProgress | None = None,
            on_runner: Callable[[AnyRunner], None] | None = None,
            on_host_done: Callable[[Run], None] | None = None,
            install_signal_handlers: bool = True) -> Executed:
    """Create the run folder and scan every host of the plan; results for every host, however the run ends."""
    inputs, settings = plan.inputs, plan.inputs.settings
    hosts = inputs.hosts
    preflight.create_run_folder(inputs)
    # One name on two ports or addresses gets two keys (evidence folders, history) whatever the row order.
    host_keys = dict(zip((h.key for h in hosts), run_keys([(h.name, h.address, h.port) for h in hosts]), strict=True))
    watcher = progress or NoProgress()
    audit = AuditLog(settings.log_file, plan.secrets) if settings.log_file else None
    if audit is not None:
        audit.event("run-start", inventory=settings.inventory, inventory_sha256=inputs.inventory.sha256,
                    hosts=len(hosts), output=inputs.out_dir, user=settings.username, insecure=settings.insecure)

    def done(run: Run) -> None:
        result = host_result(run)
        if audit is not None:
            audit.host_done(result, run.host.auth)
        detail = result.error.category.value if result.error else ""
        host = run.host  # named as the inventory spells it, as the reports do; with its address where shared
        shared = host_keys.get(host.key, host.stable_name) != host.stable_name
        watcher.host_done(f"{host.name} ({endpoint(host.address, host.port)})" if shared else host.name, result.verdict,
                          detail)
        if on_host_done is not None:
            on_host_done(run)

    workers = worker_count(settings.workers, settings.concurrency, len(hosts))
    account_key = AccountKey.for_run(settings.username, hosts)
    gate = LogonGate(settings.max_auth_failures)
    carry_into(gate, map(account_key, hosts), [*carried_from(inputs.unproven), *UNPROVEN.left()])
    runner = _runner(_run_jobs(plan, host_keys), workers, plan, done, account_key, gate)
    if on_runner is not None:
        on_runner(runner)
    try:
        runs = asyncio.run(_run_with_signals(runner, list(hosts), watcher, install_signal_handlers))
    finally:
        watcher.close()
        if audit is not None:
            audit.event("run-end", interrupted=runner.interrupted)
            audit.close()
    notes = [Note(f"warning: {runner.fallback}")] if isinstance(runner, WorkerPool) and runner.fallback else []
    UNPROVEN.remember(gate.tallies())
    results = _run_results(inputs, runs, interrupted=runner.interrupted, workers=workers,
                           tallies=gate.tallies(), account_key=account_key)
    return Executed(results, runner, workers, tuple(notes))


def _run_jobs(plan: RunPlan, host_keys: dict[tuple[str, int], str]) -> RunJobs:
    """The settled ingredients of every host job, for this process or each worker's."""
    settings = plan.inputs.settings
    return RunJobs(
        session=SessionOptions(username=settings.username, ca_file=settings.ca_file, insecure=settings.insecure,
                               connect_timeout=settings.connect_timeout,
                               read_timeout=float(settings.operation_timeout + 10),
                               operation_timeout=settings.operation_timeout, spn_service=settings.spn_service,
                               transport=settings.transport),
        collect=CollectOptions(max_log_bytes=settings.max_log_bytes),
        run_dir=plan.inputs.out_dir,
        advisory=plan.inputs.advisory,
        passwords=plan.passwords,
        credentials=plan.credentials,
        refused=plan.refused,
        secrets=plan.secrets,
        host_keys=host_keys,
    )


def _runner(jobs: RunJobs, workers: int, plan: RunPlan, done: Callable[[Run], None],
            account_key: AccountKey, gate: LogonGate) -> AnyRunner:
    """The one-process runner, or a pool of `workers` processes that looks like one."""
    settings = plan.inputs.settings
    options = RunnerOptions(concurrency=settings.concurrency, timeout=settings.timeout, retries=settings.retries,
                            max_auth_failures=settings.max_auth_failures, grace=settings.grace,
                            backoff_base=settings.backoff_base)
    if workers > 1:
        return WorkerPool(jobs, workers, options, account_key=account_key, on_done=done, gate=gate)
    return Runner(jobs.factory(), options, on_done=done, credential_key=account_key, gate=gate)


def _run_results(inputs: RunInputs, runs: list[Run], *, interrupted: bool, workers: int,
                 tallies: list[AccountTally], account_key: AccountKey) -> RunResults:
    """The run's records: its metadata, every host (--rescan-failed: merged into the earlier run), waivers applied."""
    settings, earlier = inputs.settings, inputs.earlier
    recorded = {k: v for k, v in asdict(settings).items() if k not in ("inventory", "output")}
    recorded["workers"] = workers
    meta = run_meta(
        started=inputs.started, finished=utc_now(), advisory=inputs.advisory, inventory_path=str(settings.inventory),
        inventory_sha256=inputs.inventory.sha256 or _sha256_file(settings.inventory), options=recorded,
        insecure=settings.insecure, interrupted=interrupted, run_id=inputs.run_id,
    )
    audit_name = settings.audit or (earlier.meta.audit if earlier is not None else None) \
        or audit_name_for(str(settings.inventory))
    waiver_file = str(settings.waivers.absolute()) if settings.waivers is not None else \
        earlier.meta.waiver_file if earlier is not None else None  # --rescan-failed: the earlier run's
    meta = replace(meta, waiver_file=waiver_file, waivers=inputs.waivers, selection=inputs.selection,
                   partial=len(inputs.hosts) < len(inputs.inventory.hosts), audit=audit_name,
                   rejected_passwords=rejected_passwords(tallies, ((account_key(run.host), run.error) for run in runs)))
    results = RunResults(meta=meta, hosts=tuple(host_result(r) for r in runs))
    if earlier is not None and settings.rescan_failed is not None:
        results = merge_rescan(earlier, results, settings.rescan_failed)
    return replace(results, hosts=apply_waivers(results.hosts, inputs.waivers))


def _sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


async def _run_with_signals(runner: AnyRunner, hosts: list[Host], progress: HostProgress, install: bool) -> list[Run]:
    """SIGINT/SIGTERM ask the runner to stop (a second one stops at once); works on POSIX and Windows."""
    loop = asyncio.get_running_loop()
    restore: list[Callable[[], object]] = []

    def stop() -> None:
        progress.stopping()
        runner.request_stop()

    if install and threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
            if signum is None:
                continue
            try:
                loop.add_signal_handler(signum, stop)
                restore.append(functools.partial(loop.remove_signal_handler, signum))
            except (NotImplementedError, RuntimeError):  # Windows' event loops: plain signal.signal
                previous = signal.getsignal(signum)
                signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop))
                restore.append(functools.partial(signal.signal, signum, previous))
    try:
        return await runner.run(hosts)
    finally:
        for undo in restore:
            undo()
