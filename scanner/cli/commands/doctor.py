"""`cmaudit doctor [INVENTORY] [--host NAME] [--json]`: why can't cmaudit audit this host?

Checks the jump box (packages for the chosen auth, password source, Kerberos ticket and expiry, keyring,
output folder, history database, mail relay), then each host in the order a scan meets them, stopping at
the first failure: DNS (and the Kerberos SPN), TCP (and which WinRM port answers instead), TLS, the HTTP
listener, the auth methods offered, logon, shell, the registry keys, the log file. Every check has a
detail and, when it fails, a hint. Read-only like the scan; concurrent and bounded by --timeout.

Exit status: 0 all good, 1 some host failed a check, 64 a problem of the jump box (or bad usage).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import TextIO

from tabulate import tabulate

from reports.terminal import clean
from scanner.cli.argtypes import option, spn_service
from scanner.cli.config_options import add_config_option, apply_config, history_target, mail_settings
from scanner.cli.debug import add_debug_option
from scanner.model.doctor_checks import Check, Diagnosis, HostDiagnosis
from scanner.model.errors import UsageError
from scanner.model.host import AUTH_METHODS, TLS_MODES, endpoint
from scanner.model.options import DEFAULT_SPN_SERVICE

HELP = "check the jump box and each host step by step (DNS, port, TLS, listener, auth, logon, shell, registry, log)"
ORDER = 15
EXIT_HOST_FAILED = 1
EXIT_LOCAL = 64
EXIT_STATUS = """Exit status:
  0   the jump box and every host checked are ready to scan
  1   a host failed a step (each failure has a hint)
  64  the jump box is not ready (or bad usage)
  70  cmaudit itself failed (a bug): one line names the file holding the traceback
  130 interrupted (Ctrl-C)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", metavar="INVENTORY", type=Path, nargs="?", default=None,
                        help="the inventory a scan would use (or `inventory` in --config); without one, only the "
                             "jump box and the --host names are checked")
    parser.add_argument("--host", metavar="NAME", action="append", dest="only", default=None,
                        help="check only this host (its inventory name or address; repeatable); without an "
                             "inventory, check NAME with the --auth/--scheme/--port given")
    parser.add_argument("--json", action="store_true",
                        help='print {"hosts": [{"host", "address", "port", "ok", "checks": [...]}], "local": [...]}')
    parser.add_argument("--username", metavar="DOMAIN\\user", help="WinRM account, as for `cmaudit scan`")
    parser.add_argument("--password-env", metavar="NAME", default="CMAUDIT_PASSWORD",
                        help="environment variable holding the password (default: CMAUDIT_PASSWORD)")
    parser.add_argument("--auth", choices=AUTH_METHODS, default="ntlm", help="default authentication (default: ntlm)")
    parser.add_argument("--spn-service", metavar="CLASS", type=spn_service, default=DEFAULT_SPN_SERVICE,
                        help="Kerberos SPN service class (default: HTTP)")
    parser.add_argument("--port", type=option("port"), help="default port (default: 5985 http, 5986 https)")
    parser.add_argument("--scheme", choices=("http", "https"), default="http", help="default scheme (default: http)")
    parser.add_argument("--tls", choices=TLS_MODES, default="modern",
                        help="default TLS for hosts whose inventory does not say: legacy allows TLS 1.0 and SHA-1 / "
                             "RSA-1024 certificates (Server 2003/2008 HTTPS listeners), as for `cmaudit scan`")
    parser.add_argument("--ca-file", metavar="FILE", help="CA bundle for the hosts' HTTPS certificates")
    parser.add_argument("--insecure", action="store_true",
                        help="as for `cmaudit scan`: certificate problems are reported but do not fail")
    parser.add_argument("--timeout", type=option("timeout"), default=60.0,
                        help="per-host budget in seconds for all of its checks (default: 60)")
    parser.add_argument("--connect-timeout", type=option("connect_timeout"), default=10.0, metavar="S",
                        help="TCP/TLS connect timeout in seconds (default: 10)")
    parser.add_argument("--concurrency", type=option("concurrency"), default=32, help="hosts checked at once")
    parser.add_argument("--max-auth-failures", type=option("max_auth_failures"), default=1, metavar="K",
                        help="after K rejected passwords of an account, do not try it on its other hosts "
                             "(default: 1, doctor runs before the scan and must not bring an account near a "
                             "lockout; 0 tries every host)")
    parser.add_argument("--runs-dir", "-o", "--output", metavar="DIR", type=Path, default=None, dest="output",
                        help="where scans write their runs, as --runs-dir (or -o) of `cmaudit scan`: checked for write "
                             "access (default: ./cmaudit-runs, or runs_dir in --config)")
    parser.add_argument("--history", metavar="PATH", type=Path, default=None,
                        help="the history database a scan would record in (opened read-only)")
    parser.add_argument("--no-history", action="store_true", help="scans do not record a history")
    add_debug_option(parser)
    add_config_option(parser)  # last: it wraps the defaults of the options above


