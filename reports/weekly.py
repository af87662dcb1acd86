"""What a recorded (weekly) run adds to the reports: the "Since last run" section, the trend chart, and
the history columns of the CSV and the HTML host table (change, first seen, age, last known build).

Built on the reporters' own extension points (CsvReporter.extra_columns, HtmlReporter.sections), so
the report formats stay unaware of the history.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from reports import write_reports
from reports.html_report import Section
from scanner.model.changes import Changes, HostChange, weeks_text
from scanner.model.records import RunResults

SECTION_TEMPLATE = "since_last_run.html.j2"
MAX_ROWS = 50  # per group in the section; the host table below has every host


@dataclass(frozen=True, slots=True)
class Row:
    host: str
    before: str | None
    after: str | None
    note: str


@dataclass(frozen=True, slots=True)
class Group:
    key: str  # data-change attribute, also the CSV `change` word where there is one
    title: str
    rows: tuple[Row, ...]  # at most MAX_ROWS shown; `total` counts them all
    hot: bool = False  # highlighted when not empty (something got worse)
    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def _row(c: HostChange, note: str = "", *, before: bool = True, after: bool = True) -> Row:
    return Row(host=c.host, before=c.before.value if before and c.before else None,
               after=c.after.value if after and c.after else None, note=note)


def _weeks(n: int | None) -> str:
    return "" if n is None else f" ({weeks_text(n)})"


def _group(key: str, title: str, rows: tuple[Row, ...], *, hot: bool = False) -> Group:
    return Group(key, title, rows[:MAX_ROWS], hot, len(rows))


def groups(changes: Changes) -> tuple[Group, ...]:
    """The section's groups in reading order: what got worse, what got better, what is still open."""
    return (
        _group("new", "New findings", tuple(_row(c, c.detail, before=False) for c in changes.new_findings), hot=True),
        _group("regressed", "Regressed", tuple(_row(c, c.detail) for c in changes.regressed), hot=True),
        _group("fixed", "Fixed", tuple(_row(c) for c in changes.fixed)),
        _group("newly-unreachable", "Newly unreachable", tuple(_row(c, c.detail) for c in changes.newly_unreachable),
               hot=True),
        _group("waiver-ended", "Waiver ended", tuple(_row(c, c.detail, before=False) for c in changes.waiver_ended),
               hot=True),
        _group("waived", "Newly waived", tuple(_row(c, c.detail, before=False) for c in changes.waived)),
        _group("still-open", "Still open",
               tuple(_row(c, f"since {(c.first_seen or '')[:10]}{_weeks(c.age_weeks)}", before=False)
                     for c in changes.still_open)),
        _group("not-checked", "Not checked",
               tuple(Row(host=n.host, before=None, after=None,
                         note=f"{n.runs} runs in a row; "
                              + (f"last checked {n.last_checked[:10]}" if n.last_checked else "never checked"))
                     for n in changes.not_checked)),
        _group("added", "Added", tuple(_row(c, before=False) for c in changes.added)),
        _group("removed", "Removed", tuple(_row(c, "no longer in the inventory", after=False)
                                           for c in changes.removed)),
    )


def html_section(changes: Changes | None, trend: Markup | None, *, trend_runs: int = 0) -> Section:
    """The "Since last run" block report.html shows before its summary."""
    return Section(SECTION_TEMPLATE, {"changes": changes, "trend": trend, "trend_runs": trend_runs,
                                      "groups": groups(changes) if changes is not None else ()})


def write_weekly_reports(results: RunResults, out_dir: str | os.PathLike[str], changes: Changes | None,
                         trend: Markup | None, *, trend_runs: int = 0) -> dict[str, Path]:
    """reports.write_reports with the changes in the CSV columns, the HTML table and its section."""
    return write_reports(results, out_dir, changes=changes,
                         html_sections=(html_section(changes, trend, trend_runs=trend_runs),))
