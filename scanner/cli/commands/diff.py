"""`cmaudit diff RUN_A RUN_B`: what changed between any two runs (history ids or results.json files)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from reports.changes_text import one_line, render_text, when_utc
from reports.merge import run_time
from scanner.cli.commands.history import add_history_option, history_path
from scanner.history import changes
from scanner.history import database as history
from scanner.model.errors import UsageError
from scanner.model.records import RunResults
from scanner.model.results_file import ResultsFileError, load_results

HELP = "print the differences between two runs (history run ids like 12 or #12, or results.json paths)"
ORDER = 41

_RUN_ID = re.compile(r"#?(\d+)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="the older run: a history id, or a results.json (or its folder)")
    parser.add_argument("run_b", metavar="RUN_B", help="the newer run, same forms")
    add_history_option(parser)


def load_results_file(path: Path) -> RunResults:
    """Read a results.json (or the run folder holding one); any problem is a UsageError naming the file."""
    if path.is_dir():
        path = path / "results.json"
    try:
        return load_results(path)  # the loader `cmaudit report` uses: bounded, and every malformed file one line
    except ResultsFileError as exc:
        raise UsageError(str(exc)) from None


def resolve_run(spec: str, args: argparse.Namespace) -> tuple[RunResults, str]:
    """A run and its label: an existing path wins; otherwise a run id in the history."""
    path = Path(spec)
    try:
        exists = path.exists()
    except OSError:  # a name too long to be a path (5,000 digits) is not one
        exists = False
    if exists:
        return load_results_file(path), str(path)
    match = _RUN_ID.fullmatch(spec.strip())
    if match is None:
        raise UsageError(f"{spec}: neither a results.json file nor a run id from `cmaudit history`")
    digits = match.group(1).lstrip("0")
    run_id = int(digits) if 0 < len(digits) <= len(str(history.MAX_RUN_ID)) else 0  # never int() of 5000 digits
    if not 0 < run_id <= history.MAX_RUN_ID:
        raise UsageError(f"{spec[:40]}: no such run (history run ids are whole numbers from 1 to "
                         f"{history.MAX_RUN_ID})")
    return history.load_run(history_path(args), run_id), f"#{run_id}"


def run(args: argparse.Namespace) -> int:
    older, older_label = resolve_run(args.run_a, args)
    newer, newer_label = resolve_run(args.run_b, args)
    for warning in comparison_warnings(older, older_label, newer, newer_label):
        print(f"cmaudit: warning: {warning}", file=sys.stderr)
    found = changes.compare(older, newer, previous_label=older_label, current_label=newer_label)
    print(render_text(found, title="Changes", name_both=True), end="")
    return 0


def comparison_warnings(older: RunResults, older_label: str, newer: RunResults, newer_label: str) -> list[str]:
    """What makes a comparison misleading: one run given twice (by id, file or folder), the runs given newest first,
    or runs of different audits or advisories (every host of one then looks added or removed in the other)."""
    found = []
    if older.meta.run_id == newer.meta.run_id:
        same = older_label if older_label == newer_label else f"{older_label} ({newer_label})"
        return [f"this compares run {same} with itself: nothing can have changed; give two different runs"]
    if run_time(older.meta) > run_time(newer.meta):
        found.append(f"RUN_A {older_label} ({when_utc(older.meta.started)}) is newer than RUN_B {newer_label} "
                     f"({when_utc(newer.meta.started)}): the changes below go back in time; give the older run "
                     "first to see what changed since it")
    kinds = (("audits", older.meta.audit, newer.meta.audit), ("advisories", older.meta.advisory_id,
                                                               newer.meta.advisory_id))
    for what, a, b in kinds:
        if a and b and a != b:
            found.append(f"{older_label} and {newer_label} are runs of different {what} ({one_line(a)}, "
                         f"{one_line(b)}): hosts of one may show as added or removed in the other")
    return found
