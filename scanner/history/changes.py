"""What changed since the last run: the part of a weekly audit an admin actually reads.

`compare(previous, current)` is pure (two result sets in, a frozen `Changes` out), so `cmaudit diff`
works on two results.json files with no database; `changes_since_last(db, run_id)` adds what only the
history knows: since when a finding has been open and how many runs a host has gone unchecked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
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
from scanner.model.host import display_name, shared_names
from scanner.model.records import HostResult, RunResults, Verdict
from scanner.model.times import parse_utc

# change word -> the section of `compare` that lists it ("added" is listed whatever the verdict did)
_SECTION_OF = {CHANGE_NEW: "new", CHANGE_FIXED: "fixed", CHANGE_REGRESSED: "regressed", CHANGE_OPEN: "open",
               CHANGE_UNREACHABLE: "unreachable", CHANGE_WAIVED: "waived", CHANGE_WAIVER_ENDED: "waiver_ended"}
_SECTIONS = ("new", "fixed", "regressed", "open", "unreachable", "added", "removed", "waived", "waiver_ended")
NOT_CHECKED_MIN_RUNS = 2  # list hosts nobody could check for this many runs in a row

# What one host's line says, decided by two tables (h11 style: the rules are rows, `_host_change` looks
# them up). A verdict is one of five kinds; a host missing from the previous run is `absent`.
ABSENT, FINDING, FIXED, NOT_APPLICABLE, UNCHECKED = "absent", "finding", "fixed", "not-applicable", "unchecked"
_KIND = {Verdict.AFFECTED: FINDING, Verdict.AT_RISK: FINDING, Verdict.NOT_AFFECTED: FIXED,
         Verdict.RECOVERED: FIXED, Verdict.NOT_APPLICABLE: NOT_APPLICABLE, Verdict.ERROR: UNCHECKED,
         Verdict.UNKNOWN: UNCHECKED}
NEW_OR_OPEN = "new-or-open"  # new, unless the history saw this finding open before (across unchecked runs)

# 1. The verdicts: (kind in the previous run, kind now) -> change. Every pair is a row.
VERDICT_CHANGES: dict[tuple[str, str], str] = {
    # before          now             change
    (ABSENT,          FINDING):        NEW_OR_OPEN,
    (ABSENT,          FIXED):          "",  # listed under "added" only
    (ABSENT,          NOT_APPLICABLE): "",
    (ABSENT,          UNCHECKED):      CHANGE_UNREACHABLE,
    (FINDING,         FINDING):        CHANGE_OPEN,
    (FINDING,         FIXED):          CHANGE_FIXED,
    (FINDING,         NOT_APPLICABLE): "",  # no longer ConfigMgr 2007: not a fix of the finding
    (FINDING,         UNCHECKED):      CHANGE_UNREACHABLE,
    (FIXED,           FINDING):        CHANGE_REGRESSED,
    (FIXED,           FIXED):          "",
    (FIXED,           NOT_APPLICABLE): "",
    (FIXED,           UNCHECKED):      CHANGE_UNREACHABLE,
    (NOT_APPLICABLE,  FINDING):        CHANGE_REGRESSED,
    (NOT_APPLICABLE,  FIXED):          "",
    (NOT_APPLICABLE,  NOT_APPLICABLE): "",
    (NOT_APPLICABLE,  UNCHECKED):      CHANGE_UNREACHABLE,
    (UNCHECKED,       FINDING):        NEW_OR_OPEN,  # we could not look last time
    (UNCHECKED,       FIXED):          "",
    (UNCHECKED,       NOT_APPLICABLE): "",
    (UNCHECKED,       UNCHECKED):      "",  # still unchecked: the "not checked for N runs" list says it
}

# 2. The waivers, which win over the verdicts: accepting a risk, or the acceptance ending, is news whatever
# the verdict did. (waived in the previous run, now) -> change; a pair not listed leaves the verdict's change.
WAIVED, NEEDS_ACTION, NO_ACTION = "waived", "needs-action", "no-action"
WAIVED_UNLESS_SAME = "waived-unless-same"  # still waived: news only when the verdict moved
WAIVER_CHANGES: dict[tuple[bool, str], str] = {
    # waived before   now             change
    (False,           WAIVED):        CHANGE_WAIVED,
    (True,            WAIVED):        WAIVED_UNLESS_SAME,
    (True,            NEEDS_ACTION):  CHANGE_WAIVER_ENDED,  # expired, or removed from the waivers file
}


def _kind(verdict: Verdict | None) -> str:
    return ABSENT if verdict is None else _KIND[verdict]


def _now_state(h: HostResult) -> str:
    return WAIVED if h.waived else NEEDS_ACTION if h.needs_action else NO_ACTION


def _verdict_change(before: HostResult | None, after: HostResult, first_seen: str | None, now: str) -> str:
    """The verdict table's answer (NEW_OR_OPEN resolved with the history's first-seen date)."""
    change = VERDICT_CHANGES[(_kind(before.verdict if before else None), _kind(after.verdict))]
    if change == NEW_OR_OPEN:
        return CHANGE_OPEN if first_seen is not None and first_seen != now else CHANGE_NEW
    return change


def _host_change(before: HostResult | None, after: HostResult, verdict_change: str) -> str:
    """The waiver table over the verdict table (a run with a previous one to compare with)."""
    found = WAIVER_CHANGES.get((before is not None and before.waived, _now_state(after)))
    if found is None:
        return verdict_change
    if found == WAIVED_UNLESS_SAME:
        return "" if before is not None and before.verdict == after.verdict else CHANGE_WAIVED
    return found


def _first_seen(verdict_change: str, known: str | None, now: str, previous: RunResults | None) -> str:
    """Since when a finding is open: the history's date; now for a new or regressed one; at least since the
    previous run for one still open that the history cannot date."""
    if verdict_change in (CHANGE_NEW, CHANGE_REGRESSED):
        return now
    if known is None and previous is not None:
        return previous.meta.started
    return known or now


def _detail(h: HostResult, results: RunResults | None = None) -> str:
    return one_line(why_text(h, results.meta if results is not None else None))


def _waiver_detail(after: HostResult, before: HostResult | None, waivers_file: str | None) -> str:
    """Why a host's waiver status changed, in a few words (`waivers_file`: the one this run read, if any)."""
    w = after.waiver
    if after.waived and w is not None:
        return one_line(f"waived until {w.expires} by {w.owner}: {w.reason}")
    if w is not None and w.expired:
        return one_line(f"waiver expired {w.expires} ({w.owner}); {why_text(after)}")
    if waivers_file is None:
        return one_line(f"this run read no waivers file (no --waivers); {why_text(after)}")
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


