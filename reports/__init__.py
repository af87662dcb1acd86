"""What we found: CSV, HTML, JSON and console reports rendered from result records.

    write_reports(results, out_dir) -> {"json": .../results.json, "csv": .../report.csv, "html": ...}

Every file is written atomically; `results.json` is the source every format can be rebuilt from
(`cmaudit report`). reports/ depends only on scanner.records, never on the scanner's network code.
"""

from __future__ import annotations

import os
from pathlib import Path

from reports.base import Reporter
from reports.csv_report import CsvReporter
from reports.html_report import HtmlReporter
from reports.json_report import JsonReporter
from scanner.records import RunResults

REPORTERS: dict[str, Reporter] = {
    "json": JsonReporter(),
    "csv": CsvReporter(),
    "html": HtmlReporter(),
}


def write_reports(results: RunResults, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write every report into `out_dir` (created if missing); answers {format name: path}."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, reporter in REPORTERS.items():  # results.json first: the others can be rebuilt from it
        path = folder / reporter.filename
        reporter.write(results, path)
        written[name] = path
    return written


__all__ = ["REPORTERS", "Reporter", "write_reports"]
