"""`cmaudit scan` as a function: inventory in, results.json + reports + evidence out, exit status back.

Kept apart from the argparse layer so tests, `cmaudit demo` and benchmarks drive the very same code.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from scanner.model.errors import HostAuthFailed, HostError, UsageError
from scanner.model.records import RunResults, Waiver
from scanner.model.redaction import REDACTOR
from scanner.model.times import parse_utc
from scanner.scan.audit_log import AuditLog
from scanner.scan.host_job import HostOutcome
from scanner.scan.jobs import AccountKey, RunJobs
from scanner.scan.progress import Progress
from scanner.scan.results import assemble, host_result, load_earlier_run, merge_rescan, run_meta
from scanner.scan.runner import HostRun, Runner, RunnerOptions, utc_now
from scanner.scan.workers import WorkerPool, default_workers, usable_cores
from scanner.winrm.collect import DEFAULT_MAX_LOG_BYTES, CollectOptions
from scanner.winrm.kerberos import DEFAULT_SPN_SERVICE
from scanner.winrm.ntlm import NtlmHashes
from scanner.winrm.session import SessionOptions

if TYPE_CHECKING:
    from inventory import Inventory
    from scanner.advisory.loader import Advisory
    from scanner.model.host import Host
    from scanner.weekly.mail import MailSettings

DEFAULT_RUNS_DIR = "cmaudit-runs"
PASSWORD_AUTH = ("ntlm", "basic", "credssp")  # negotiate/kerberos may use the jump box's ticket instead


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """Every knob of `cmaudit scan`; recorded (minus secrets, which never live here) in results.json."""

    inventory: Path
    output: Path | None = None
    username: str | None = None
    auth: str = "ntlm"
    port: int | None = None
    scheme: str = "http"
    tls: str = "modern"  # default TLS for hosts whose inventory entry does not say (legacy: 2003/2008 listeners)
    ca_file: str | None = None
    insecure: bool = False
    concurrency: int = 32
    workers: int | None = 1  # worker processes; None: the cores, capped by the work (scanner.scan.workers)
    transport: str = "auto"  # "requests": pypsrp's own HTTP transport for every host (benchmarks, comparisons)
    timeout: float = 120.0
    retries: int = 2
    max_auth_failures: int = 5
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    connect_timeout: float = 10.0
    operation_timeout: int = 20
    quiet: bool = False
    password_env: str = "CMAUDIT_PASSWORD"
    interactive: bool = False  # may prompt for a password (only on a terminal)
    grace: float = 3.0
    backoff_base: float = 0.5
    log_file: Path | None = None  # append an audit trail of hosts contacted (no secrets)
    spn_service: str = DEFAULT_SPN_SERVICE  # Kerberos SPN service class: HTTP (WinRM's), WSMAN or host
    history: Path | None = None  # record the run here (and show changes since the last one); None: don't
    keep_runs: int | None = None  # retention after recording
    waivers: Path | None = None  # a waivers file (accepted findings until a date)
    host_patterns: tuple[str, ...] = ()  # --hosts: fnmatch on inventory name or address
    tags: tuple[str, ...] = ()  # --tag
    sites: tuple[str, ...] = ()  # --site
    rescan_failed: Path | None = None  # scan again the ERROR/UNKNOWN hosts of this results.json and merge
    audit: str | None = None  # the name runs are compared by in the history (default: from the inventory's name)


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
    from inventory import load_inventory
    from inventory.select import select_hosts, selection
    from reports.console import exit_status
    from reports.merge import host_key as merge_key
    from scanner.scan.advisory_file import load_advisory
    from scanner.scan.credentials import PasswordResolver
    from scanner.scan.kerberos_setup import prepare_kerberos
    from scanner.weekly.waivers import as_of, load_waivers
    from scanner.winrm.transport_policy import kerberos_problem, validate_transport

    out = out or sys.stdout
    err = err or sys.stderr
    started = utc_now()
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
        failed = {merge_key(h) for h in earlier.hosts if h.verdict.is_incomplete}
        hosts = tuple(h for h in hosts if (h.name.strip().casefold(), h.port) in failed)
        if not hosts:
            err.write(f"cmaudit: {settings.rescan_failed}: no ERROR or UNKNOWN host of that run is in "
                      f"{settings.inventory}{' and chosen' if chosen else ''}: nothing to scan again\n")
            return ScanOutcome(earlier, settings.rescan_failed.parent, {}, exit_status(earlier))
    out_dir = settings.output or default_output_dir()
    warnings = list(inventory.warnings)
    for warning in warnings if not settings.quiet else ():  # --quiet: stderr only when something failed
        err.write(f"cmaudit: warning: {warning}\n")
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
                 credentials, hosts, chosen.describe(), earlier, waivers)
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
    hosts: tuple[Host, ...] = ()  # the inventory's hosts this run scans (--hosts/--tag/--site, --rescan-failed)
    selection: tuple[str, ...] = ()  # how they were chosen, as the options were typed
    earlier: RunResults | None = None  # --rescan-failed: the run whose other hosts the new run keeps
    waivers: tuple[Waiver, ...] = ()  # judged for expiry on the run's date


def _scan(settings: ScanSettings, plan: _Plan, out: TextIO, err: TextIO,
          on_runner: Callable[[Any], None] | None,
          on_host_done: Callable[[HostRun[Any, Any]], None] | None, install_signal_handlers: bool,
          mail: MailSettings | None) -> ScanOutcome:
    """The run itself, once every host's credentials are settled."""
    from reports.console import exit_status, print_summary
    from scanner.weekly.history import audit_name_for

    inventory, advisory, out_dir, started = plan.inventory, plan.advisory, plan.out_dir, plan.started
    passwords, refused, secrets, warnings = plan.passwords, plan.refused, plan.secrets, plan.warnings
    hosts, earlier, waivers = plan.hosts, plan.earlier, plan.waivers
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out_dir}: cannot create the output folder: {exc.strerror or exc}") from None

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
        progress.host_done(run.host.stable_name, result.verdict, detail)
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
        insecure=settings.insecure, interrupted=runner.interrupted,
    )
    audit_name = settings.audit or (earlier.meta.audit if earlier is not None else None) \
        or audit_name_for(str(settings.inventory))
    meta = replace(meta, waiver_file=str(settings.waivers) if settings.waivers is not None else None,
                   waivers=waivers, selection=plan.selection, partial=len(hosts) < len(inventory.hosts),
                   audit=audit_name)
    results = assemble(meta, runs, waivers)
    if earlier is not None and settings.rescan_failed is not None:
        results = merge_rescan(earlier, results, settings.rescan_failed, waivers)
    paths, notes, since_last_run = _write_with_follow_up(results, out_dir, settings, mail)
    print_summary(results, out)
    if since_last_run:
        out.write("\n" + since_last_run)
    for name, path in paths.items():
        out.write(f"{name:>5}: {path}\n")
    for note, problem in notes:
        if problem or not settings.quiet:
            err.write(f"cmaudit: {note}\n")
    status = exit_status(results)
    if runner.interrupted:
        err.write(f"cmaudit: interrupted; results for every host written to {paths.get('json', out_dir)}\n")
    stats = runner.worker_stats if isinstance(runner, WorkerPool) else []
    return ScanOutcome(results, out_dir, paths, status, runner, warnings, workers, stats)


