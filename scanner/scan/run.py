"""`cmaudit scan` as a function: inventory in, results.json + reports + evidence out, exit status back.

Kept apart from the argparse layer so tests, `cmaudit demo` and benchmarks drive the very same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from inventory import load_inventory
from inventory.select import select_hosts, selection
from reports import REPORTERS, ReportWriteError, write_reports
from reports.changes_text import render_text
from reports.console import exit_status, print_summary
from reports.weekly import write_weekly_reports
from scanner.config.waivers import as_of, load_waivers, unmatched
from scanner.history import run_folder
from scanner.history.database import audit_name_for
from scanner.model.errors import HostAuthFailed, HostError, UsageError
from scanner.model.host import run_keys
from scanner.model.records import RunResults, Waiver
from scanner.model.redaction import REDACTOR
from scanner.model.times import parse_utc
from scanner.publish import followup
from scanner.scan import preflight
from scanner.scan.advisory_file import load_advisory
from scanner.scan.audit_log import AuditLog
from scanner.scan.credentials import PasswordResolver
from scanner.scan.host_job import HostOutcome
from scanner.scan.jobs import AccountKey, RunJobs
from scanner.scan.kerberos_setup import prepare_kerberos
from scanner.scan.progress import Progress
from scanner.scan.results import assemble, host_result, hosts_to_rescan, load_earlier_run, merge_rescan, run_meta
from scanner.scan.runner import HostRun, Runner, RunnerOptions, utc_now
from scanner.scan.settings import ScanSettings as ScanSettings  # re-exported: callers build it from here
from scanner.scan.workers import WorkerPool, default_workers, usable_cores
from scanner.winrm.collect import CollectOptions
from scanner.winrm.ntlm import NtlmHashes
from scanner.winrm.session import SessionOptions
from scanner.winrm.transport_policy import kerberos_problem, validate_transport

if TYPE_CHECKING:
    from inventory import Inventory
    from scanner.advisory.loader import Advisory
    from scanner.config.mail_settings import MailSettings
    from scanner.model.host import Host

DEFAULT_RUNS_DIR = "cmaudit-runs"
EXIT_INTERRUPTED = 130  # stopped (Ctrl-C, SIGTERM) before every step finished: as a shell reports SIGINT
PASSWORD_AUTH = ("ntlm", "basic", "credssp")  # negotiate/kerberos may use the jump box's ticket instead


@dataclass(slots=True)
class ScanOutcome:
    results: RunResults
    out_dir: Path
    paths: dict[str, Path]
    exit_status: int
    runner: Runner[Any, Any] | WorkerPool | None = None
    warnings: list[str] = field(default_factory=list)
    workers: int = 1  # processes the hosts ran in (1: this one)
    worker_stats: list[dict[str, Any]] = field(default_factory=list)  # per worker: hosts, slots, peak RSS


def default_output_dir(base: Path | None = None) -> Path:
    """A fresh UTC-timestamped folder under ./cmaudit-runs/ (suffixed if two runs start in one second)."""
    root = base or Path.cwd() / DEFAULT_RUNS_DIR
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = root / stamp
    n = 2
    while candidate.exists():
        candidate = root / f"{stamp}-{n}"
        n += 1
    return candidate


def _day(iso_time: str) -> date:
    """The UTC date of a run's start: the day waivers are judged on."""
    return (parse_utc(iso_time) or datetime.now(UTC)).date()


