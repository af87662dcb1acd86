"""What changed since the last run: the part of a weekly audit an admin actually reads.

`compare(previous, current)` is pure (two result sets in, a frozen `Changes` out), so `cmaudit diff`
works on two results.json files with no database; `changes_since_last(db, run_id)` adds what only the
history knows: since when a finding has been open and how many runs a host has gone unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reports import history
from reports.base import why_text
from reports.times import parse_utc
from scanner.records import HostResult, RunResults, Verdict

# Verdicts that mean "judged and fine"; moving from a finding to one of these is a fix.
_FIXED_TO = (Verdict.NOT_AFFECTED, Verdict.RECOVERED)
_JUDGED_OK = (Verdict.NOT_AFFECTED, Verdict.RECOVERED, Verdict.NOT_APPLICABLE)

# The `change` column of the CSV, one word per host.
CHANGE_NEW = "new"
CHANGE_FIXED = "fixed"
CHANGE_REGRESSED = "regressed"
CHANGE_OPEN = "still-open"
CHANGE_UNREACHABLE = "newly-unreachable"
CHANGE_ADDED = "added"

# change word -> the section of `compare` that lists it ("added" is listed whatever the verdict did)
_SECTION_OF = {CHANGE_NEW: "new", CHANGE_FIXED: "fixed", CHANGE_REGRESSED: "regressed", CHANGE_OPEN: "open",
               CHANGE_UNREACHABLE: "unreachable"}
NOT_CHECKED_MIN_RUNS = 2  # list hosts nobody could check for this many runs in a row
_MAX_DETAIL = 160
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class HostChange:
    """One host in one section of the changes."""

    key: str  # stable key (history.stable_key)
    host: str
    before: Verdict | None  # None: not in the previous run
    after: Verdict | None  # None: not in this run
    first_seen: str | None = None  # open findings: when the finding was first seen (ISO UTC)
    age_weeks: int | None = None
    detail: str = ""  # error or first reason, single line, bounded


@dataclass(frozen=True, slots=True)
class NotChecked:
    """A host no run has managed to judge for `runs` runs in a row."""

    key: str
    host: str
    runs: int
    last_checked: str | None  # None: never judged in the recorded history
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Changes:
    """The difference between a run and the previous complete run of the same inventory."""

    current_run: str  # label: history id ("#12") or run_id
    current_started: str
    previous_run: str | None  # None: nothing to compare with (first run, a baseline)
    previous_started: str | None
    new_findings: tuple[HostChange, ...] = ()
    fixed: tuple[HostChange, ...] = ()
    regressed: tuple[HostChange, ...] = ()
    still_open: tuple[HostChange, ...] = ()
    newly_unreachable: tuple[HostChange, ...] = ()
    added: tuple[HostChange, ...] = ()
    removed: tuple[HostChange, ...] = ()
    not_checked: tuple[NotChecked, ...] = ()
    # host key -> (change word, first seen) for every host of the current run: the CSV columns
    annotations: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @property
    def is_baseline(self) -> bool:
        return self.previous_run is None

    @property
    def changed(self) -> bool:
        """Something an admin should hear about happened (the `--mail-when changed` test)."""
        return bool(self.new_findings or self.fixed or self.regressed or self.newly_unreachable
                    or self.added or self.removed)

    def annotation_for(self, host: HostResult, key: str | None = None) -> tuple[str, str | None]:
        """(change, first_seen) for a host of the current run; ("", None) when nothing to say."""
        return self.annotations.get(key or history.stable_key(host.host, host.port), ("", None))


def one_line(text: str) -> str:
    """Server-supplied text on one terminal line with no control characters (no escape injection)."""
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _detail(h: HostResult) -> str:
    return one_line(why_text(h))


def age_weeks(first_seen: str | None, now: str | None) -> int | None:
    """Whole weeks between two ISO UTC times; None when either is missing or unreadable."""
    a, b = parse_utc(first_seen), parse_utc(now)
    if a is None or b is None:
        return None
    if (a.tzinfo is None) != (b.tzinfo is None):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    return max(0, (b - a).days // 7)


def _keyed(results: RunResults) -> dict[str, HostResult]:
    return dict(zip(history.host_keys(results), results.hosts, strict=True))


def compare(previous: RunResults | None, current: RunResults, *, current_label: str | None = None,
            previous_label: str | None = None, streaks: history.HostStreaks | None = None,
            not_checked_min_runs: int = NOT_CHECKED_MIN_RUNS) -> Changes:
    """Classify every host of `current` against `previous` (pure; `streaks` from the history if known)."""
    now = current.meta.started
    cur = _keyed(current)
    old = _keyed(previous) if previous is not None else {}
    first_seen_known = streaks.first_seen if streaks else {}
    sections: dict[str, list[HostChange]] = {name: [] for name in (
        "new", "fixed", "regressed", "open", "unreachable", "added", "removed")}
    annotations: dict[str, tuple[str, str | None]] = {}

    for key, h in cur.items():
        before_host = old.get(key)
        before = before_host.verdict if before_host else None
        after = h.verdict
        change = ""
        first_seen: str | None = None
        if after.is_finding:
            first_seen = first_seen_known.get(key)
            if before is not None and before.is_finding:
                change = CHANGE_OPEN
            elif before in _JUDGED_OK:
                change, first_seen = CHANGE_REGRESSED, now
            elif first_seen is not None and first_seen != now:
                change = CHANGE_OPEN  # open before an unchecked run (or before the previous run)
            else:
                change = CHANGE_NEW
            if change == CHANGE_OPEN and first_seen is None and previous is not None:
                first_seen = previous.meta.started  # no history: at least since the previous run
            first_seen = first_seen or now
        elif after in _FIXED_TO and before is not None and before.is_finding:
            change = CHANGE_FIXED
        elif after.is_incomplete and (before is None or not before.is_incomplete) and previous is not None:
            change = CHANGE_UNREACHABLE
        entry = HostChange(key=key, host=history.display_name(h), before=before, after=after, first_seen=first_seen,
                           age_weeks=age_weeks(first_seen, now) if first_seen else None, detail=_detail(h))
        if previous is not None and before_host is None:
            sections["added"].append(entry)
        if previous is None:
            change = ""  # a baseline: nothing to compare with, only first-seen dates to keep
        section = _SECTION_OF.get(change)
        if section:
            sections[section].append(entry)
        if not change and previous is not None and before_host is None:
            change = CHANGE_ADDED
        annotations[key] = (change, first_seen)

    for key, h in old.items():
        if key not in cur:
            sections["removed"].append(HostChange(key=key, host=history.display_name(h), before=h.verdict, after=None,
                                                  detail=_detail(h)))

    not_checked: list[NotChecked] = []
    if streaks is not None:
        for key, runs in streaks.unchecked_runs.items():
            if runs >= not_checked_min_runs and key in cur:
                not_checked.append(NotChecked(key=key, host=history.display_name(cur[key]), runs=runs,
                                              last_checked=streaks.last_checked.get(key), detail=_detail(cur[key])))
        not_checked.sort(key=lambda n: (-n.runs, n.key))

    def _sorted(items: Iterable[HostChange]) -> tuple[HostChange, ...]:
        return tuple(sorted(items, key=lambda c: c.key))

    return Changes(
        current_run=current_label or current.meta.run_id,
        current_started=now,
        previous_run=None if previous is None else (previous_label or previous.meta.run_id),
        previous_started=None if previous is None else previous.meta.started,
        new_findings=_sorted(sections["new"]),
        fixed=_sorted(sections["fixed"]),
        regressed=_sorted(sections["regressed"]),
        # oldest finding first: the ones overdue for a fix lead
        still_open=tuple(sorted(sections["open"], key=lambda c: (c.first_seen or "", c.key))),
        newly_unreachable=_sorted(sections["unreachable"]),
        added=_sorted(sections["added"]),
        removed=_sorted(sections["removed"]),
        not_checked=tuple(not_checked),
        annotations=annotations,
    )


def changes_since_last(db_path: Path | str, run_id: int, *,
                       not_checked_min_runs: int = NOT_CHECKED_MIN_RUNS) -> Changes:
    """Compare a recorded run with the previous complete run of the same inventory."""
    current = history.load_run(db_path, run_id)
    prev_id = history.previous_complete_run(db_path, run_id)
    previous = history.load_run(db_path, prev_id) if prev_id is not None else None
    return compare(previous, current, current_label=f"#{run_id}",
                   previous_label=None if prev_id is None else f"#{prev_id}",
                   streaks=history.host_streaks(db_path, run_id), not_checked_min_runs=not_checked_min_runs)


def weeks_text(weeks: int) -> str:
    return "less than a week" if weeks < 1 else f"{weeks} week{'s' if weeks != 1 else ''}"


def _day(text: str | None) -> str:
    t = parse_utc(text)
    return t.strftime("%Y-%m-%d") if t else (text or "?")


def _when(text: str | None) -> str:
    t = parse_utc(text)
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else (text or "?")


def _verdict(v: Verdict | None) -> str:
    return "-" if v is None else v.value


def render_text(changes: Changes, *, title: str = "Since last run") -> str:
    """The "since last run" block for the console and the mail body (plain text, one host a line)."""
    if changes.is_baseline:
        lines = [f"{title}: no earlier complete run of this inventory; run {changes.current_run} "
                 "is the baseline."]
    else:
        lines = [f"{title} (run {one_line(changes.previous_run or '')}, {_when(changes.previous_started)}):"]
        if not changes.changed:
            lines.append("  no change.")

    def section(title: str, items: tuple[HostChange, ...]) -> None:
        if not items:
            return
        lines.append(f"  {title} ({len(items)}):")
        for c in items:
            lines.append(f"    {one_line(c.host)}  {_line_for(title, c)}".rstrip())

    section("New findings", changes.new_findings)
    section("Regressed", changes.regressed)
    section("Fixed", changes.fixed)
    section("Newly unreachable", changes.newly_unreachable)
    section("Still open", changes.still_open)
    section("Hosts added", changes.added)
    section("Hosts removed", changes.removed)
    if changes.not_checked:
        fewest = min(n.runs for n in changes.not_checked)
        lines.append(f"  Not successfully checked for {fewest}+ runs in a row ({len(changes.not_checked)}):")
        for n in changes.not_checked:
            last = f"last checked {_day(n.last_checked)}" if n.last_checked else "never checked"
            lines.append(f"    {one_line(n.host)}  {n.runs} runs, {last}" + (f"  ({n.detail})" if n.detail else ""))
    return "\n".join(lines) + "\n"


def _line_for(title: str, c: HostChange) -> str:
    if title == "Still open":
        weeks = "" if c.age_weeks is None else f", {weeks_text(c.age_weeks)}"
        return f"{_verdict(c.after)} since {_day(c.first_seen)}{weeks}"
    if title == "Hosts added":
        return _verdict(c.after)
    if title == "Hosts removed":
        return f"(was {_verdict(c.before)})"
    text = f"{_verdict(c.before)} -> {_verdict(c.after)}"
    return f"{text}  ({c.detail})" if c.detail and title in ("Newly unreachable", "New findings", "Regressed") \
        else text
