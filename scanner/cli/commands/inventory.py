"""`cmaudit inventory INVENTORY`: the admin's dry run, showing exactly which hosts a scan would visit.

Both commands read the file with inventory.load_inventory; `cmaudit scan` declares its own --port,
--scheme and --auth (same defaults) and has no --inventory-format.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabulate import tabulate

from inventory import FORMATS, Inventory, load_inventory
from inventory.select import select_hosts, selection
from scanner.cli.argtypes import port
from scanner.model.errors import UsageError
from scanner.model.host import AUTH_METHODS, SCHEMES, TLS_MODES
from scanner.winrm.transport_policy import transport_notes, validate_transport

HELP = "show the hosts an inventory file lists (a dry run of the scan's inventory)"
ORDER = 20

COLUMNS = ("host", "address", "port", "scheme", "auth", "tls", "site code", "tags", "user", "source")


def add_inventory_arguments(parser: argparse.ArgumentParser) -> None:
    """INVENTORY plus the defaults for hosts whose inventory entry does not say."""
    parser.add_argument("inventory", metavar="INVENTORY", type=Path,
                        help="host list: text (host[:port]), CSV with a header, or an Ansible INI/YAML inventory")
    parser.add_argument("--port", type=port, default=None, metavar="N",
                        help="default WinRM port (default: 5985 for http, 5986 for https; WinRM 1.1 uses 80/443)")
    parser.add_argument("--scheme", choices=SCHEMES, default="http",
                        help="default scheme (default: https when --port is 443/5986, else http with message "
                             "encryption required)")
    parser.add_argument("--auth", choices=AUTH_METHODS, default="ntlm", metavar="METHOD",
                        help=f"default auth method: {', '.join(AUTH_METHODS)} (default: ntlm)")
    parser.add_argument("--tls", choices=TLS_MODES, default="modern",
                        help="default TLS for hosts whose entry does not say: modern, or legacy (TLS 1.0 and "
                             "SHA-1 / RSA-1024 certificates, for Server 2003/2008 HTTPS listeners)")
    parser.add_argument("--inventory-format", choices=FORMATS, default=None,
                        help="read INVENTORY as this format instead of guessing from its name and content")


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """--hosts/--tag/--site: scan (or list) only some of the inventory's hosts."""
    group = parser.add_argument_group("choosing hosts (each repeatable; a host must match every kind given)")
    group.add_argument("--hosts", metavar="PATTERN", action="append", default=None,
                       help="only hosts whose inventory name or address matches PATTERN (fnmatch: CM0*, 10.1.*)")
    group.add_argument("--tag", metavar="TAG", action="append", default=None,
                       help="only hosts with this tag (CSV `tags`, Ansible group)")
    group.add_argument("--site", metavar="CODE", action="append", default=None,
                       help="only hosts of this site code (CSV `site_code`, cmaudit_site_code)")


def inventory_from_args(args: argparse.Namespace) -> Inventory:
    """Load the inventory the way the options say; raises InventoryError (exit 64) if it is unusable."""
    return load_inventory(args.inventory, default_port=args.port, default_scheme=args.scheme,
                          default_auth=args.auth, format=args.inventory_format, default_tls=args.tls)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser)
    add_selection_arguments(parser)


def run(args: argparse.Namespace) -> int:
    inventory = inventory_from_args(args)
    chosen = selection(args.hosts, args.tag, args.site)
    hosts = select_hosts(inventory.hosts, chosen)
    if chosen and not hosts:
        raise UsageError(f"{inventory.path}: no host matches {' '.join(chosen.describe())}")
    rows = [(h.name, h.address, h.port, h.scheme, h.auth, h.tls if h.scheme == "https" else "", h.site_code or "",
             " ".join(h.tags), h.username or "", h.source) for h in hosts]
    print(tabulate(rows, headers=COLUMNS, tablefmt="simple", disable_numparse=True))
    of = f" of {len(inventory.hosts)} ({' '.join(chosen.describe())})" if chosen else ""
    print(f"\n{len(hosts)} host(s){of} from {inventory.path} "
          f"({inventory.format}, sha256 {inventory.sha256[:16]}...)")
    for warning in (*inventory.warnings, *_transport_warnings(inventory)):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _transport_warnings(inventory: Inventory) -> list[str]:
    """What `cmaudit scan` would refuse or likely fail on, so the admin learns it before the run."""
    found: list[str] = []
    for host in inventory.hosts:
        try:
            validate_transport(host, insecure=False)
        except UsageError as exc:
            found.append(f"{exc} (cmaudit scan will refuse this host)")
        found.extend(transport_notes(host))
    return found