def _basic_can_send(user: str | None, password: str | None) -> bool:
    """HTTP Basic (requests) encodes `user:password` as Latin-1: anything else fails mid-handshake."""
    try:
        f"{user or ''}:{password or ''}".encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def run_scan(
    settings: ScanSettings,
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    on_runner: Callable[[Any], None] | None = None,
    on_host_done: Callable[[HostRun[Any, Any]], None] | None = None,
    install_signal_handlers: bool = True,
    mail: MailSettings | None = None,
) -> ScanOutcome:
    """Scan every host of the inventory; always writes results.json covering every host."""
    out = out or sys.stdout
    err = err or sys.stderr
    started = utc_now()
    run_id = uuid.uuid4().hex
    # Read before anything else, so a bad file stops the run before any host is contacted.
    waivers = as_of(load_waivers(settings.waivers), _day(started)) if settings.waivers is not None else ()
    inventory = load_inventory(settings.inventory, default_port=settings.port, default_scheme=settings.scheme,
                               default_auth=settings.auth, default_tls=settings.tls)
    advisory = load_advisory()
    chosen = selection(settings.host_patterns, settings.tags, settings.sites)
    hosts = select_hosts(inventory.hosts, chosen)
    if chosen and not hosts:
        raise UsageError(f"{settings.inventory}: no host matches {' '.join(chosen.describe())}")
    earlier: RunResults | None = None
    if settings.rescan_failed is not None:
        earlier = load_earlier_run(settings.rescan_failed, advisory.id)
        if settings.waivers is None:  # as INVENTORY: the earlier run's waivers, judged for expiry today
            waivers = as_of(earlier.meta.waivers, _day(started))
        hosts = hosts_to_rescan(earlier, hosts)
        if not hosts:
            err.write(f"cmaudit: {settings.rescan_failed}: no ERROR or UNKNOWN host of that run is in "
                      f"{settings.inventory}{' and chosen' if chosen else ''}: nothing to scan again\n")
            return ScanOutcome(earlier, settings.rescan_failed.parent, {}, exit_status(earlier))
    out_dir = settings.output or default_output_dir()
    checked = preflight.Plan(settings=settings, hosts=hosts, out_dir=out_dir, run_id=run_id)
    preflight.run_checks(checked)  # before any prompt and any host: a run that cannot keep its results never starts
    warnings = list(inventory.warnings)
    for warning in warnings if not settings.quiet else ():  # --quiet: stderr only when something failed
        err.write(f"cmaudit: warning: {warning}\n")
    for waiver in unmatched(waivers, (h.name for h in inventory.hosts)):  # a problem with the user's file: shown
        unmatched_waiver = (f"{waiver.source}: the waiver for {waiver.host!r} matches no host of "
                            f"{settings.inventory} (a typo, or a retired host: fix or remove it)")
        warnings.append(unmatched_waiver)
        err.write(f"cmaudit: warning: {unmatched_waiver}\n")
    if settings.insecure:
        err.write("cmaudit: WARNING: --insecure: TLS certificates are NOT validated and Basic over HTTP is "
                  "allowed; this run is recorded as insecure\n")

    # Passwords are looked up once, before any thread starts, so a prompt never races the progress bar.
    resolver = PasswordResolver(default_env=settings.password_env, interactive=settings.interactive,
                                environ=environ)
    passwords: dict[tuple[str, int], str | None] = {}
    refused: dict[tuple[str, int], HostError] = {}
    for host in hosts:
        try:
            validate_transport(host, insecure=settings.insecure)
        except UsageError as exc:
            refused[host.key] = HostError(host.name, str(exc),
                                          hint="Use https for this host (inventory `transport`), or another auth "
                                               "method; --insecure allows it but sends the password readable.")
            continue
        problem = kerberos_problem(host)
        if problem is not None:
            message, hint = problem
            refused[host.key] = HostAuthFailed(host.name, message, hint=hint, password_rejected=False)
            continue
        user = host.username or settings.username
        secret = resolver.secret(host, username=user)
        passwords[host.key] = secret.reveal() if secret else None
        if host.auth == "basic" and not _basic_can_send(user, passwords[host.key]):
            where = f"{host.name} ({host.source})" if host.source else host.name
            raise UsageError(f"{where}: Basic authentication can only send a user name and password in Latin-1, "
                             "and this account's hold other characters; use ntlm or negotiate for it")
        if secret is None and host.auth in PASSWORD_AUTH:
            # No logon attempt without a password: say where it should come from instead.
            where = f"${host.password_env} or " if host.password_env else ""
            refused[host.key] = HostAuthFailed(
                host.name, f"no password for {user or 'the WinRM account'}", password_rejected=False,
                hint=f"set {where}${settings.password_env}, store it in the keyring, or run on a terminal to be "
                     "prompted")
    if hosts and len(refused) == len(hosts):
        first = next(iter(refused.values()))
        hint = f" ({first.hint})" if first.hint else ""
        raise UsageError(f"no host can be scanned: {first.message}{hint}")
    ntlm = _ntlm_credentials(hosts, refused, passwords, settings.username)
    hash_forms = {form for hashes in ntlm.values() for form in hashes[1].secret_forms()}
    secrets = tuple(sorted({p for p in passwords.values() if p} | hash_forms, key=len, reverse=True))
    REDACTOR.remember(secrets)  # the --debug trace scrubs them, whatever a library puts in a message
    # Kerberos is settled before any host is contacted: a missing ticket or a wrong password is exit 64 here.
    kerberos = prepare_kerberos([h for h in hosts if h.key not in refused], default_user=settings.username,
                                passwords=passwords)
    for warning in kerberos.warnings:
        err.write(f"cmaudit: warning: {warning}\n")
    credentials: dict[tuple[str, int], object] = {}
    for host in hosts:
        credential = kerberos.credential_for(host)
        if credential is None and host.key in ntlm:
            credential = ntlm[host.key][0]
        if credential is not None:
            credentials[host.key] = credential
    plan = _Plan(inventory, advisory, out_dir, started, [*warnings, *kerberos.warnings], passwords, refused, secrets,
                 credentials, checked, hosts, chosen.describe(), earlier, waivers)
    try:
        return _scan(settings, plan, out, err, on_runner, on_host_done, install_signal_handlers, mail)
    finally:
        kerberos.close()  # the private ticket caches live exactly as long as the run
        REDACTOR.forget()


