"""The one interface every report format implements.

A plain Protocol and a dict of instances (see reports/__init__.py): no plugin framework at this size.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from scanner.model.records import VERDICT_ORDER, HostResult, RunMeta, RunResults


class Reporter(Protocol):
    """Renders RunResults to one file in the run's output folder."""

    @property
    def name(self) -> str:
        """Short format name ("csv", "html", "json"): the key in write_reports' answer."""
        ...

    @property
    def filename(self) -> str:
        """The file's name in the output folder, e.g. "report.csv"."""
        ...

    def render(self, results: RunResults) -> bytes:
        """The file's complete content."""
        ...

    def write(self, results: RunResults, path: Path) -> None:
        """Write the report to `path` atomically."""
        ...


_RANK = {verdict: rank for rank, verdict in enumerate(VERDICT_ORDER)}


def action_order(hosts: Iterable[HostResult]) -> list[HostResult]:
    """Hosts needing action first, then the others (waived ones among them), each part in VERDICT_ORDER and by
    name: the order every report lists them in. A waived host never leads "needing action first"."""
    return sorted(hosts, key=lambda h: (not h.needs_action, _RANK.get(h.verdict, len(_RANK)), h.host.casefold(),
                                        h.port))


def needs_action(host: HostResult) -> bool:
    """Findings to fix and hosts to check again, unless waived: what every report counts as "needs action"."""
    return host.needs_action


def why_text(host: HostResult, meta: RunMeta | None = None) -> str:
    """The one-line "why" a host list shows, leading with what differs between hosts: the error if the host
    could not be judged, else its first reason that is not the advisory's headline for the verdict (every
    host of a verdict shares that headline, so it tells one host from another nothing)."""
    if host.error is not None:
        return f"{host.error.category.value}: {host.error.message}"
    headline = meta.verdict_text.get(host.verdict.value) if meta is not None else None
    specific = [r for r in host.reasons if r != headline]
    return (specific or list(host.reasons) or [""])[0]


RESULTS_PLACEHOLDER = "RESULTS.json"  # how scanner.model.remediation's texts name the run's results file


def with_results_path(text: str, results_path: str | None) -> str:
    """A remediation text with the results file it names (`RESULTS.json`) replaced by the real path, quoted
    when it holds a space, so the command it suggests can be pasted as it is."""
    if not results_path or RESULTS_PLACEHOLDER not in text:
        return text
    shown = f'"{results_path}"' if any(ch.isspace() for ch in results_path) else results_path
    return text.replace(RESULTS_PLACEHOLDER, shown)


def results_beside(report_path: Path) -> str:
    """The absolute path of the results.json a report file is written beside: what its hints name."""
    return str(Path(os.path.abspath(report_path)).with_name("results.json"))
