"""`cmaudit history`: the recorded runs, or one host's verdict over time."""

from __future__ import annotations

import argparse
from pathlib import Path

from tabulate import tabulate

from reports.terminal import clean
from scanner.cli.argtypes import positive_int
from scanner.history import database as history
from scanner.model.records import VERDICT_ORDER

HELP = "list recorded runs, or one host's verdict over time (--host)"
ORDER = 40


def add_history_option(parser: argparse.ArgumentParser) -> None:
    """--history PATH, shared by every command that reads the run history."""
    parser.add_argument("--history", metavar="PATH", type=Path, default=None,
                        help="history database (default: $CMAUDIT_HISTORY, else "
                             f"{history.default_history_path()})")


def history_path(args: argparse.Namespace) -> Path:
    """The database a command should use: --history, else the per-user default."""
    chosen: Path | None = getattr(args, "history", None)
    return chosen if chosen is not None else history.default_history_path()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", metavar="H", help="show this host's verdict in each run (matched by name)")
    parser.add_argument("--runs", metavar="N", type=positive_int, default=20, help="how many runs to show (default 20)")
    parser.add_argument("--audit", metavar="NAME", help="only runs of this audit (as listed)")
    add_history_option(parser)


def run(args: argparse.Namespace) -> int:
    db = history_path(args)
    if args.host:
        entries = history.host_timeline(db, args.host, limit=args.runs)
        if not entries:
            print(f"{args.host}: not found in any recorded run of {db}")
            return 0
        rows = [[f"#{e.run_id}", e.started, e.host, e.address, e.verdict.value, e.build or "",
                 e.error_category or "", _cell(e.reason), "" if e.complete else "incomplete run"] for e in entries]
        print(tabulate(rows, headers=["run", "started", "host", "address", "verdict", "build", "error",
                                      "reason", ""], disable_numparse=True))
        return 0
    runs = history.list_runs(db, limit=args.runs, audit=args.audit)
    if not runs:
        print(f"no runs recorded in {db}" + (f" for audit {args.audit!r}" if args.audit else ""))
        return 0
    shown = [v for v in VERDICT_ORDER if any(r.counts.get(v) for r in runs)]
    rows = [[f"#{r.id}", r.started, _cell(r.audit, 30), _cell(r.inventory_key, 40), "yes" if r.complete else "no",
             str(r.host_count), *[str(r.counts.get(v, 0)) for v in shown], str(r.waived)] for r in runs]
    print(tabulate(rows, headers=["run", "started", "audit", "inventory", "complete", "hosts",
                                  *[v.value for v in shown], "waived"], disable_numparse=True))
    return 0


def _cell(text: str, limit: int = 60) -> str:
    """One line, bounded, no control characters: history text came from servers."""
    shown = clean(text, spaces=True)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
