"""`cmaudit demo`: scan a simulated mixed fleet end to end, with nothing to set up.

Starts >= 20 simulated site servers on 127.0.0.1 (real NTLM with message encryption), puts a fresh
random password in CMAUDIT_PASSWORD for this process only (never printed, never written), runs the same
code as `cmaudit scan`, and leaves results.json, report.csv, report.html and the evidence under
./demo-run/<UTC time>/. Exit status 0 when the scan ran, whatever the simulated hosts' verdicts (the
fleet contains affected hosts on purpose); `cmaudit scan` is the one whose exit status reports findings.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from tabulate import tabulate

from scanner.errors import UsageError

HELP = "try cmaudit without a network: scan a simulated mixed fleet and write the reports"
ORDER = 90
DEFAULT_HOSTS = 24
MAX_HOSTS = 500


def _hosts(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_HOSTS:
        raise argparse.ArgumentTypeError(f"--hosts {text!r} is not a number from 1 to {MAX_HOSTS}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hosts", type=_hosts, default=DEFAULT_HOSTS, metavar="N",
                        help=f"number of simulated hosts (default: {DEFAULT_HOSTS})")
    parser.add_argument("--faults", metavar="SPEC", default=None,
                        help="misbehaving hosts, e.g. '3=hang,5=refuse,7=http503x2' (see `cmaudit simulate`)")
    parser.add_argument("-o", "--output", metavar="DIR", type=Path,
                        help="the run's folder (default: a new UTC-timestamped folder under ./demo-run/)")
    parser.add_argument("--timeout", type=float, default=15.0, help="per-host deadline in seconds (default: 15)")
    parser.add_argument("--quiet", action="store_true", help="no progress output on stderr")


def run(args: argparse.Namespace) -> int:
    from scanner.fleet_scan import ScanSettings, default_output_dir, run_scan
    from simulator import Fleet

    password = secrets.token_urlsafe(24)
    try:
        fleet = Fleet(hosts=args.hosts, scenario="mixed", password=password, faults=args.faults)
    except (ValueError, ImportError) as exc:
        raise UsageError(f"cannot build the demo fleet: {exc}") from None
    output = args.output or default_output_dir(Path.cwd() / "demo-run")
    saved = os.environ.get("CMAUDIT_PASSWORD")
    os.environ["CMAUDIT_PASSWORD"] = password  # this process only: the path `cmaudit scan` takes
    try:
        with fleet:
            inventory = fleet.write_inventory(_inventory_path(output))
            rows = [(h.index, h.name, r["host"], r["port"], r["transport"], r["auth"], h.profile)
                    for h, r in zip(fleet.hosts, fleet.inventory_rows(), strict=True)]
            print(f"cmaudit demo: {len(fleet)} simulated site servers, account {fleet.username} "
                  "(random password, not shown)")
            if not args.quiet:
                print(tabulate(rows, headers=("#", "name", "host", "port", "transport", "auth", "profile"),
                               tablefmt="simple", disable_numparse=True))
            print()
            sys.stdout.flush()
            run_scan(ScanSettings(inventory=inventory, output=output, username=fleet.username,
                                  timeout=args.timeout, quiet=args.quiet, concurrency=32))
    finally:
        if saved is None:
            os.environ.pop("CMAUDIT_PASSWORD", None)
        else:
            os.environ["CMAUDIT_PASSWORD"] = saved
    print("cmaudit demo: fleet stopped")
    return 0


def _inventory_path(output: Path) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    return output / "demo-inventory.csv"
