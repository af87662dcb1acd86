"""`cmaudit scan INVENTORY`: audit every host of an inventory over WinRM (read-only WinRS commands)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from scanner.cli.argtypes import byte_size, env_name, folder, option, spn_service
from scanner.cli.commands.inventory import add_selection_arguments
from scanner.cli.config_options import (
    add_config_option,
    add_schedule_options,
    apply_config,
    history_target,
    left_unset,
    mail_settings,
    unset_by_config,
)
from scanner.cli.debug import add_debug_option
from scanner.config.cmaudit_toml import Config
from scanner.history.database import check_audit_name
from scanner.history.run_folder import holds_a_run
from scanner.model.errors import UsageError
from scanner.model.host import AUTH_METHODS, TLS_MODES
from scanner.model.notes import Note
from scanner.model.options import DEFAULT_MAX_AUTH_FAILURES, DEFAULT_MAX_LOG_BYTES, DEFAULT_SPN_SERVICE, size_text
from scanner.model.results_file import ResultsFileError, load_results, recorded_file, shown_path

HELP = "audit every site server of an inventory over WinRM and write results.json, CSV and HTML reports"
ORDER = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", metavar="INVENTORY", type=Path, nargs="?", default=None,
                        help="host list: text (host[:port]), CSV, or an Ansible INI/YAML inventory "
                             "(or `inventory` in --config)")
    parser.add_argument("-o", "--output", metavar="DIR", type=folder,
                        help="this run's own folder (default: a new UTC-timestamped folder under --runs-dir); an "
                             "earlier run's folder, or a folder holding other runs' folders, is refused unless --force")
    parser.add_argument("--runs-dir", metavar="DIR", type=folder, default=None,
                        help="the folder runs are kept in: this run gets a new UTC-timestamped folder below it "
                             "(default: ./cmaudit-runs; `runs_dir` in --config)")
    parser.add_argument("--force", action="store_true",
                        help="write into an -o folder that already holds an earlier run's results or other runs")
    parser.add_argument("--username", metavar="DOMAIN\\user",
                        help="WinRM account (per-host `username`/ansible_user wins); the password comes from "
                             "$CMAUDIT_PASSWORD, the keyring or a prompt, never from the command line")
    parser.add_argument("--password-env", metavar="NAME", default="CMAUDIT_PASSWORD", type=env_name,
                        help="environment variable holding the password (default: CMAUDIT_PASSWORD; an "
                             "inventory's per-host password_env wins)")
    parser.add_argument("--auth", choices=AUTH_METHODS, default="ntlm",
                        help="default authentication for hosts that do not set one (default: ntlm)")
    parser.add_argument("--spn-service", metavar="CLASS", type=spn_service, default=DEFAULT_SPN_SERVICE,
                        help="Kerberos SPN service class, <CLASS>/<host name> (default: HTTP, what WinRM "
                             "registers; some estates use WSMAN or host). The SPN always uses the inventory's "
                             "host name, also when `address` is an IP")
    parser.add_argument("--port", type=option("port"), help="default port (default: 5985 for http, 5986 for https)")
    parser.add_argument("--scheme", choices=("http", "https"), default="http",
                        help="default scheme (default: http, with WinRM message encryption required)")
    parser.add_argument("--tls", choices=TLS_MODES, default="modern",
                        help="default TLS for hosts whose inventory does not say (column `tls`): legacy allows "
                             "TLS 1.0 and SHA-1 / RSA-1024 certificates, as Server 2003/2008 HTTPS listeners need "
                             "(default: modern; certificates are still validated)")
    parser.add_argument("--ca-file", metavar="FILE", help="CA bundle to validate the hosts' HTTPS certificates")
    parser.add_argument("--insecure", action="store_true",
                        help="DANGEROUS: skip certificate validation and allow Basic over HTTP (recorded in "
                             "the results)")
    parser.add_argument("--concurrency", type=option("concurrency"), default=32,
                        help="hosts scanned at once (default: 32, like Invoke-Command -ThrottleLimit)")
    parser.add_argument("--workers", type=option("workers"), default=1, metavar="N",
                        help="worker processes the hosts are spread over (default: 1, this process; more only help "
                             "on 4+ cores when one cmaudit process keeps a core busy: see README)")
    parser.add_argument("--timeout", type=option("timeout"), default=120.0,
                        help="whole-host budget in seconds, retries included (default: 120)")
    parser.add_argument("--connect-timeout", type=option("connect_timeout"), default=10.0, metavar="S",
                        help="TCP/TLS connect timeout per request in seconds (default: 10)")
    parser.add_argument("--retries", type=option("retries"), default=2,
                        help="retries for transient errors: refused, reset, 5xx, timeouts (default: 2); "
                             "authentication failures are never retried")
    parser.add_argument("--max-auth-failures", type=option("max_auth_failures"), default=DEFAULT_MAX_AUTH_FAILURES,
                        metavar="K",
                        help="a wrong password reaches at most K hosts: then the account's other hosts are not "
                             f"tried, to keep it from a lockout (default: {DEFAULT_MAX_AUTH_FAILURES}, well under "
                             "the lockout threshold of 5 many domains use; 0 disables)")
    parser.add_argument("--max-log-bytes", type=byte_size("max_log_bytes"), default=DEFAULT_MAX_LOG_BYTES,
                        metavar="SIZE", help="per log file, keep at most its last SIZE bytes: a number, or with a unit "
                                             f"(32M, 32MiB, 512K; default: {size_text(DEFAULT_MAX_LOG_BYTES)})")
    parser.add_argument("--quiet", action="store_true",
                        help="for schedulers: no progress output, only the summary and errors")
    parser.add_argument("--log-file", metavar="FILE", type=Path, default=None,
                        help="append an audit trail (UTC time, host, address, attempts, verdict or error) of "
                             "every host contacted; never holds a secret")
    add_selection_arguments(parser)
    parser.add_argument("--rescan-failed", metavar="RESULTS.json", type=Path, default=None,
                        help="scan again only the hosts that were ERROR or UNKNOWN in that run, and write a new run "
                             "holding its other hosts too (the newest result per host wins, as `cmaudit report` "
                             "merges); INVENTORY and --waivers default to that run's")
    parser.add_argument("--audit", metavar="NAME", type=audit_name, default=None,
                        help="the name this audit's runs are compared by in the history (default: the inventory "
                             "file's name without extension and trailing date: servers-2026-11-29.csv -> servers)")
    parser.add_argument("--waivers", metavar="FILE", type=Path, default=None,
                        help="TOML file of accepted findings ([[waiver]] host, reason, owner, expires): a waived "
                             "host keeps its verdict but needs no action until the waiver expires")
    add_debug_option(parser)
    add_schedule_options(parser)
    add_config_option(parser)  # last: it wraps the defaults of the options above


def run(args: argparse.Namespace) -> int:
    # lazily: importing the scan layer (multiprocessing, asyncio_pool, isal) would slow every `cmaudit` start
    from scanner.cli.scan_console import run_scan
    from scanner.scan.credentials import stdin_is_terminal
    from scanner.scan.plan import default_output_dir
    from scanner.scan.settings import ScanSettings

    unset = left_unset(args, ACCOUNT_OPTIONS)
    config = apply_config(args)
    if args.inventory is None and args.rescan_failed is not None:
        args.inventory = _inventory_of(args.rescan_failed)
    reused = _reuse_account(args, args.rescan_failed, unset_by_config(unset, config)) \
        if args.rescan_failed is not None else None
    if args.inventory is None:
        raise UsageError("give an INVENTORY file (or `inventory` in the --config file)")
    if args.ca_file and not Path(args.ca_file).is_file():
        raise UsageError(f"{args.ca_file}: --ca-file is not a readable file")
    output = run_folder_from(args, config, default_output_dir)
    settings = ScanSettings(
        inventory=Path(args.inventory),
        output=output,
        username=args.username,
        auth=args.auth,
        spn_service=args.spn_service,
        port=args.port,
        scheme=args.scheme,
        tls=args.tls,
        ca_file=str(args.ca_file) if args.ca_file else None,
        insecure=args.insecure,
        password_env=args.password_env,
        connect_timeout=args.connect_timeout,
        concurrency=args.concurrency,
        workers=args.workers,
        timeout=args.timeout,
        retries=args.retries,
        max_auth_failures=args.max_auth_failures,
        max_log_bytes=args.max_log_bytes,
        quiet=args.quiet,
        log_file=args.log_file,
        interactive=stdin_is_terminal(),
        history=history_target(args),
        keep_runs=args.keep_runs,
        force=args.force,
        waivers=args.waivers,
        host_patterns=tuple(args.hosts or ()),
        tags=tuple(args.tag or ()),
        sites=tuple(args.site or ()),
        rescan_failed=args.rescan_failed,
        audit=args.audit,
    )
    told = (Note(reused),) if reused else ()  # said once the run can log on (else its error names the account)
    return run_scan(settings, mail=mail_settings(args, config), logon_notes=told).exit_status


ACCOUNT_OPTIONS = ("username", "auth", "password_env")


def _reuse_account(args: argparse.Namespace, results_path: Path, unset: set[str]) -> str | None:
    """--rescan-failed: the account options not given (here or in --config) are the earlier run's, checked as
    strictly as if typed (scanner.scan.results.recorded_account): its user name, auth method and password variable
    (a password is never recorded). What it reused, in a line for the console (None: nothing)."""
    from scanner.scan.results import recorded_account

    try:
        earlier = load_results(results_path)
    except ResultsFileError as exc:
        raise UsageError(f"--rescan-failed: {exc}") from None
    account = recorded_account(earlier, results_path)
    reused = [dest for dest in ACCOUNT_OPTIONS if dest in unset and earlier.meta.options.get(dest) is not None]
    for dest in reused:
        setattr(args, dest, getattr(account, dest))
    if not reused:
        return None
    return (f"--rescan-failed: the earlier run's account: {args.username or 'no user name'} ({args.auth}, password "
            f"from ${args.password_env})")


def run_folder_from(args: argparse.Namespace, config: Config | None,
                    new_folder: Callable[[Path], Path]) -> Path | None:
    """This run's folder: -o as given (never a folder of other runs without --force), else a new folder below
    --runs-dir (or `runs_dir`/`output` in the config); None for the default, a new folder below ./cmaudit-runs."""
    if args.output is not None:
        if not args.force:
            refuse_folder_of_runs(args.output)
        return Path(args.output)
    parent = args.runs_dir or (config.get("runs_dir") or config.get("output") if config is not None else None)
    return new_folder(Path(parent)) if parent is not None else None


def refuse_folder_of_runs(folder: Path, *, look_at: int = 10_000) -> None:
    """`-o runs` where runs/ keeps earlier runs' folders would put this run's files among them: refused, saying
    how to get a new folder below it instead."""
    try:
        with os.scandir(folder) as entries:
            runs = [e.name for _, e in zip(range(look_at), entries, strict=False)
                    if e.is_dir(follow_symlinks=False) and holds_a_run(Path(e.path))]
    except OSError:  # not there yet, or not a folder: the pre-flight checks say what is wrong with it
        return
    if runs:
        raise UsageError(f"{folder}: holds the folders of {len(runs)} other run(s) (e.g. {sorted(runs)[-1]}); -o is "
                         f"this run's own folder: use --runs-dir {folder} for a new folder below it, or -o "
                         f"{Path(folder) / 'NAME'} (--force writes into {folder} anyway)")


def _inventory_of(results_path: Path) -> Path:
    """The inventory an earlier run read, for `--rescan-failed` without INVENTORY."""
    try:
        recorded = load_results(results_path).meta.inventory_path
    except ResultsFileError as exc:
        raise UsageError(f"--rescan-failed: {exc}") from None
    found = recorded_file(recorded) if recorded else None
    if found is None:
        raise UsageError(f"--rescan-failed: {results_path} does not name an inventory file that exists here "
                         f"({shown_path(recorded) if recorded else 'none recorded'}); give INVENTORY")
    return found


def audit_name(text: str) -> str:
    """argparse converter for --audit NAME."""
    try:
        return check_audit_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None
