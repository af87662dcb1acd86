"""What a recorded (weekly) run adds to the reports: the "Since last run" section, the trend chart, and
the history columns of the CSV and the HTML host table (change, first seen, age, last known build).

Built on the reporters' own extension points (CsvReporter.extra_columns, HtmlReporter.sections), so
the report formats stay unaware of the history.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from reports import write_reports
from reports.change_kinds import CHANGE_KINDS, CHANGE_REMOVED, hosts_of
from reports.html_report import Section
from scanner.model.changes import (
    CHANGE_ADDED,
    CHANGE_FIXED,
    CHANGE_NEW,
    CHANGE_OPEN,
    CHANGE_REGRESSED,
    CHANGE_UNREACHABLE,
    CHANGE_WAIVED,
    CHANGE_WAIVER_ENDED,
    Changes,
    HostChange,
    NotChecked,
    weeks_text,
)
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


def _not_checked_row(n: NotChecked) -> Row:
    last = f"last checked {n.last_checked[:10]}" if n.last_checked else "never checked"
    return Row(host=n.host, before=None, after=None, note=f"{n.runs} runs in a row; {last}")


# How each kind of change lists a host: which verdicts it shows and the note beside them.
_ROWS: dict[str, Callable[[HostChange], Row]] = {
    CHANGE_NEW: lambda c: _row(c, c.detail, before=False),
    CHANGE_REGRESSED: lambda c: _row(c, c.detail),
    CHANGE_UNREACHABLE: lambda c: _row(c, c.detail),
    CHANGE_WAIVER_ENDED: lambda c: _row(c, c.detail, before=False),
    CHANGE_FIXED: lambda c: _row(c),
    CHANGE_WAIVED: lambda c: _row(c, c.detail, before=False),
    CHANGE_OPEN: lambda c: _row(c, f"since {(c.first_seen or '')[:10]}{_weeks(c.age_weeks)}", before=False),
    CHANGE_ADDED: lambda c: _row(c, before=False),
    CHANGE_REMOVED: lambda c: _row(c, "no longer in the inventory", after=False),
}


def groups(changes: Changes) -> tuple[Group, ...]:
    """The section's groups in the one reading order of reports.change_kinds: what got worse, what got better,
    what is still open."""
    found = []
    for kind in CHANGE_KINDS:
        items = hosts_of(changes, kind)
        rows = tuple(_not_checked_row(c) if isinstance(c, NotChecked) else _ROWS[kind.key](c) for c in items)
        found.append(Group(kind.key, kind.title, rows[:MAX_ROWS], kind.hot, len(rows)))
    return tuple(found)


def html_section(changes: Changes | None, trend: Markup | None, *, trend_runs: int = 0) -> Section:
    """The "Since last run" block report.html shows before its summary."""
    return Section(SECTION_TEMPLATE, {"changes": changes, "trend": trend, "trend_runs": trend_runs,
                                      "groups": groups(changes) if changes is not None else ()})


def write_weekly_reports(results: RunResults, out_dir: str | os.PathLike[str], changes: Changes | None,
                         trend: Markup | None, *, trend_runs: int = 0) -> dict[str, Path]:
    """reports.write_reports with the changes in the CSV columns, the HTML table and its section."""
    return write_reports(results, out_dir, changes=changes,
                         html_sections=(html_section(changes, trend, trend_runs=trend_runs),))