def _last_build(key: str, h: HostResult, before: HostResult | None, previous: RunResults | None,
                streaks: history.HostStreaks | None) -> tuple[str | None, str | None]:
    """For a host with no build now (ERROR): the last build the history (else the previous run) saw, and when."""
    if h.facts.build:
        return None, None
    if streaks is not None and key in streaks.last_build:
        return streaks.last_build[key]
    if before is not None and before.facts.build and previous is not None:
        return before.facts.build, previous.meta.started
    return None, None


def _last_site(key: str, h: HostResult, before: HostResult | None, previous: RunResults | None,
               streaks: history.HostStreaks | None) -> tuple[str | None, str | None]:
    """For a host with no site code now (ERROR, and none in the inventory): the last the history (else the previous
    run) saw, and when."""
    if h.facts.site_code or h.site_code:
        return None, None
    if streaks is not None and key in streaks.last_site:
        return streaks.last_site[key]
    site = before.facts.site_code or before.site_code if before is not None else None
    if site and previous is not None:
        return site, previous.meta.started
    return None, None


def _classify(key: str, h: HostResult, before: HostResult | None, previous: RunResults | None,
              current: RunResults, streaks: history.HostStreaks | None, name: str) -> tuple[HostChange, str, HostNote]:
    """One host of the current run (listed as `name`): its entry, the change word for its section ("" for none),
    its note."""
    now = current.meta.started
    known = streaks.first_seen.get(key) if streaks else None
    verdict_change = _verdict_change(before, h, known, now)
    first_seen = _first_seen(verdict_change, known, now, previous) if h.verdict.is_finding else None
    # A baseline has nothing to compare with: only the first-seen dates are kept.
    change = "" if previous is None else _host_change(before, h, verdict_change)
    waiver_news = change in (CHANGE_WAIVED, CHANGE_WAIVER_ENDED)
    entry = HostChange(key=key, host=name, before=before.verdict if before else None,
                       after=h.verdict, first_seen=first_seen,
                       age_weeks=age_weeks(first_seen, now) if first_seen else None,
                       detail=_waiver_detail(h, before, current.meta.waiver_file) if waiver_news
                       else _detail(h, current))
    noted = CHANGE_ADDED if not change and previous is not None and before is None else change
    last_build, last_seen = _last_build(key, h, before, previous, streaks)
    last_site, site_seen = _last_site(key, h, before, previous, streaks)
    note = HostNote(change=noted, first_seen=first_seen, age_weeks=entry.age_weeks, last_build=last_build,
                    last_build_seen=last_seen, last_site=last_site, last_site_seen=site_seen)
    return entry, change, note


