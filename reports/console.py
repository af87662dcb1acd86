"""The summary printed at the end of a scan or `cmaudit report`, and the exit status schedulers read."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TextIO

from tabulate import tabulate

from reports.base import action_order, needs_action, why_text
from reports.terminal import clean
from scanner.model.records import VERDICT_ORDER, RunResults

EXIT_FINDINGS = 1  # bit 1: a host is AFFECTED or AT_RISK
EXIT_INCOMPLETE = 2  # bit 2: a host is ERROR or UNKNOWN
DEFAULT_ACTION_ROWS = 50
_REASON_WIDTH = 70

def exit_status(results: RunResults) -> int:
    """0 all judged and clean; | 1 findings; | 2 hosts not judged (both: 3). A waived host sets no bit."""
    status = 0
    for host in results.hosts:
        if not host.needs_action:
            continue
        status |= EXIT_FINDINGS if host.verdict.is_finding else EXIT_INCOMPLETE
    return status


def _clean(text: str | None, width: int | None = None) -> str:
    return clean(text, width)  # server text must not drive the admin's terminal (reports.terminal)


def summary_text(results: RunResults, *, max_rows: int = DEFAULT_ACTION_ROWS) -> str:
    """Counts per verdict, then the hosts needing action (most urgent first, at most `max_rows`)."""
    counts = Counter(h.verdict for h in results.hosts)
    rows = [(v.value, counts[v]) for v in VERDICT_ORDER]
    rows.append(("total", len(results.hosts)))
    parts = [tabulate(rows, headers=("verdict", "hosts"), tablefmt="simple", colalign=("left", "right"))]
    meta = results.meta
    if meta.interrupted:
        parts.append("INTERRUPTED: the run did not finish; hosts not reached are not in these counts.")
    if meta.insecure:
        parts.append("INSECURE: TLS certificates were not verified in this run (--insecure).")
    todo = [h for h in action_order(results.hosts) if needs_action(h)]
    if todo:
        table = [
            (_clean(h.host, 40), _clean(h.address, 40), h.port, _clean(h.facts.site_code or h.site_code, 8),
             _clean(h.facts.build, 16), h.verdict.value, _clean(why_text(h), _REASON_WIDTH))
            for h in todo[:max_rows]
        ]
        parts.append(f"Hosts needing action ({len(todo)}):")
        parts.append(tabulate(table, headers=("host", "address", "port", "site", "build", "verdict", "why"),
                              tablefmt="simple", disable_numparse=True))
        if len(todo) > max_rows:
            parts.append(f"... and {len(todo) - max_rows} more (see report.html or report.csv)")
    else:
        parts.append("No host needs action.")
    return "\n\n".join(parts) + "\n"


def print_summary(results: RunResults, stream: TextIO | None = None, *,
                  max_rows: int = DEFAULT_ACTION_ROWS) -> None:
    """Print summary_text to `stream` (stdout by default)."""
    (stream or sys.stdout).write(summary_text(results, max_rows=max_rows))
