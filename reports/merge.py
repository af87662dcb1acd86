"""Read results files and merge several into one consolidated run.

One jump box per network zone scans its part of the estate; `cmaudit report a.json b.json -o all/`
gives one report for the whole estate. A host scanned by more than one run (same name, case-folded,
and port) is taken from the newest run (meta.finished, else meta.started; on a tie the file named
later wins). A name that one run holds twice on the same port (one name at two addresses) is matched by
its address as well, so neither host is lost to the other. The merge is recorded in meta.merged_from,
one line per source file.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scanner.model.host import normalise_address
from scanner.model.records import HostResult, ResultsFormatError, RunMeta, RunResults, results_from_dict
from scanner.model.times import parse_utc

MAX_RESULTS_BYTES = 256 << 20  # 5,000 hosts are 8 MB (bench/RESULTS.md): room for 100,000 with long evidence
_OLDEST = datetime.min.replace(tzinfo=UTC)


class ResultsFileError(ResultsFormatError):
    """A results file that cannot be read or merged; str() is one line naming the file."""


@dataclass(frozen=True, slots=True)
class Source:
    """One results file given to `cmaudit report`."""

    path: str
    results: RunResults


def _read_capped(path: str | os.PathLike[str], name: str) -> bytes:
    """The file's bytes, refusing devices and anything over MAX_RESULTS_BYTES before reading it all."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISDIR(st.st_mode):
                raise ResultsFileError(f"{name}: not a regular file (a device or folder); not a results file")
            if stat.S_ISREG(st.st_mode) and st.st_size > MAX_RESULTS_BYTES:
                raise ResultsFileError(f"{name}: larger than {MAX_RESULTS_BYTES:,} bytes; not a results file")
            chunks: list[bytes] = []
            total = 0
            while chunk := fh.read(1 << 20):  # a pipe's size is unknown: read it a bounded piece at a time
                total += len(chunk)
                if total > MAX_RESULTS_BYTES:
                    raise ResultsFileError(f"{name}: larger than {MAX_RESULTS_BYTES:,} bytes; not a results file")
                chunks.append(chunk)
    except OSError as exc:
        raise ResultsFileError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    return b"".join(chunks)


def load_results(path: str | os.PathLike[str]) -> RunResults:
    """Read one results.json; any problem is a ResultsFileError naming the file."""
    name = os.fspath(path)
    raw = _read_capped(path, name)
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ResultsFileError(f"{name}: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except RecursionError as exc:
        raise ResultsFileError(f"{name}: JSON nested too deeply") from exc
    try:
        return results_from_dict(doc)
    except ResultsFormatError as exc:
        raise ResultsFileError(f"{name}: {exc}") from exc
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a field of the wrong JSON type
        raise ResultsFileError(f"{name}: malformed results file: {type(exc).__name__}: {exc}") from exc


HostKey = tuple[str, int, str]


def name_and_port(name: str, port: int) -> tuple[str, int]:
    """A host as runs usually match it: its inventory name, case-folded, and its port."""
    return name.strip().casefold(), port


def shared_names(*runs: Iterable[tuple[str, int]]) -> frozenset[tuple[str, int]]:
    """The (name, port) pairs some one run holds more than once: one name at two addresses."""
    shared: set[tuple[str, int]] = set()
    for run in runs:
        counts = Counter(name_and_port(name, port) for name, port in run)
        shared.update(key for key, n in counts.items() if n > 1)
    return frozenset(shared)


def match_key(name: str, address: str, port: int, shared: frozenset[tuple[str, int]] = frozenset()) -> HostKey:
    """The same server in two runs: name and port, plus the address when a run holds that name twice."""
    key = name_and_port(name, port)
    return (*key, normalise_address(address) if key in shared else "")


def host_key(host: HostResult, shared: frozenset[tuple[str, int]] = frozenset()) -> HostKey:
    """match_key of a result (`shared`: what shared_names answers for every run being matched)."""
    return match_key(host.host, host.address, host.port, shared)


def result_names(hosts: Iterable[HostResult]) -> list[tuple[str, int]]:
    return [(h.host, h.port) for h in hosts]


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
