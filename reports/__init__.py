"""What we found: CSV, HTML, JSON and console reports rendered from result records.

    write_reports(results, out_dir) -> {"json": .../results.json, "jsonl": .../results.jsonl,
                                        "csv": .../report.csv, "html": ..., "junit": .../report.junit.xml}

Every file is written atomically; `results.json` is the source every format can be rebuilt from
(`cmaudit report`). reports/ depends only on scanner.model.records (and scanner.model.errors, whose UsageError
makes history failures one-line errors), never on the scanner's network code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from reports.base import Reporter
from reports.csv_report import Column, CsvReporter
from reports.html_report import HtmlReporter, Section
from reports.json_report import JsonReporter
from reports.jsonl_report import JsonlReporter
from reports.junit_report import JunitReporter
from scanner.model.changes import Changes
from scanner.model.records import RunResults

REPORTERS: dict[str, Reporter] = {
    "json": JsonReporter(),
    "jsonl": JsonlReporter(),
    "csv": CsvReporter(),
    "html": HtmlReporter(),
    "junit": JunitReporter(),
}


def write_reports(results: RunResults, out_dir: str | os.PathLike[str], *, changes: Changes | None = None,
                  html_sections: Sequence[Section] = (), csv_columns: Sequence[Column] = ()) -> dict[str, Path]:
    """Write every report into `out_dir` (created if missing); answers {format name: path}.

    `changes` (from the history) fills the change/first seen/age columns; `html_sections` (after the
    summary) and `csv_columns` (after the documented ones) let later features add to the reports.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    reporters = dict(REPORTERS)
    if html_sections or changes is not None:
        reporters["html"] = HtmlReporter(sections=tuple(html_sections), changes=changes)
    if csv_columns or changes is not None:
        reporters["csv"] = CsvReporter(changes=changes, extra_columns=tuple(csv_columns))
    written: dict[str, Path] = {}
    failed: dict[str, OSError] = {}
    for name, reporter in reporters.items():  # results.json first: the others can be rebuilt from it
        path = folder / reporter.filename
        try:
            reporter.write(results, path)
        except OSError as exc:  # e.g. report.csv held open in Excel: still write the others
            failed[name] = exc
            continue
        written[name] = path
    if failed:
        raise ReportWriteError(folder, written, failed)
    return written


class ReportWriteError(OSError):
    """Some report files could not be written; `written` lists those that were (the old files are intact)."""

    def __init__(self, folder: Path, written: dict[str, Path], failed: dict[str, OSError]) -> None:
        self.written, self.failed = written, failed
        detail = "; ".join(f"{folder / REPORTERS[name].filename}: {exc.strerror or exc}"
                           for name, exc in failed.items())
        super().__init__(f"could not write {detail}")


__all__ = ["REPORTERS", "Column", "ReportWriteError", "Reporter", "Section", "write_reports"]
