"""`cmaudit demo`: scan a simulated mixed fleet end to end, with nothing to set up.

Starts >= 20 simulated site servers on 127.0.0.1 (real NTLM with message encryption), puts a fresh
random password in CMAUDIT_PASSWORD for this process only (never printed, never written), runs the same
code as `cmaudit scan` twice (a host fixed, one newly failing, one offline in between, so the report
shows "Since last run"; `--once` for a single scan), and leaves results.json, report.csv, report.html
and the evidence of the second scan under ./demo-run/<UTC time>/ (-o), the first scan's in its
baseline/ folder and their history in history.sqlite3 there. Exit status 0 when the scans ran,
whatever the simulated hosts' verdicts (the fleet contains affected hosts on purpose); `cmaudit scan`
is the one whose exit status reports findings.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from scanner.cli.argtypes import folder, seconds, whole_number
from scanner.cli.debug import add_debug_option
from scanner.model.errors import UsageError

if TYPE_CHECKING:
    from simulator import Fleet

HELP = "try cmaudit without a network: scan a simulated mixed fleet and write the reports"
ORDER = 90
DEFAULT_HOSTS = 24
MAX_HOSTS = 500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hosts", type=whole_number(1, MAX_HOSTS), default=DEFAULT_HOSTS, metavar="N",
                        help=f"number of simulated hosts (default: {DEFAULT_HOSTS})")
    parser.add_argument("--faults", metavar="SPEC", default=None,
                        help="misbehaving hosts, e.g. '3=hang,5=refuse,7=http503x2' (see `cmaudit simulate`)")
    parser.add_argument("-o", "--output", metavar="DIR", type=folder,
                        help="the run's folder (default: a new UTC-timestamped folder under ./demo-run/)")
    parser.add_argument("--timeout", type=seconds, default=15.0, help="per-host deadline in seconds (default: 15)")
    parser.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    add_debug_option(parser)
    parser.add_argument("--once", action="store_true",
                        help="scan once (default: twice, with a fixed, a newly failing and an offline host in "
                             "between, so the report shows \"Since last run\")")


def run(args: argparse.Namespace) -> int:
    from scanner.scan.fleet import ScanSettings, default_output_dir, run_scan
    from simulator import Fleet

    password = secrets.token_urlsafe(24)
    try:
        fleet = Fleet(hosts=args.hosts, scenario="mixed", password=password, faults=args.faults)
    except (ValueError, ImportError) as exc:
        raise UsageError(f"cannot build the demo fleet: {exc}") from None
    root = args.output or default_output_dir(Path.cwd() / "demo-run")
    saved = os.environ.get("CMAUDIT_PASSWORD")
    os.environ["CMAUDIT_PASSWORD"] = password  # this process only: the path `cmaudit scan` takes
    try:
        with fleet:
            inventory = fleet.write_inventory(_inventory_path(root))
            rows = [(h.index, h.name, r["host"], r["port"], r["transport"], r["auth"], h.profile)
                    for h, r in zip(fleet.hosts, fleet.inventory_rows(), strict=True)]
            print(f"cmaudit demo: {len(fleet)} simulated site servers, account {fleet.username} "
                  "(random password, not shown)")
            if not args.quiet:
                print(tabulate(rows, headers=("#", "name", "host", "port", "transport", "auth", "profile"),
                               tablefmt="simple", disable_numparse=True))
            print()
            # A history of its own inside the demo folder: the demo never mixes with real audits.
            settings = ScanSettings(inventory=inventory, output=root, username=fleet.username,
                                    timeout=args.timeout, quiet=args.quiet, concurrency=32,
                                    history=root / "history.sqlite3")
            if not args.once:
                print("cmaudit demo: first scan (the baseline, in baseline/)")
                sys.stdout.flush()
                run_scan(replace(settings, output=root / "baseline"))
                print()
                print(f"cmaudit demo: a week later: {_change_fleet(fleet)}")
                print("cmaudit demo: second scan")
            sys.stdout.flush()
            run_scan(settings)
    finally:
        if saved is None:
            os.environ.pop("CMAUDIT_PASSWORD", None)
        else:
            os.environ["CMAUDIT_PASSWORD"] = saved
    print("cmaudit demo: fleet stopped")
    return 0


def _change_fleet(fleet: Fleet) -> str:
    """Between the two scans: fix an affected host, break a healthy one, take another off the network."""
    from simulator.profiles import expected_verdict

    affected = [h.index for h in fleet.hosts if str(expected_verdict(h.profile)) == "AFFECTED"]
    healthy = [h.index for h in fleet.hosts if str(expected_verdict(h.profile)) == "NOT_AFFECTED"]
    done: list[str] = []
    if affected:
        fleet.set_profile(affected[0], "sp1-recovered")
        done.append(f"host #{affected[0]} fixed")
    if healthy:
        fleet.set_profile(healthy[0], "sp1-affected")
        done.append(f"host #{healthy[0]} started failing")
    if len(healthy) > 1:
        fleet.stop_host(healthy[1])
        done.append(f"host #{healthy[1]} went offline")
    return ", ".join(done) or "nothing to change in so small a fleet"


def _inventory_path(output: Path) -> Path:
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{output}: cannot create the output folder: {exc.strerror or exc}") from None
    return output / "demo-inventory.csv"