def _write_with_follow_up(results: RunResults, out_dir: Path, settings: ScanSettings,
                          mail: MailSettings | None) -> tuple[dict[str, Path], list[tuple[str, bool]], str]:
    """results.json first, then history (changes, trend), the reports, and mail and retention last.

    results.json is written before anything that can block or fail (a locked history database, a
    report held open in Excel, a mail relay), so a run never loses its results to a follow-up step.
    Answers the paths, one-line notes for stderr (with whether each says something failed), and the
    "Since last run" text for the console.
    """
    from reports import REPORTERS, ReportWriteError, write_reports
    from reports.changes_text import render_text
    from reports.weekly import write_weekly_reports
    from scanner.weekly import followup

    notes: list[tuple[str, bool]] = []
    json_reporter = REPORTERS["json"]
    try:
        json_reporter.write(results, out_dir / json_reporter.filename)
    except OSError as exc:
        notes.append((f"could not write {out_dir / json_reporter.filename}: {exc.strerror or exc}", True))
    follow: followup.FollowUp | None = None
    if settings.history is not None or mail is not None:
        try:
            follow = followup.prepare(results, history_path=settings.history, output_dir=out_dir)
        except Exception as exc:  # noqa: BLE001 - a follow-up bug must not cost the run its reports
            notes.append((f"history skipped: {type(exc).__name__}: {exc}", True))
    try:
        if follow is not None and follow.run_id is not None:
            paths = write_weekly_reports(results, out_dir, follow.changes, follow.trend,
                                         trend_runs=follow.trend_runs)
        else:
            paths = write_reports(results, out_dir)
    except ReportWriteError as exc:
        paths = dict(exc.written)
        notes.append((str(exc), True))
    if follow is None:
        return paths, notes, ""
    try:
        follow = followup.finish(follow, results, mail=mail, keep_runs=settings.keep_runs,
                                 report_path=paths.get("html"), output_dir=out_dir)
    except Exception as exc:  # noqa: BLE001 - as above: mail/retention never cost the results
        notes.append((f"mail/retention skipped: {type(exc).__name__}: {exc}", True))
    notes.extend((message, message in follow.problems) for message in follow.messages)
    return paths, notes, render_text(follow.changes) if follow.changes is not None else ""


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