def run(args: argparse.Namespace) -> int:
    # lazily: the scan layer (asyncio_pool, the diagnosis steps) would cost every `cmaudit` start ~15 ms
    from scanner.scan.credentials import stdin_is_terminal
    from scanner.scan.doctor_run import DoctorSettings, run_doctor

    config = apply_config(args)
    if args.ca_file and not Path(args.ca_file).is_file():
        raise UsageError(f"{args.ca_file}: --ca-file is not a readable file")
    output = args.output
    if output is None and config is not None:
        chosen = config.get("runs_dir") or config.get("output")
        output = Path(chosen) if chosen is not None else None
    settings = DoctorSettings(
        inventory=Path(args.inventory) if args.inventory is not None else None,
        only=tuple(args.only or ()),
        username=args.username, auth=args.auth, port=args.port, scheme=args.scheme, tls=args.tls,
        ca_file=str(args.ca_file) if args.ca_file else None, insecure=args.insecure, spn_service=args.spn_service,
        password_env=args.password_env, interactive=stdin_is_terminal() and not args.json,
        timeout=args.timeout, connect_timeout=args.connect_timeout, concurrency=args.concurrency,
        max_auth_failures=args.max_auth_failures,
        output=output, history=history_target(args), mail=mail_settings(args, config),
    )
    diagnosis = run_doctor(settings, prompt=getpass.getpass)
    if args.json:
        json.dump(diagnosis.to_dict(), sys.stdout, indent=2, ensure_ascii=True)
        sys.stdout.write("\n")
    else:
        print_diagnosis(diagnosis, sys.stdout)
    if not diagnosis.local_ok:
        return EXIT_LOCAL
    return 0 if diagnosis.hosts_ok else EXIT_HOST_FAILED


def _clean(text: str) -> str:
    return clean(text)  # the one console sanitiser (reports.terminal)


def _table(checks: tuple[Check, ...], indent: str = "") -> str:
    rows = [(c.name, "ok" if c.ok else "FAILED", _clean(c.detail), _clean(c.hint)) for c in checks]
    table = tabulate(rows, headers=("check", "", "detail", "hint"), tablefmt="simple", disable_numparse=True)
    return "\n".join(indent + line for line in table.splitlines())


def _where(host: HostDiagnosis) -> str:
    return f"{_clean(host.host)} ({_clean(endpoint(host.address, host.port))})"


def _why(check: Check) -> str:
    return f"{check.name}: {_clean(check.detail)}"


def print_diagnosis(diagnosis: Diagnosis, out: TextIO) -> None:
    """What a terminal shows: the jump box in one line (its checks only when one failed), one line per host
    (its checks only when it failed), then the hosts not ready with why, so the last lines say what to fix."""
    local = [c for c in diagnosis.local if not c.ok]
    if local:
        out.write(f"Jump box: PROBLEMS (exit 64)\n{_table(diagnosis.local, '  ')}\n")
    else:
        out.write(f"Jump box: ok ({', '.join(dict.fromkeys(c.name for c in diagnosis.local))})\n")
    width = max((len(_where(h)) for h in diagnosis.hosts), default=0)
    for host in diagnosis.hosts:
        failed = host.failed
        if failed is None:
            steps = dict.fromkeys(c.name for c in host.checks)  # a step tried twice (code page 437 after 65001): once
            out.write(f"{_where(host):<{width}}  ready ({', '.join(steps)})\n")
        else:
            out.write(f"{_where(host):<{width}}  FAILED at {_why(failed)}\n{_table(host.checks, '    ')}\n")
    bad = [h for h in diagnosis.hosts if not h.ok]
    out.write(f"\n{len(diagnosis.hosts) - len(bad)} of {len(diagnosis.hosts)} host(s) ready for a scan\n")
    if bad:
        out.write(f"Not ready ({len(bad)}):\n")
        for host in bad:
            failed = host.failed
            assert failed is not None
            hint = f"; {_clean(failed.hint)}" if failed.hint else ""
            out.write(f"  {_where(host)}: {_why(failed)}{hint}\n")
