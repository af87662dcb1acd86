"""The summary printed at the end of a scan or `cmaudit report`, and the exit status schedulers read."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from typing import TextIO

from tabulate import tabulate

from reports.base import action_order, needs_action, why_text, with_results_path
from reports.overview import headline
from reports.terminal import clean
from scanner.model.records import VERDICT_ORDER, HostResult, RunMeta, RunResults, Verdict
from scanner.model.remediation import remediation_for

EXIT_FINDINGS = 1  # bit 1: a host is AFFECTED or AT_RISK
EXIT_INCOMPLETE = 2  # bit 2: a host is ERROR or UNKNOWN
DEFAULT_ACTION_ROWS = 50
WHY_WIDTH = 100  # the "why" column when the output is not a terminal (a log, a mail from cron)
MIN_WHY_WIDTH = 40
_OTHER_COLUMNS = 90  # what host, address, port, site, build and verdict take on a line, at most

# ANSI colours for verdict names on a terminal (tabulate measures the text without them).
_COLOURS = {Verdict.AFFECTED: "31;1", Verdict.AT_RISK: "33;1", Verdict.ERROR: "35;1", Verdict.UNKNOWN: "35",
            Verdict.RECOVERED: "36", Verdict.NOT_AFFECTED: "32", Verdict.NOT_APPLICABLE: "2"}

def exit_status(results: RunResults) -> int:
    """0 all judged and clean; | 1 findings; | 2 hosts not judged (both: 3). A waived host sets no bit; a rejected
    password always sets 2 (the audit is incomplete, whatever a waiver says)."""
    status = EXIT_INCOMPLETE if results.meta.rejected_passwords else 0
    for host in results.hosts:
        if not host.needs_action:
            continue
        status |= EXIT_FINDINGS if host.verdict.is_finding else EXIT_INCOMPLETE
    return status


def _clean(text: str | None, width: int | None = None) -> str:
    return clean(text, width)  # server text must not drive the admin's terminal (reports.terminal)


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, never with NO_COLOR set or TERM=dumb (https://no-color.org)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty() and (os.name != "nt" or _windows_vt())
    except (AttributeError, ValueError, OSError):
        return False


def _windows_vt() -> bool:
    """Windows 10+ consoles show ANSI colours once virtual-terminal processing is on; older ones print codes."""
    try:
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
        handle = kernel32.GetStdHandle(-11)
        mode = ctypes.c_uint32()
        if not kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
            return False
        return bool(kernel32.SetConsoleMode(handle, mode.value | 0x0004))
    except (AttributeError, OSError):
        return False


def paint(text: str, verdict: Verdict, colour: bool) -> str:
    return f"\x1b[{_COLOURS[verdict]}m{text}\x1b[0m" if colour else text


def why_width(stream: TextIO | None) -> int:
    """The "why" column's width: what the terminal leaves after the other columns, else WHY_WIDTH."""
    try:
        if stream is not None and stream.isatty():
            return max(MIN_WHY_WIDTH, shutil.get_terminal_size((160, 24)).columns - _OTHER_COLUMNS)
    except (AttributeError, ValueError, OSError):
        pass
    return WHY_WIDTH


def headline_text(hosts: tuple[HostResult, ...] | list[HostResult]) -> str:
    """"20 of 24 hosts compliant (83%); 2 needing action, 1 waived, 1 could not be checked": the report's
    headline figures (reports.overview), so the console and report.html never disagree."""
    ok, fix, unchecked, waived = headline(hosts)
    return (f"{ok.count} of {len(hosts)} hosts compliant ({ok.percent_text}); {fix.count} needing action, "
            f"{waived.count} waived, {unchecked.count} could not be checked")


def summary_text(results: RunResults, *, max_rows: int = DEFAULT_ACTION_ROWS, colour: bool = False,
                 width: int = WHY_WIDTH, results_path: str | None = None) -> str:
    """Counts per verdict, then the hosts to act on (most urgent first, at most `max_rows`); the "why"
    column leads with what differs between hosts and is cut at `width` characters; the hints name
    `results_path` (the results.json just written) where they suggest a rescan."""
    counts = Counter(h.verdict for h in results.hosts)
    rows = [(paint(v.value, v, colour and counts[v] > 0), counts[v]) for v in VERDICT_ORDER]
    rows.append(("total", len(results.hosts)))
    meta = results.meta
    parts = alerts_text(meta, results_path)
    parts += [tabulate(rows, headers=("verdict", "hosts"), tablefmt="simple", colalign=("left", "right")),
              headline_text(results.hosts)]
    if meta.interrupted:
        parts.append("INTERRUPTED: the run did not finish; hosts not reached are not in these counts.")
    if meta.insecure:
        parts.append("INSECURE: TLS certificates were not verified in this run (--insecure).")
    parts += _waiver_parts(results, max_rows)
    todo = [h for h in action_order(results.hosts) if needs_action(h)]
    parts += _todo_parts(todo, meta, max_rows=max_rows, colour=colour, width=width, results_path=results_path)
    return "\n\n".join(parts) + "\n"


