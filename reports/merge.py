"""Merge several results files into one consolidated run (reading one is scanner.model.results_file's job).

One jump box per network zone scans its part of the estate; `cmaudit report a.json b.json -o all/`
gives one report for the whole estate. A host scanned by more than one run (same name, case-folded,
and port) is taken from the newest run (meta.finished, else meta.started; on a tie the file named
later wins). A name that one run holds twice on the same port (one name at two addresses) is matched by
its address as well, so neither host is lost to the other. The merge is recorded in meta.merged_from,
one line per source file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scanner.model.records import HostResult, RunMeta, RunResults
from scanner.model.results_file import ResultsFileError, load_results
from scanner.model.run_match import HostKey, host_key, result_names, shared_names
from scanner.model.times import parse_utc

_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Source:
    """One results file given to `cmaudit report`."""

    path: str
    results: RunResults


def parse_time(value: str | None) -> datetime:
    """An ISO 8601 time as an aware datetime; missing or unreadable times count as oldest."""
    return parse_utc(value) or _OLDEST


def run_time(meta: RunMeta) -> datetime:
    """When a run's results were current: its end, else its start."""
    moment = parse_time(meta.finished)
    return moment if moment != _OLDEST else parse_time(meta.started)


def merge_results(sources: Sequence[Source]) -> RunResults:
    """One consolidated run; a single source is returned as it is.

    Raises:
        ResultsFileError: no sources, or results of different advisories (they cannot share a report).
    """
    if not sources:
        raise ResultsFileError("no results files to merge")
    if len(sources) == 1:
        return sources[0].results
    advisories = {s.results.meta.advisory_id for s in sources}
    if len(advisories) > 1:
        listing = ", ".join(f"{s.path} ({s.results.meta.advisory_id})" for s in sources)
        raise ResultsFileError(f"cannot merge results of different advisories: {listing}")

    # oldest first, so a newer run's host replaces an older one's; argument order breaks ties
    ordered = sorted(enumerate(sources), key=lambda item: (run_time(item[1].results.meta), item[0]))
    shared = shared_names(*(result_names(s.results.hosts) for s in sources))
    chosen: dict[HostKey, tuple[int, HostResult]] = {}
    for index, source in ordered:
        for host in source.results.hosts:
            chosen[host_key(host, shared)] = (index, host)
    kept = [0] * len(sources)
    for index, _host in chosen.values():
        kept[index] += 1

    meta = _merged_meta(sources, newest=sources[ordered[-1][0]].results.meta, kept=kept)
    hosts = tuple(host for _index, host in chosen.values())
    return RunResults(meta=meta, hosts=hosts)


def _merged_meta(sources: Sequence[Source], *, newest: RunMeta, kept: Sequence[int]) -> RunMeta:
    """The merged run's metadata: the span of the runs, the newest run's advisory, each source named with its
    run, time and the hosts taken from it; an option, audit or inventory hash only where every run agrees."""
    metas = [s.results.meta for s in sources]
    inventories = list(dict.fromkeys(m.inventory_path for m in metas if m.inventory_path))
    inventory_hashes = {m.inventory_sha256 for m in metas}
    options = metas[0].options if all(m.options == metas[0].options for m in metas) else {}
    finished = [m.finished for m in metas if m.finished]
    return RunMeta(
        run_id="merged-" + hashlib.sha256("\n".join(m.run_id for m in metas).encode()).hexdigest()[:12],
        started=min((m.started for m in metas), key=parse_time),
        finished=max(finished, key=parse_time) if len(finished) == len(metas) else None,  # one never finished
        cmaudit_version=newest.cmaudit_version,
        advisory_id=newest.advisory_id,
        advisory_title=newest.advisory_title,
        advisory_kb=newest.advisory_kb,
        advisory_sha256=newest.advisory_sha256,
        inventory_path="; ".join(inventories) or None,
        inventory_sha256=inventory_hashes.pop() if len(inventory_hashes) == 1 else None,
        options=dict(options),
        insecure=any(m.insecure for m in metas),
        interrupted=any(m.interrupted for m in metas),
        merged_from=tuple(
            f"{s.path}: run {s.results.meta.run_id}, {s.results.meta.finished or s.results.meta.started}, "
            f"{kept[i]} of {len(s.results.hosts)} hosts used"
            for i, s in enumerate(sources)
        ),
        remediation=newest.remediation,
        kb_url=newest.kb_url,
        verdict_text=dict(newest.verdict_text),
        verdict_remediation=dict(newest.verdict_remediation),
        audit=metas[0].audit if all(m.audit == metas[0].audit for m in metas) else None,
    )


def load_and_merge(paths: Sequence[str | os.PathLike[str]]) -> RunResults:
    """load_results for each path (a path given twice counts once), then merge_results."""
    seen: set[Path] = set()
    sources = []
    for path in paths:
        resolved = Path(path).resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        sources.append(Source(os.fspath(path), load_results(path)))
    return merge_results(sources)
