"""`--keep-runs N`: prune old runs from the history and delete their run folders (evidence included).

A weekly job with gzip'd logs per host fills a disk in a year. Pruning deletes the database rows in one
transaction first, then the folders. A folder is deleted only when it provably belongs to the pruned
run (its results.json carries that run's id): `-o /some/shared/dir` must never cost an admin a directory.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scanner.weekly import history

_MAX_RESULTS_PEEK = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What pruning removed, and what it left in place and why (one line each)."""

    deleted_runs: tuple[int, ...]
    removed_folders: tuple[Path, ...]
    problems: tuple[str, ...]


def _belongs_to(folder: Path, run_uid: str) -> bool:
    results = folder / "results.json"
    try:
        if not results.is_file() or results.stat().st_size > _MAX_RESULTS_PEEK:
            return False
        doc = json.loads(results.read_bytes())
    except (OSError, ValueError):
        return False
    meta = doc.get("meta") if isinstance(doc, dict) else None
    return isinstance(meta, dict) and meta.get("run_id") == run_uid


def _remove_tree(folder: Path) -> list[str]:
    """rmtree that collects failures instead of stopping at the first (onexc is 3.12+, onerror before)."""
    errors: list[str] = []
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=lambda _f, path, exc: errors.append(f"{path}: {exc}"))
    else:
        shutil.rmtree(folder, onerror=lambda _f, path, info: errors.append(f"{path}: {info[1]}"))
    return errors


def runs_to_prune(db_path: Path | str, keep_runs: int, *, audit: str | None = None,
                  protect: Iterable[int] = ()) -> list[history.RunSummary]:
    """The runs beyond the newest `keep_runs` (of one audit, if given), never a protected one."""
    if keep_runs < 1:
        raise ValueError("keep_runs must be at least 1")
    keep = set(protect)
    runs = history.list_runs(db_path, audit=audit)  # newest first
    return [r for r in runs[keep_runs:] if r.id not in keep]


def prune(db_path: Path | str, keep_runs: int, *, audit: str | None = None,
          protect: Iterable[int] = ()) -> PruneResult:
    """Delete old runs from the history, then their folders; folder problems are reported, not raised."""
    doomed = runs_to_prune(db_path, keep_runs, audit=audit, protect=protect)
    deleted = history.delete_runs(db_path, [r.id for r in doomed])
    removed: list[Path] = []
    problems: list[str] = []
    for run in deleted:
        if not run.output_dir:
            continue
        folder = Path(run.output_dir)
        if not folder.exists():
            continue
        if not _belongs_to(folder, run.run_uid):
            problems.append(f"kept {folder}: its results.json is not run #{run.id}'s, so it is not deleted")
            continue
        errors = _remove_tree(folder)
        if errors:
            problems.append(f"could not fully delete {folder}: {errors[0]}")
        else:
            removed.append(folder)
    return PruneResult(deleted_runs=tuple(r.id for r in deleted), removed_folders=tuple(removed),
                       problems=tuple(problems))
