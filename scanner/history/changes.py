"""What changed since the last run: the part of a weekly audit an admin actually reads.

`compare(previous, current)` is pure (two result sets in, a frozen `Changes` out), so `cmaudit diff`
works on two results.json files with no database; `changes_since_last(db, run_id)` adds what only the
history knows: since when a finding has been open and how many runs a host has gone unchecked.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from reports.base import why_text
from reports.changes_text import one_line
from scanner.history import database as history
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
    HostNote,
    NotChecked,
)
from scanner.model.host import display_name
from scanner.model.records import HostResult, RunResults, Verdict
from scanner.model.times import parse_utc

# Verdicts that mean "judged and fine"; moving from a finding to one of these is a fix.
_FIXED_TO = (Verdict.NOT_AFFECTED, Verdict.RECOVERED)
_JUDGED_OK = (Verdict.NOT_AFFECTED, Verdict.RECOVERED, Verdict.NOT_APPLICABLE)

# change word -> the section of `compare` that lists it ("added" is listed whatever the verdict did)
_SECTION_OF = {CHANGE_NEW: "new", CHANGE_FIXED: "fixed", CHANGE_REGRESSED: "regressed", CHANGE_OPEN: "open",
               CHANGE_UNREACHABLE: "unreachable", CHANGE_WAIVED: "waived", CHANGE_WAIVER_ENDED: "waiver_ended"}
NOT_CHECKED_MIN_RUNS = 2  # list hosts nobody could check for this many runs in a row


def _detail(h: HostResult, results: RunResults | None = None) -> str:
    return one_line(why_text(h, results.meta if results is not None else None))


def _waiver_detail(after: HostResult, before: HostResult | None) -> str:
    """Why a host's waiver status changed, in a few words."""
    w = after.waiver
    if after.waived and w is not None:
        return one_line(f"waived until {w.expires} by {w.owner}: {w.reason}")
    if w is not None and w.expired:
        return one_line(f"waiver expired {w.expires} ({w.owner}); {why_text(after)}")
    return one_line(f"waiver no longer in the waivers file; {why_text(after)}")


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
        "new", "fixed", "regressed", "open", "unreachable", "added", "removed", "waived", "waiver_ended")}
    annotations: dict[str, HostNote] = {}
    last_builds = dict(streaks.last_build) if streaks else {}

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
        # Accepting a risk, or the acceptance ending, is news whatever the verdict did.
        before_waived = before_host is not None and before_host.waived
        if previous is not None and h.waived:
            change = "" if before_waived and before == after else CHANGE_WAIVED
        elif previous is not None and before_waived and h.needs_action:
            change = CHANGE_WAIVER_ENDED
        elif after in _FIXED_TO and before is not None and before.is_finding:
            change = CHANGE_FIXED
        elif after.is_incomplete and (before is None or not before.is_incomplete) and previous is not None:
            change = CHANGE_UNREACHABLE
        waiver_news = change in (CHANGE_WAIVED, CHANGE_WAIVER_ENDED)
        entry = HostChange(key=key, host=display_name(h.host, h.port), before=before, after=after,
                           first_seen=first_seen, age_weeks=age_weeks(first_seen, now) if first_seen else None,
                           detail=_waiver_detail(h, before_host) if waiver_news else _detail(h, current))
        if previous is not None and before_host is None:
            sections["added"].append(entry)
        if previous is None:
            change = ""  # a baseline: nothing to compare with, only first-seen dates to keep
        section = _SECTION_OF.get(change)
        if section:
            sections[section].append(entry)
        if not change and previous is not None and before_host is None:
            change = CHANGE_ADDED
        last_build, last_seen = None, None
        if not h.facts.build:
            if key in last_builds:
                last_build, last_seen = last_builds[key]
            elif before_host is not None and before_host.facts.build and previous is not None:
                last_build, last_seen = before_host.facts.build, previous.meta.started
        annotations[key] = HostNote(change=change, first_seen=first_seen, age_weeks=entry.age_weeks,
                                    last_build=last_build, last_build_seen=last_seen)

    for key, h in old.items():
        if key not in cur and not current.meta.partial:  # a run of some hosts did not remove the others
            sections["removed"].append(HostChange(key=key, host=display_name(h.host, h.port), before=h.verdict,
                                                  after=None, detail=_detail(h)))

    not_checked: list[NotChecked] = []
    if streaks is not None:
        for key, runs in streaks.unchecked_runs.items():
            if runs >= not_checked_min_runs and key in cur:
                not_checked.append(NotChecked(key=key, host=display_name(cur[key].host, cur[key].port), runs=runs,
                                              last_checked=streaks.last_checked.get(key),
                                              detail=_detail(cur[key], current)))
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
        waived=_sorted(sections["waived"]),
        waiver_ended=_sorted(sections["waiver_ended"]),
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


