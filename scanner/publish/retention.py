"""`--keep-runs N`: prune old runs from the history and delete what they wrote (evidence included).

A weekly job with gzip'd logs per host fills a disk in a year. Pruning deletes the database rows in one
transaction first, then each run's files, through the marker its run folder holds (see run_folder):
only files the run wrote, only in a folder cmaudit created, the folder itself only when nothing else
is left in it, and never a folder that holds the current run. `-o /some/shared/dir` must never cost an
admin a file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scanner.history import database as history
from scanner.history.run_folder import release_run


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What pruning removed, and what it left in place and why (one line each)."""

    deleted_runs: tuple[int, ...]
    removed_folders: tuple[Path, ...]
    problems: tuple[str, ...]


def runs_to_prune(db_path: Path | str, keep_runs: int, *, audit: str | None = None,
                  protect: Iterable[int] = ()) -> list[history.RunSummary]:
    """The runs beyond the newest `keep_runs` (of one audit, if given), never a protected one."""
    if keep_runs < 1:
        raise ValueError("keep_runs must be at least 1")
    keep = set(protect)
    runs = history.list_runs(db_path, audit=audit)  # newest first
    return [r for r in runs[keep_runs:] if r.id not in keep]


def prune(db_path: Path | str, keep_runs: int, *, audit: str | None = None,
          protect: Iterable[int] = (), keep_folders: Iterable[Path] = ()) -> PruneResult:
    """Delete old runs from the history, then their files; what is kept, and why, is reported, not raised.

    `keep_folders` (the current run's folder) are never deleted, nor is any folder holding one of them.
    """
    doomed = runs_to_prune(db_path, keep_runs, audit=audit, protect=protect)
    deleted = history.delete_runs(db_path, [r.id for r in doomed])
    removed: list[Path] = []
    problems: list[str] = []
    kept = tuple(keep_folders)
    for run in deleted:
        if not run.output_dir:
            continue
        folder = Path(run.output_dir)
        removed_folder, note = release_run(folder, run.run_uid, protected=kept)
        if removed_folder:
            removed.append(folder)
        if note:
            problems.append(f"run #{run.id}: {note}")
    return PruneResult(deleted_runs=tuple(r.id for r in deleted), removed_folders=tuple(removed),
                       problems=tuple(problems))