def _ntlm_credentials(hosts: Sequence[Host], refused: Mapping[tuple[str, int], HostError],
                      passwords: Mapping[tuple[str, int], str | None],
                      default_user: str | None) -> dict[tuple[str, int], tuple[object, NtlmHashes]]:
    """NTLM hosts with a user and a password log on with the password's hashes, computed once per password
    (pyspnego would run its DES and MD4 for every host). Only `ntlm`: negotiate may try Kerberos, which needs
    the password itself."""
    hashed: dict[str, NtlmHashes] = {}
    out: dict[tuple[str, int], tuple[object, NtlmHashes]] = {}
    for host in hosts:
        password, user = passwords.get(host.key), host.username or default_user
        if host.auth != "ntlm" or host.key in refused or not password or not user:
            continue
        hashes = hashed.get(password)
        if hashes is None:
            hashes = hashed[password] = NtlmHashes.of(password)
        out[host.key] = (hashes.credential(user), hashes)
    return out


@dataclass(frozen=True, slots=True)
class _Plan:
    """What run_scan settled before contacting any host."""

    inventory: Inventory
    advisory: Advisory
    out_dir: Path
    started: str
    warnings: list[str]
    passwords: dict[tuple[str, int], str | None] = field(repr=False)
    refused: dict[tuple[str, int], HostError]
    secrets: tuple[str, ...] = field(repr=False)
    credentials: dict[tuple[str, int], object] = field(repr=False)  # pyspnego credentials per host key
    checked: preflight.Plan  # what the pre-flight checks passed: the run folder to create, the run's id
    hosts: tuple[Host, ...] = ()  # the inventory's hosts this run scans (--hosts/--tag/--site, --rescan-failed)
    selection: tuple[str, ...] = ()  # how they were chosen, as the options were typed
    earlier: RunResults | None = None  # --rescan-failed: the run whose other hosts the new run keeps
    waivers: tuple[Waiver, ...] = ()  # judged for expiry on the run's date