def _not_checked(cur: dict[str, HostResult], current: RunResults, streaks: history.HostStreaks | None,
                 min_runs: int, names: dict[str, str]) -> tuple[NotChecked, ...]:
    """Hosts of this run no run has managed to judge for `min_runs` runs in a row, longest first."""
    if streaks is None:
        return ()
    found = [NotChecked(key=key, host=names[key], runs=runs,
                        last_checked=streaks.last_checked.get(key), detail=_detail(cur[key], current))
             for key, runs in streaks.unchecked_runs.items() if runs >= min_runs and key in cur]
    return tuple(sorted(found, key=lambda n: (-n.runs, n.key)))


def listed_names(hosts: dict[str, HostResult]) -> dict[str, str]:
    """How the lists of changes name each host (by key): as the report's tables do, by its inventory name; with its
    port (`CM007:42279`) only where another host of the two runs has the same name."""
    shared = shared_names((h.host, h.address, h.port) for h in hosts.values())
    return {key: display_name(h.host, h.port) if h.host.casefold() in shared else h.host for key, h in hosts.items()}


def _sorted(items: Iterable[HostChange]) -> tuple[HostChange, ...]:
    return tuple(sorted(items, key=lambda c: c.key))


def compare(previous: RunResults | None, current: RunResults, *, current_label: str | None = None,
            previous_label: str | None = None, streaks: history.HostStreaks | None = None,
            not_checked_min_runs: int = NOT_CHECKED_MIN_RUNS) -> Changes:
    """Classify every host of `current` against `previous` (pure; `streaks` from the history if known)."""
    cur = _keyed(current)
    old = _keyed(previous) if previous is not None else {}
    names = listed_names({**old, **cur})
    sections: dict[str, list[HostChange]] = {name: [] for name in _SECTIONS}
    annotations: dict[str, HostNote] = {}
    for key, h in cur.items():
        entry, change, annotations[key] = _classify(key, h, old.get(key), previous, current, streaks, names[key])
        if previous is not None and key not in old:
            sections["added"].append(entry)
        if change in _SECTION_OF:
            sections[_SECTION_OF[change]].append(entry)
    if not current.meta.partial:  # a run of some hosts did not remove the others
        sections["removed"] = [HostChange(key=key, host=names[key], before=h.verdict, after=None,
                                          detail=_detail(h)) for key, h in old.items() if key not in cur]
    return Changes(
        current_run=current_label or current.meta.run_id,
        current_started=current.meta.started,
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
        not_checked=_not_checked(cur, current, streaks, not_checked_min_runs, names),
        annotations=annotations,
    )


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.normpath(a)) == os.path.normcase(os.path.normpath(b))


def identity_caution(previous: RunResults, current: RunResults, previous_label: str) -> str:
    """Why two runs of one audit may be two fleets: another inventory file, or fewer than half their hosts in
    common (for a partial run: of its own hosts). "" when they look like one fleet."""
    reasons: list[str] = []
    before, now = previous.meta.inventory_path, current.meta.inventory_path
    # A path recorded relative (by an older cmaudit) cannot be told apart from another: only absolute ones count.
    if before and now and os.path.isabs(before) and os.path.isabs(now) and not _same_file(before, now):
        reasons.append(f"it read {before}, this run {now}")
    shared = len(set(history.host_keys(previous)) & set(history.host_keys(current)))
    whole = len(current.hosts) if current.meta.partial else max(len(previous.hosts), len(current.hosts))
    if shared * 2 < whole:
        reasons.append(f"the two share {shared} of {whole} hosts")
    if not reasons:
        return ""
    audit = current.meta.audit or history.audit_for(current)
    # Not cut to one_line's length: it names two paths. Whoever prints it cleans it (reports.changes_text).
    return (f"compared with run {previous_label} of audit {audit!r}, but {' and '.join(reasons)}: if these are "
            "different fleets, give each its own --audit NAME")


def changes_since_last(db_path: Path | str, run_id: int, *,
                       not_checked_min_runs: int = NOT_CHECKED_MIN_RUNS) -> Changes:
    """Compare a recorded run with the previous complete run of the same audit; say so when they may be two
    fleets, and why the run itself cannot be a baseline."""
    current = history.load_run(db_path, run_id)
    prev_id = history.previous_complete_run(db_path, run_id)
    previous = history.load_run(db_path, prev_id) if prev_id is not None else None
    found = compare(previous, current, current_label=f"#{run_id}",
                    previous_label=None if prev_id is None else f"#{prev_id}",
                    streaks=history.host_streaks(db_path, run_id), not_checked_min_runs=not_checked_min_runs)
    caution = identity_caution(previous, current, f"#{prev_id}") if previous is not None else ""
    return replace(found, caution=caution, not_a_baseline=history.why_not_a_baseline(current) or "")


