"""`cmaudit simulate`: run a fleet of simulated ConfigMgr site servers on 127.0.0.1 until interrupted.

The password comes only from CMAUDIT_PASSWORD (the variable the scanner reads too), so neither the
simulator nor a scan of it needs a secret on a command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from tabulate import tabulate

from scanner.cli.argtypes import port, whole_number
from scanner.model.errors import UsageError
from simulator.faults import NO_FAULTS, FaultSpecError
from simulator.faults import __doc__ as FAULTS_DOC

if TYPE_CHECKING:
    from simulator.fleet import Fleet

HELP = "run simulated ConfigMgr site servers (WinRM on 127.0.0.1) for a demo or a test scan"
ORDER = 80
PASSWORD_ENV = "CMAUDIT_PASSWORD"
MAX_HOSTS = 5000
SHOWN_HOSTS = 20  # hosts listed when the fleet is ready; the inventory file has them all


def _latency(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--latency-ms {text!r} is not a number") from None
    if not 0 <= value <= 600_000:
        raise argparse.ArgumentTypeError("--latency-ms must be between 0 and 600000")
    return value


def faults_help() -> str:
    """The SPEC grammar from simulator.faults, for --help."""
    text = (FAULTS_DOC or "").split("\n\n", 1)[-1]
    return "faults SPEC:\n" + text.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = faults_help() + "\n\n" + (parser.epilog or "")
    parser.add_argument("--hosts", type=whole_number(1, MAX_HOSTS), required=True, metavar="N", help="number of hosts")
    parser.add_argument("--scenario", default="mixed", metavar="mixed|PROFILE",
                        help="'mixed' (a fleet with every kind of site server) or one profile name for all hosts")
    parser.add_argument("--tls", action="store_true",
                        help="HTTPS listeners with a certificate from a throwaway CA (its file is printed)")
    parser.add_argument("--latency-ms", type=_latency, default=0.0, metavar="X",
                        help="add X milliseconds to every answer of every host")
    parser.add_argument("--faults", default="", metavar="SPEC",
                        help="per-host faults, e.g. 2=refuse,5=hang,7=http503x2 (host indices from 0; see below)")
    parser.add_argument("--username", default=None, metavar="U",
                        help="the account the hosts accept (default: LAB\\auditor, with --auth basic the local "
                             f"account auditor); password from ${PASSWORD_ENV}")
    parser.add_argument("--auth", choices=("ntlm", "negotiate", "basic"), default="ntlm",
                        help="auth method written to the inventory (default: ntlm, also with --tls: WinRM's Basic "
                             "takes local accounts only, so it needs a local --username)")
    parser.add_argument("--base-port", type=port, default=None, metavar="P",
                        help="host i listens on port P+i (default: ports chosen by the OS)")
    parser.add_argument("--inventory-out", type=Path, required=True, metavar="FILE",
                        help="write the CSV inventory (host,port,transport,auth,address) here: the simulated "
                             "servers' names, each with address 127.0.0.1")


def start_fleet(args: argparse.Namespace, password: str) -> Fleet:
    """Build and start the fleet the options describe; bad options become UsageError (exit 64)."""
    from simulator.fleet import Fleet  # the whole simulator: ~140 ms, for this command only

    try:
        fleet = Fleet(hosts=args.hosts, scenario=args.scenario, tls=args.tls, latency_ms=args.latency_ms,
                      faults=args.faults, username=args.username, password=password, auth=args.auth,
                      base_port=args.base_port)
    except FaultSpecError as exc:
        raise UsageError(f"--faults: {exc}") from None
    except (ValueError, ImportError) as exc:
        raise UsageError(str(exc)) from None
    try:
        fleet.start()
    except OSError as exc:
        raise UsageError(f"cannot start the simulated hosts: {exc.strerror or exc}") from None
    return fleet


def _fault_names(faults: object) -> str:
    """The --faults a simulated host was given, by name."""
    return ",".join(f.name for f in dataclasses.fields(NO_FAULTS)
                    if getattr(faults, f.name) != getattr(NO_FAULTS, f.name))


def ready_text(fleet: Fleet, inventory: Path, *, rows: int = SHOWN_HOSTS) -> str:
    """What the admin needs once the fleet runs: its hosts (the first `rows`), and the scan to run next."""
    table = [(h.name, h.port, h.profile, h.era.name, _fault_names(h.faults)) for h in fleet.hosts[:rows]]
    more = f"\n... and {len(fleet) - rows} more (all in {inventory})" if len(fleet) > rows else ""
    ca = f" --ca-file {fleet.ca_file}" if fleet.ca_file else ""
    user = fleet.username.replace("'", "'\\''")
    return "\n".join([
        f"cmaudit simulate: {len(fleet)} hosts on 127.0.0.1 ({'https' if fleet.tls else 'http'}), account "
        f"{fleet.username}, inventory {inventory}",
        *([f"cmaudit simulate: CA certificate {fleet.ca_file}"] if fleet.ca_file else []),
        tabulate(table, headers=("host", "port", "profile", "era", "faults"), tablefmt="simple",
                 disable_numparse=True) + more,
        "",
        "Scan them from another terminal (with the same CMAUDIT_PASSWORD):",
        f"  cmaudit scan {inventory} --username '{user}'{ca}",
        "cmaudit simulate: ready; Ctrl-C or SIGTERM stops",
    ])


def run(args: argparse.Namespace) -> int:
    password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        raise UsageError(f"set {PASSWORD_ENV} to the password the simulated hosts should accept "
                         "(it is never taken from the command line)")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with start_fleet(args, password) as fleet:
            try:
                fleet.write_inventory(args.inventory_out)
            except OSError as exc:
                raise UsageError(f"{args.inventory_out}: cannot write the inventory: {exc.strerror or exc}") from None
            print(ready_text(fleet, args.inventory_out), flush=True)
            while not stop.wait(1.0):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("cmaudit simulate: stopped", file=sys.stderr)
    return 0
