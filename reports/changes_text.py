"""The "Since last run" block as plain text, for the console and the mail body."""

from __future__ import annotations

from reports.terminal import clean
from scanner.model.changes import Changes, HostChange, weeks_text
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
    section("Waived", changes.waived)
    section("Waiver ended", changes.waiver_ended)
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
    if title in ("Waived", "Waiver ended"):
        return f"{_verdict(c.after)}  ({c.detail})" if c.detail else _verdict(c.after)
    return f"{text}  ({c.detail})" if c.detail and title in ("Newly unreachable", "New findings", "Regressed") \
        else text
