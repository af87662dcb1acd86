"""`cmaudit history`: the recorded runs, one host's verdict over time, or a run taken out of the history."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tabulate import tabulate

from reports.terminal import clean
from scanner.cli.argtypes import positive_int
from scanner.history import database as history
from scanner.model.errors import UsageError
from scanner.model.records import VERDICT_ORDER

HELP = "list recorded runs, one host's verdict over time (--host), or delete a run from the history (--delete)"
ORDER = 40
_RUN_ID = re.compile(r"#?(\d+)")


def add_history_option(parser: argparse.ArgumentParser) -> None:
    """--history PATH, shared by every command that reads the run history."""
    parser.add_argument("--history", metavar="PATH", type=Path, default=None,
                        help="history database (default: $CMAUDIT_HISTORY, else "
                             f"{history.default_history_path()})")


def history_path(args: argparse.Namespace) -> Path:
    """The database a command should use: --history, else the per-user default."""
    chosen: Path | None = getattr(args, "history", None)
    return chosen if chosen is not None else history.default_history_path()


def run_id(text: str) -> int:
    """argparse converter for a history run id as listed (`12` or `#12`); bounded before int()."""
    match = _RUN_ID.fullmatch(text.strip())
    digits = match.group(1).lstrip("0") if match else ""
    if not 0 < len(digits) <= len(str(history.MAX_RUN_ID)) or int(digits) > history.MAX_RUN_ID:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a run id as `cmaudit history` lists them (12 or #12)")
    return int(digits)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--host", metavar="H", help="show this host's verdict in each run (matched by name)")
    what.add_argument("--delete", metavar="RUN", type=run_id, default=None,
                      help="take one run (its id as listed: 12 or #12) out of the history: a later run is no longer "
                           "compared with it; its run folder is left as it is")
    parser.add_argument("--runs", metavar="N", type=positive_int, default=20, help="how many runs to show (default 20)")
    parser.add_argument("--audit", metavar="NAME", help="only runs of this audit (as listed)")
    add_history_option(parser)


def run(args: argparse.Namespace) -> int:
    db = history_path(args)
    if args.delete is not None:
        return _delete(db, args.delete, args.audit)
    if args.host:
        return _host(db, args.host, args.audit, args.runs)
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


def _delete(db: Path, run: int, audit: str | None) -> int:
    gone = history.delete_runs(db, [run], audit=audit)
    if not gone:
        raise UsageError(f"{db}: no run #{run} in the history (`cmaudit history` lists them)")
    (r,) = gone
    folder = f"; its run folder {r.output_dir} is left as it is" if r.output_dir else ""
    print(f"deleted run #{r.id} (audit {_cell(r.audit, 60)}, started {r.started}, {r.host_count} hosts) from {db}"
          f"{folder}")
    return 0


def _host(db: Path, host: str, audit: str | None, limit: int) -> int:
    entries = history.host_timeline(db, host, limit=limit, audit=audit)
    if not entries:
        print(f"{host}: not found in any recorded run" + (f" of audit {audit!r}" if audit else "") + f" in {db}")
        return 0
    rows = [[f"#{e.run_id}", e.started, _cell(e.audit, 30), e.host, e.address, str(e.port), e.verdict.value,
             e.build or "", e.error_category or "", _cell(e.reason), "" if e.complete else "incomplete run"]
            for e in entries]
    print(tabulate(rows, headers=["run", "started", "audit", "host", "address", "port", "verdict", "build", "error",
                                  "reason", ""], disable_numparse=True))
    return 0


def _cell(text: str, limit: int = 60) -> str:
    """One line, bounded, no control characters: history text came from servers."""
    shown = clean(text, spaces=True)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
