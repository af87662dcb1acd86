"""`cmaudit demo`: start a small simulated fleet with a fresh random password, show it, stop it.

Nothing to set up and no secret to type: the password is generated here, lives only in this process
(and the simulator's private 0600 account file) and is never printed.
"""

from __future__ import annotations

import argparse
import secrets

from tabulate import tabulate

from scanner.errors import UsageError
from simulator import Fleet

HELP = "try cmaudit without a network: start a few simulated site servers and show their inventory"
ORDER = 90


def _hosts(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 50:
        raise argparse.ArgumentTypeError(f"--hosts {text!r} is not a number from 1 to 50")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hosts", type=_hosts, default=6, metavar="N", help="number of hosts (default: 6)")


def run(args: argparse.Namespace) -> int:
    password = secrets.token_urlsafe(18)
    try:
        fleet = Fleet(hosts=args.hosts, scenario="mixed", password=password)
    except (ValueError, ImportError) as exc:
        raise UsageError(f"cannot build the demo fleet: {exc}") from None
    with fleet:
        rows = [(h.index, h.name, r["host"], r["port"], r["transport"], r["auth"], h.profile)
                for h, r in zip(fleet.hosts, fleet.inventory_rows(), strict=True)]
        print(f"cmaudit demo: {len(fleet)} simulated site servers, account {fleet.username} "
              "(random password, not shown)")
        print(tabulate(rows, headers=("#", "name", "host", "port", "transport", "auth", "profile"),
                       tablefmt="simple", disable_numparse=True))
    print("cmaudit demo: fleet stopped")
    return 0