def _waiver_parts(results: RunResults, max_rows: int) -> list[str]:
    """The waived hosts, and the waivers that expired."""
    parts = []
    waived = [h for h in action_order(results.hosts) if h.waived]
    if waived:
        parts.append(f"Waived ({len(waived)}): accepted until their waiver expires, not counted as needing action:\n"
                     + "\n".join(f"  {_clean(h.host, 40)}  {h.verdict.value}  until {h.waiver.expires}, "
                                  f"{_clean(h.waiver.owner, 40)}: {_clean(h.waiver.reason, 80)}"
                                  for h in waived[:max_rows] if h.waiver is not None))
    expired = [w for w in results.meta.waivers if w.expired]
    if expired:
        parts.append(f"Expired waivers ({len(expired)}): they no longer waive anything:\n"
                     + "\n".join(f"  {_clean(w.host, 40)}  expired {w.expires}, {_clean(w.owner, 40)} "
                                  f"({_clean(w.source, 60)}): {_clean(w.reason, 80)}" for w in expired[:max_rows]))
    return parts


def alerts_text(meta: RunMeta, results_path: str | None = None) -> list[str]:
    """What must be read before any count: an account the run stopped short for (the audit is incomplete)."""
    again = f"--rescan-failed {results_path}" if results_path else "--rescan-failed results.json"
    return [f"{rejected.headline}: {_clean(rejected.sentence, 400)}. The audit is incomplete: {rejected.advice} "
            f"({_clean(again, 300)})." for rejected in meta.rejected_passwords]


def _todo_parts(todo: list[HostResult], meta: RunMeta, *, max_rows: int, colour: bool, width: int,
                results_path: str | None) -> list[str]:
    """The hosts to act on as a table, then what to do about those in ERROR."""
    if not todo:
        return ["No host to act on."]
    table = [
        (_clean(h.host, 40), _clean(h.address, 40), h.port, _clean(h.facts.site_code or h.site_code, 8),
         _clean(h.facts.build, 16), paint(h.verdict.value, h.verdict, colour), _clean(why_text(h, meta), width))
        for h in todo[:max_rows]
    ]
    fix = sum(1 for h in todo if h.verdict.is_finding)
    parts = [f"Hosts to act on ({len(todo)}: {fix} needing action, {len(todo) - fix} could not be checked):",
             tabulate(table, headers=("host", "address", "port", "site", "build", "verdict", "why"),
                      tablefmt="simple", disable_numparse=True)]
    if len(todo) > max_rows:
        parts.append(f"... and {len(todo) - max_rows} more (see report.html or report.csv)")
    hints = hints_text([h for h in todo if h.verdict is Verdict.ERROR], meta, results_path=results_path)
    return parts + ([hints] if hints else [])


def hints_text(hosts: list[HostResult], meta: RunMeta, *, names: int = 5, results_path: str | None = None) -> str:
    """What to do about the hosts that could not be judged: each error's hint once, with the hosts it is for
    (an estate's 40 hosts refusing UTF-8, or lacking admin rights, get one line, not 40)."""
    grouped: dict[str, list[str]] = {}
    for host in hosts:
        grouped.setdefault(with_results_path(remediation_for(host, meta), results_path), []).append(host.host)
    if not grouped:
        return ""
    lines = ["What to do (hosts in ERROR):"]
    for hint, hosts_of in grouped.items():
        shown = ", ".join(_clean(name, 40) for name in hosts_of[:names])
        more = f" and {len(hosts_of) - names} more" if len(hosts_of) > names else ""
        lines.append(f"  - {_clean(hint)} [{shown}{more}]")
    return "\n".join(lines)


def print_summary(results: RunResults, stream: TextIO, *, max_rows: int = DEFAULT_ACTION_ROWS,
                  results_path: str | os.PathLike[str] | None = None) -> None:
    """Write summary_text to `stream` (the CLI's stdout), coloured and as wide as a terminal allows."""
    stream.write(summary_text(results, max_rows=max_rows, colour=use_colour(stream), width=why_width(stream),
                              results_path=os.fspath(results_path) if results_path is not None else None))
