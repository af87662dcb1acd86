"""The "Since last run" block as plain text, for the console and the mail body."""

from __future__ import annotations

from reports.change_kinds import CHANGE_KINDS, CHANGE_NOT_CHECKED, CHANGE_REMOVED, ChangeKind, hosts_of
from reports.terminal import clean
from scanner.model.changes import (
    CHANGE_ADDED,
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
from scanner.model.records import Verdict
from scanner.model.times import parse_utc

_MAX_DETAIL = 160


def one_line(text: str) -> str:
    """Server-supplied text on one terminal line with no control characters (no escape injection)."""
    text = " ".join(clean(text, spaces=True).split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _day(text: str | None) -> str:
    t = parse_utc(text)
    return t.strftime("%Y-%m-%d") if t else (text or "?")


def when_utc(text: str | None) -> str:
    """A time as the console shows it: 2026-11-29 09:35 UTC."""
    t = parse_utc(text)
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else (text or "?")


def _verdict(v: Verdict | None) -> str:
    return "-" if v is None else v.value


def render_text(changes: Changes, *, title: str = "Since last run", name_both: bool = False) -> str:
    """The "since last run" block for the console and the mail body (plain text, one host a line); with
    `name_both` (`cmaudit diff`) the heading names both runs compared and their times."""
    if changes.is_baseline and changes.not_a_baseline:
        lines = [f"{title}: no earlier complete run of this audit; run {changes.current_run} is no baseline "
                 f"either ({one_line(changes.not_a_baseline)}): the next complete run will be."]
    elif changes.is_baseline:
        lines = [f"{title}: no earlier complete run of this audit; run {changes.current_run} "
                 "is the baseline."]
    elif name_both:
        lines = [f"{title} from run {one_line(changes.previous_run or '')} ({when_utc(changes.previous_started)}) "
                 f"to run {one_line(changes.current_run)} ({when_utc(changes.current_started)}):"]
    else:
        lines = [f"{title} (run {one_line(changes.previous_run or '')}, {when_utc(changes.previous_started)}):"]
        if not changes.changed:
            lines.append("  no change.")
    if changes.caution:  # whole: it names two inventory paths
        lines.append(f"  Warning: {' '.join(clean(changes.caution, spaces=True).split())}")
    for kind in CHANGE_KINDS:
        lines += _section(kind, hosts_of(changes, kind))
    return "\n".join(lines) + "\n"


def _section(kind: ChangeKind, items: tuple[HostChange, ...] | tuple[NotChecked, ...]) -> list[str]:
    """One kind of change: its heading with the count, then one host a line."""
    if not items:
        return []
    if kind.key == CHANGE_NOT_CHECKED:
        fewest = min(n.runs for n in items if isinstance(n, NotChecked))
        lines = [f"  {kind.title} for {fewest}+ runs in a row ({len(items)}):"]
    else:
        lines = [f"  {kind.title} ({len(items)}):"]
    for c in items:
        lines.append(f"    {one_line(c.host)}  {_line_for(kind.key, c)}".rstrip())
    return lines


def _line_for(key: str, c: HostChange | NotChecked) -> str:
    if isinstance(c, NotChecked):
        last = f"last checked {_day(c.last_checked)}" if c.last_checked else "never checked"
        return f"{c.runs} runs, {last}" + (f"  ({one_line(c.detail)})" if c.detail else "")
    if key == CHANGE_OPEN:
        weeks = "" if c.age_weeks is None else f", {weeks_text(c.age_weeks)}"
        return f"{_verdict(c.after)} since {_day(c.first_seen)}{weeks}"
    if key == CHANGE_ADDED:
        return _verdict(c.after)
    if key == CHANGE_REMOVED:
        return f"(was {_verdict(c.before)})"
    if key in (CHANGE_WAIVED, CHANGE_WAIVER_ENDED):
        return f"{_verdict(c.after)}  ({one_line(c.detail)})" if c.detail else _verdict(c.after)
    text = f"{_verdict(c.before)} -> {_verdict(c.after)}"
    return f"{text}  ({one_line(c.detail)})" if c.detail and key in (CHANGE_UNREACHABLE, CHANGE_NEW, CHANGE_REGRESSED) \
        else text