def _scan(settings: ScanSettings, plan: _Plan, out: TextIO, err: TextIO,
          on_runner: Callable[[Any], None] | None,
          on_host_done: Callable[[HostRun[Any, Any]], None] | None, install_signal_handlers: bool,
          mail: MailSettings | None) -> ScanOutcome:
    """The run itself, once every host's credentials are settled."""
    inventory, advisory, out_dir, started = plan.inventory, plan.advisory, plan.out_dir, plan.started
    passwords, refused, secrets, warnings = plan.passwords, plan.refused, plan.secrets, plan.warnings
    hosts, earlier, waivers = plan.hosts, plan.earlier, plan.waivers
    preflight.create_run_folder(plan.checked)
    # One name on two ports or addresses gets two keys (evidence folders, history) whatever the row order.
    host_keys = dict(zip((h.key for h in hosts), run_keys([(h.name, h.address, h.port) for h in hosts]), strict=True))

    jobs = RunJobs(
        session=SessionOptions(username=settings.username, ca_file=settings.ca_file, insecure=settings.insecure,
                               connect_timeout=settings.connect_timeout,
                               read_timeout=float(settings.operation_timeout + 10),
                               operation_timeout=settings.operation_timeout, spn_service=settings.spn_service,
                               transport=settings.transport),
        collect=CollectOptions(max_log_bytes=settings.max_log_bytes),
        run_dir=out_dir,
        advisory=advisory,
        passwords=passwords,
        credentials=plan.credentials,
        refused=refused,
        secrets=secrets,
        host_keys=host_keys,
    )

    progress = Progress(len(hosts), err, quiet=settings.quiet)
    audit = AuditLog(settings.log_file, secrets) if settings.log_file else None
    if audit is not None:
        audit.event("run-start", inventory=settings.inventory, inventory_sha256=inventory.sha256,
                    hosts=len(hosts), output=out_dir, user=settings.username, insecure=settings.insecure)

    def done(run: HostRun[Host, HostOutcome]) -> None:
        result = host_result(run)
        if audit is not None:
            audit.host_done(result, run.host.auth)
        detail = result.error.category.value if result.error else ""
        host = run.host  # named as the inventory spells it, as the reports do; with its address where shared
        shared = host_keys.get(host.key, host.stable_name) != host.stable_name
        progress.host_done(f"{host.name} ({host.address}:{host.port})" if shared else host.name, result.verdict, detail)
        if on_host_done is not None:
            on_host_done(run)

    options = RunnerOptions(concurrency=settings.concurrency, timeout=settings.timeout, retries=settings.retries,
                            max_auth_failures=settings.max_auth_failures, grace=settings.grace,
                            backoff_base=settings.backoff_base)
    account_key = AccountKey(settings.username)
    workers = settings.workers or default_workers(usable_cores(), settings.concurrency, len(hosts))
    workers = max(1, min(workers, settings.concurrency, len(hosts) or 1))
    runner: Runner[Host, HostOutcome] | WorkerPool
    if workers > 1:
        runner = WorkerPool(jobs, workers, options, account_key=account_key, on_done=done)
    else:
        runner = Runner(jobs.factory(), options, on_done=done, credential_key=account_key)
    if on_runner is not None:
        on_runner(runner)
    try:
        runs = asyncio.run(_run_with_signals(runner, list(hosts), progress, install_signal_handlers))
    finally:
        progress.close()
        if audit is not None:
            audit.event("run-end", interrupted=runner.interrupted)
            audit.close()
    if isinstance(runner, WorkerPool) and runner.fallback:
        err.write(f"cmaudit: warning: {runner.fallback}\n")
    if runner.breaker_tripped:
        err.write(f"cmaudit: stopped logging on after {settings.max_auth_failures} authentication failures in a "
                  "row; remaining hosts were skipped (ERROR/auth-skipped)\n")
    recorded = {k: v for k, v in asdict(settings).items() if k not in ("inventory", "output")}
    recorded["workers"] = workers
    meta = run_meta(
        started=started, finished=utc_now(), advisory=advisory, inventory_path=str(settings.inventory),
        inventory_sha256=inventory.sha256 or _sha256_file(settings.inventory), options=recorded,
        insecure=settings.insecure, interrupted=runner.interrupted, run_id=plan.checked.run_id,
    )
    audit_name = settings.audit or (earlier.meta.audit if earlier is not None else None) \
        or audit_name_for(str(settings.inventory))
    waiver_file = str(settings.waivers) if settings.waivers is not None else \
        earlier.meta.waiver_file if earlier is not None else None  # --rescan-failed: the earlier run's
    meta = replace(meta, waiver_file=waiver_file,
                   waivers=waivers, selection=plan.selection, partial=len(hosts) < len(inventory.hosts),
                   audit=audit_name)
    results = assemble(meta, runs, waivers)
    if earlier is not None and settings.rescan_failed is not None:
        results = merge_rescan(earlier, results, settings.rescan_failed, waivers)
    with _sigterm_interrupts(install_signal_handlers):
        paths, notes, since_last_run, stopped = _write_with_follow_up(results, out_dir, settings, mail)
    print_summary(results, out, results_path=paths.get("json"))
    if since_last_run:
        out.write("\n" + since_last_run)
    for name, path in paths.items():
        out.write(f"{name:>5}: {path}\n")
    for note, problem in notes:
        if problem or not settings.quiet:
            err.write(f"cmaudit: {note}\n")
    status = EXIT_INTERRUPTED if stopped else exit_status(results)
    if runner.interrupted or stopped:
        err.write(f"cmaudit: interrupted; results for every host written to {paths.get('json', out_dir)}\n")
    stats = runner.worker_stats if isinstance(runner, WorkerPool) else []
    return ScanOutcome(results, out_dir, paths, status, runner, warnings, workers, stats)


