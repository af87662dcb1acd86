"""`cmaudit demo`: scan a simulated mixed fleet end to end, with nothing to set up.

Starts >= 20 simulated site servers on 127.0.0.1 of the eras a 2008 estate had (2003 R2 and 2008 with WinRM 1.1,
2008 R2 with WinRM 2.0; real NTLM with message encryption, one HTTPS-only TLS 1.0 host), puts a fresh
random password in CMAUDIT_PASSWORD for this process only (never printed, never written), runs the same
code as `cmaudit scan` twice (a host fixed, one newly failing, one offline in between, and a waivers
file accepting one finding, so the report shows "Since last run"; `--once` for a single scan), and
leaves the reports and the evidence of the second scan under ./demo-run/<UTC time>/ (-o), the first
scan's in its baseline/ folder. Both runs are recorded in a history of the demo's own, in that folder
(`cmaudit history --history ./demo-run/<UTC time>/history.sqlite3`), under the audit `demo-<folder>`: never in
the history real audits use ($CMAUDIT_HISTORY is not read), and two demos started in the same second get two
folders, two audits and two histories.
It ends by printing how to scan your own inventory. Exit status 0 when the scans ran, whatever the
simulated hosts' verdicts (the fleet contains affected hosts on purpose); `cmaudit scan` is the one
whose exit status reports findings.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from scanner.cli.argtypes import folder, seconds, whole_number
from scanner.cli.debug import add_debug_option
from scanner.history.database import default_history_path
from scanner.model.errors import UsageError

if TYPE_CHECKING:
    from scanner.model.records import RunResults
    from simulator import Fleet

HELP = "try cmaudit without a network: scan a simulated mixed fleet and write the reports"
ORDER = 90
DEFAULT_HOSTS = 24
MAX_HOSTS = 500
MAX_SAME_SECOND = 1000  # demos started in one second under one folder
DEMO_HISTORY = "history.sqlite3"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hosts", type=whole_number(1, MAX_HOSTS), default=DEFAULT_HOSTS, metavar="N",
                        help=f"number of simulated hosts (default: {DEFAULT_HOSTS})")
    parser.add_argument("--faults", metavar="SPEC", default=None,
                        help="misbehaving hosts, e.g. '3=hang,5=refuse,7=http503x2' (see `cmaudit simulate`)")
    parser.add_argument("-o", "--output", metavar="DIR", type=folder,
                        help="the run's folder (default: a new UTC-timestamped folder under ./demo-run/)")
    parser.add_argument("--timeout", type=seconds, default=15.0, help="per-host deadline in seconds (default: 15)")
    parser.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    parser.add_argument("--history", metavar="PATH", type=Path, default=None,
                        help="history database to record the demo's runs in (default: history.sqlite3 in the demo's "
                             "folder, never the one real audits use)")
    add_debug_option(parser)
    parser.add_argument("--once", action="store_true",
                        help="scan once (default: twice, with a fixed, a newly failing and an offline host in "
                             "between, so the report shows \"Since last run\")")


def run(args: argparse.Namespace) -> int:
    # lazily: importing the scan layer (multiprocessing, asyncio_pool, isal) would slow every `cmaudit` start
    from scanner.cli.scan_console import run_scan
    from scanner.scan.settings import ScanSettings
    from simulator import Fleet  # the whole simulator: ~140 ms, for this command only

    password = secrets.token_urlsafe(24)
    try:
        fleet = Fleet(hosts=args.hosts, scenario="mixed", password=password, faults=args.faults)
    except (ValueError, ImportError) as exc:
        raise UsageError(f"cannot build the demo fleet: {exc}") from None
    root = args.output or new_demo_folder(Path.cwd() / "demo-run")
    saved = os.environ.get("CMAUDIT_PASSWORD")
    os.environ["CMAUDIT_PASSWORD"] = password  # this process only: the path `cmaudit scan` takes
    try:
        with fleet:
            inventory = fleet.write_inventory(_inventory_path(root))
            rows = [(h.index, h.name, r["host"], r["port"], r["transport"], r.get("tls", "") if h.scheme == "https"
                     else "", r["auth"], h.profile, h.era.name)
                    for h, r in zip(fleet.hosts, fleet.inventory_rows(), strict=True)]
            print(f"cmaudit demo: {len(fleet)} simulated site servers, account {fleet.username} "
                  "(random password, not shown)")
            print(f"cmaudit demo: eras, as in a 2008 estate: {_era_mix(fleet)}")
            if not args.quiet:
                print(tabulate(rows, headers=("#", "name", "host", "port", "transport", "tls", "auth", "profile",
                                              "era"), tablefmt="simple", disable_numparse=True))
            print()
            # A history of its own, in its folder: the demo's runs never mix with a real audit's, nor with another
            # demo's; the audit name says which demo a run belongs to wherever the runs are listed.
            history = args.history or demo_history(root)
            settings = ScanSettings(inventory=inventory, output=root, username=fleet.username,
                                    timeout=args.timeout, quiet=args.quiet, concurrency=32,
                                    history=history, audit=f"demo-{root.name}", ca_file=fleet.ca_file)
            waivers = _write_waivers(fleet, root / "waivers.toml")
            if not args.once:
                print("cmaudit demo: first scan (the baseline, in baseline/)")
                sys.stdout.flush()
                run_scan(replace(settings, output=root / "baseline"))
                print()
                print(f"cmaudit demo: a week later: {_change_fleet(fleet)}; the waivers in {waivers.name} "
                      "accept one finding (another waiver has expired)")
                print("cmaudit demo: second scan")
            sys.stdout.flush()
            outcome = run_scan(replace(settings, waivers=waivers))
            for line in era_check(fleet, outcome.results):
                print(f"cmaudit demo: {line}")
    finally:
        if saved is None:
            os.environ.pop("CMAUDIT_PASSWORD", None)
        else:
            os.environ["CMAUDIT_PASSWORD"] = saved
    print("cmaudit demo: fleet stopped")
    print(_next_step(outcome.paths.get("html"), history))
    return 0


def _era_mix(fleet: Fleet) -> str:
    counts = Counter(h.era.name for h in fleet.hosts)
    return ", ".join(f"{count} x {name}" for name, count in sorted(counts.items()))


def era_check(fleet: Fleet, results: RunResults) -> list[str]:
    """Per era: how many hosts were judged as their profile expects, and how the old ones had to be spoken to
    (code page 437 where UTF-8 was refused, TLS 1.0 where the listener speaks nothing newer). Hosts taken
    offline or given --faults are left out: they are meant to fail."""
    # lazily: the simulated machines' programs cost every `cmaudit` start ~40 ms
    from simulator.profiles import expected_verdict

    by_name = {h.host: h for h in results.hosts}
    lines = []
    for era in sorted({h.era.name for h in fleet.hosts}):
        hosts = [h for h in fleet.hosts if h.era.name == era and h.running and not h.faults.any and h.name in by_name]
        judged = [h for h in hosts if by_name[h.name].verdict.value == str(expected_verdict(h.profile))]
        cp437 = sum(1 for h in judged if by_name[h.name].facts.codepage == 437)
        tls10 = [h.name for h in judged if h.legacy_tls]
        extra = f", {cp437} in code page 437" if cp437 else ""
        extra += f", {', '.join(tls10)} over TLS 1.0" if tls10 else ""
        lines.append(f"{era}: {len(judged)} of {len(hosts)} hosts judged as their profile expects{extra}")
    return lines


def _write_waivers(fleet: Fleet, path: Path) -> Path:
    """A waivers file as an admin would keep one: a finding accepted until a date, and one long expired."""
    # lazily: the simulated machines' programs cost every `cmaudit` start ~40 ms
    from simulator.profiles import expected_verdict

    affected = [h.name for h in fleet.hosts if str(expected_verdict(h.profile)) == "AFFECTED"]
    today = datetime.now(UTC).date()
    blocks = ["# Accepted risks (cmaudit scan --waivers FILE, or waivers = \"...\" in cmaudit.toml)\n"]
    if len(affected) > 2:  # the first is fixed between the scans; take hosts at the other end of the list
        blocks.append(f'[[waiver]]\nhost = "{affected[-1]}"\nreason = "site retired in January, its SMS 2003 '
                      f'clients are being replaced"\nowner = "j.doe"\nexpires = {today + timedelta(days=90)}\n')
    if len(affected) > 3:
        blocks.append(f'[[waiver]]\nhost = "{affected[-2]}"\nreason = "hotfix window agreed with the site '
                      f'owner"\nowner = "a.admin"\nexpires = {today - timedelta(days=30)}\n')
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


# The next steps as the shell of the platform they are printed on takes them: the venv's cmaudit (and the file
# that shows it is there), setting the password for this shell only, a DOMAIN\\user, what else is worth a line.
_SHELLS: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "posix": (".venv/bin/cmaudit", ".venv/bin/cmaudit", "export CMAUDIT_PASSWORD=...    # never on the command line",
              "'CORP\\svc-audit'", ()),
    "nt": (".venv\\Scripts\\cmaudit", ".venv/Scripts/cmaudit.exe",
           "$env:CMAUDIT_PASSWORD = '...'    # PowerShell (cmd: set CMAUDIT_PASSWORD=...); never on the command line",
           "CORP\\svc-audit",
           ("{cmaudit} scan hosts.csv --auth negotiate    # on a domain-joined jump box: as you, no password at all",)),
}


def _next_step(report: Path | None, history: Path, platform: str = os.name) -> str:
    """What to do after the demo: look at the report, then scan your own servers (in this platform's shell)."""
    venv_command, venv_file, password, user, extra = _SHELLS.get(platform, _SHELLS["posix"])
    cmaudit = venv_command if Path(venv_file).exists() else "cmaudit"
    lines = ["", "Next steps:"]
    if report is not None:
        lines.append(f"  open {report} in a browser (summary, changes since the first scan, the hosts)")
    lines += [
        f"  {cmaudit} history{'' if history == _default_history() else f' --history {history}'}"
        "    # the demo's two runs are recorded there",
        "  Scan your own site servers (a CSV, text or Ansible inventory; see README.md):",
        f"    {password}",
        f"    {cmaudit} inventory hosts.csv    # the hosts a scan would contact",
        f"    {cmaudit} doctor hosts.csv --username {user}    # what would stop a host, step by step",
        f"    {cmaudit} scan hosts.csv --username {user}",
        *(f"    {line.format(cmaudit=cmaudit)}" for line in extra),
    ]
    return "\n".join(lines)


def _default_history() -> Path:
    return default_history_path()


def _change_fleet(fleet: Fleet) -> str:
    """Between the two scans: fix an affected host, break a healthy one, take another off the network."""
    # lazily: the simulated machines' programs cost every `cmaudit` start ~40 ms
    from simulator.profiles import expected_verdict

    # hosts that misbehave on purpose (--faults) would hide the change, and the TLS 1.0 host is the one the demo
    # shows for that era: only the other, well-behaved ones are changed
    calm = [h for h in fleet.hosts if not h.faults.any and not h.legacy_tls]
    affected = [h.index for h in calm if str(expected_verdict(h.profile)) == "AFFECTED"]
    healthy = [h.index for h in calm if str(expected_verdict(h.profile)) == "NOT_AFFECTED"]
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


def new_demo_folder(parent: Path, now: datetime | None = None) -> Path:
    """A folder under `parent` named for the UTC time, created here: creating it is what claims it, so two demos
    started in the same second get `<time>` and `<time>-2`, never one folder (nor one audit) between them."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(1, MAX_SAME_SECOND + 1):
            candidate = parent / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return candidate
    except OSError as exc:
        raise UsageError(f"{parent}: cannot create the demo's folder: {exc.strerror or exc}") from None
    raise UsageError(f"{parent}: {MAX_SAME_SECOND} demos started in {stamp}; give -o DIR")


def demo_history(root: Path) -> Path:
    """The demo's own history database, inside its folder."""
    return root / DEMO_HISTORY
