"""`cmaudit report RESULTS.json... -o DIR`: rebuild the reports from results files, merging several.

Exit status is the merged audit's (0 / findings 1 / incomplete 2 / both 3), so a scheduler can run
this after collecting every zone's results; an unreadable results file is one line and exit 64.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from reports import REPORTERS, ReportWriteError, write_reports
from reports.console import exit_status, print_summary
from reports.merge import load_and_merge
from scanner.cli.argtypes import folder
from scanner.model.errors import UsageError
from scanner.model.results_file import ResultsFileError

FILES = ", ".join(r.filename for r in REPORTERS.values())  # every file write_reports writes, as it names them
HELP = "rebuild every report from results files (several merge into one)"
DESCRIPTION = f"rebuild every report ({FILES}) from results files (several merge into one)"
ORDER = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULTS.json",
                        help="results.json of one or more runs, or the runs' folders; a host in several is taken from "
                             "the newest run")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", type=folder,
                        help=f"folder for {FILES} (created if missing)")


def run(args: argparse.Namespace) -> int:
    out_dir: Path = args.output
    inputs = [results_file(Path(p)) for p in args.results]
    target = (out_dir / "results.json").resolve()
    if len({p.resolve() for p in inputs}) > 1 and target in {p.resolve() for p in inputs}:
        raise UsageError(f"{out_dir}: would overwrite an input results file with the merged one; "
                         "choose another output folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")
    try:
        merged = load_and_merge(inputs)
    except ResultsFileError as exc:
        raise UsageError(str(exc)) from exc
    try:
        written = write_reports(merged, out_dir)
    except ReportWriteError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"{out_dir}: cannot write reports: {exc.strerror or exc}") from exc
    print_summary(merged, sys.stdout, results_path=written.get("json"))
    print()
    for path in written.values():
        print(os.fspath(path))
    return exit_status(merged)


def results_file(path: Path) -> Path:
    """A results.json, or a run folder holding one (as `cmaudit diff` takes them)."""
    return path / "results.json" if path.is_dir() else path