def _write_with_follow_up(results: RunResults, out_dir: Path, settings: ScanSettings, mail: MailSettings | None
                          ) -> tuple[dict[str, Path], list[tuple[str, bool]], str, bool]:
    """results.json first, then history (changes, trend), the reports, and mail and retention last.

    results.json is written before anything that can block or fail (a locked history database, a
    report held open in Excel, a mail relay), so a run never loses its results to a follow-up step.
    A Ctrl-C (or SIGTERM) while waiting for the history, the relay or retention ends that step only:
    the reports are still written. Answers the paths, one-line notes for stderr (with whether each
    says something failed), the "Since last run" text for the console, and whether the user stopped a
    follow-up step (exit status 130).
    """
    notes: list[tuple[str, bool]] = []
    json_reporter = REPORTERS["json"]
    json_written = False

    def write_json() -> None:
        nonlocal json_written
        try:
            json_reporter.write(results, out_dir / json_reporter.filename)
            json_written = True
        except OSError as exc:
            notes.append((f"could not write {out_dir / json_reporter.filename}: {exc.strerror or exc}", True))

    follow: followup.FollowUp | None = None
    stopped = False
    # One guarded stretch from results.json to the end of the history step: a Ctrl-C landing anywhere in it
    # (also between two statements) stops the history, never the reports.
    try:
        write_json()
        if settings.history is not None or mail is not None:
            try:
                follow = followup.prepare(results, history_path=settings.history, output_dir=out_dir)
            except Exception as exc:  # noqa: BLE001 - a follow-up bug must not cost the run its reports
                notes.append((f"history skipped: {type(exc).__name__}: {exc}", True))
    except KeyboardInterrupt:
        stopped, follow = True, None
        notes.append(("interrupted while recording the history: this run is not in it (nothing mailed or "
                      "pruned); the results and reports are written", True))
        if not json_written:  # the Ctrl-C came while results.json was written: the results are still in memory
            write_json()
    try:
        if follow is not None and follow.run_id is not None:
            paths = write_weekly_reports(results, out_dir, follow.changes, follow.trend,
                                         trend_runs=follow.trend_runs)
        else:
            paths = write_reports(results, out_dir)
    except ReportWriteError as exc:
        paths = dict(exc.written)
        notes.append((str(exc), True))
    notes.extend((note, True) for note in _record_files(results, out_dir, paths))
    if follow is None:
        return paths, notes, "", stopped
    try:
        follow = followup.finish(follow, results, mail=mail, keep_runs=settings.keep_runs,
                                 report_path=paths.get("html"), output_dir=out_dir)
    except KeyboardInterrupt:
        stopped = True
        notes.append(("interrupted while mailing or pruning old runs; the run is recorded and its reports written",
                      True))
    except Exception as exc:  # noqa: BLE001 - as above: mail/retention never cost the results
        notes.append((f"mail/retention skipped: {type(exc).__name__}: {exc}", True))
    notes.extend((message, message in follow.problems) for message in follow.messages)
    return paths, notes, render_text(follow.changes) if follow.changes is not None else "", stopped


def _record_files(results: RunResults, out_dir: Path, paths: Mapping[str, Path]) -> list[str]:
    """List what this run wrote in its folder's marker: all that retention may ever delete for it."""
    files = [Path(p).relative_to(out_dir).as_posix() for p in paths.values() if Path(p).parent == out_dir]
    files += [lf.saved_as for h in results.hosts for lf in h.facts.logs if lf.saved_as]
    try:
        run_folder.record_files(out_dir, results.meta.run_id, files)
    except (OSError, run_folder.MarkerError) as exc:
        return [f"could not list this run's files in {out_dir / run_folder.MARKER}: {exc}; retention will keep them"]
    return []


@contextlib.contextmanager
def _sigterm_interrupts(install: bool) -> Iterator[None]:
    """While the follow-up steps run, SIGTERM stops them as Ctrl-C does (by default it would kill the process
    without the reports); the scan's own handlers are gone by then."""
    if not install or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


async def _run_with_signals(runner: Runner[Host, HostOutcome] | WorkerPool, hosts: list[Host], progress: Progress,
                            install: bool) -> list[HostRun[Host, HostOutcome]]:
    """SIGINT/SIGTERM ask the runner to stop (a second one stops at once); works on POSIX and Windows."""
    loop = asyncio.get_running_loop()
    restore: list[Callable[[], object]] = []

    def stop() -> None:
        progress.message("cmaudit: stopping: no new hosts; running ones get a few seconds (again to abort now)")
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
