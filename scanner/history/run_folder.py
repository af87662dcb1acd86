"""A run folder's marker: what cmaudit created and wrote there, so retention deletes only that.

Retention must never delete a file cmaudit did not write (`-o share`, `-o ""` name folders that hold the
admin's own files), so every scan leaves a marker, `.cmaudit-run.json`, in its folder:

    {"schema": "cmaudit-run-folder", "version": 1,
     "created_by": "<id of the run that created the folder; null when the folder already existed>",
     "runs": {"<run id>": ["results.json", "report.csv", "evidence/sms01/wsyncmgr.log.gz", ...]}}

Releasing a run (retention) deletes the regular files it listed that no other run of the marker lists,
and only in a folder cmaudit created; empty sub-folders they leave go too, and the folder itself only
when nothing but the marker is left. A folder holding the current run (or one of its ancestors) is
never touched, and neither is a path that leads through a symbolic link.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from reports.atomic import atomic_write_bytes

MARKER = ".cmaudit-run.json"
RESULTS = "results.json"
SCHEMA = "cmaudit-run-folder"
MAX_MARKER_BYTES = 64 * 1024 * 1024  # a file list of 100,000 hosts' evidence fits many times over


class MarkerError(ValueError):
    """A marker file that cannot be read or is not cmaudit's; str() is one line naming the folder."""


@dataclass(frozen=True, slots=True)
class FolderMarker:
    """Who created a run folder and which files each run wrote into it (relative POSIX paths)."""

    created_by: str | None
    runs: dict[str, tuple[str, ...]] = field(default_factory=dict)


def holds_a_run(folder: Path) -> bool:
    """An earlier run's folder: it holds cmaudit's marker or a results.json."""
    return any(os.path.lexists(folder / name) for name in (MARKER, RESULTS))


def read_marker(folder: Path) -> FolderMarker | None:
    """The folder's marker; None when there is none. Raises MarkerError when it is not a readable marker."""
    path = folder / MARKER
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MarkerError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise MarkerError(f"{path}: not a regular file")
        if st.st_size > MAX_MARKER_BYTES:
            raise MarkerError(f"{path}: larger than {MAX_MARKER_BYTES} bytes")
        raw = fh.read(st.st_size + 1)  # not read(cap): CPython allocates the whole size asked for up front
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise MarkerError(f"{path}: not JSON") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise MarkerError(f"{path}: not a cmaudit run-folder marker")
    created_by, runs = doc.get("created_by"), doc.get("runs")
    if created_by is not None and not isinstance(created_by, str) or not isinstance(runs, dict):
        raise MarkerError(f"{path}: malformed marker")
    parsed: dict[str, tuple[str, ...]] = {}
    for run_id, files in runs.items():
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise MarkerError(f"{path}: malformed file list for run {run_id[:40]!r}")
        parsed[run_id] = tuple(files)
    return FolderMarker(created_by, parsed)


def _write(folder: Path, marker: FolderMarker) -> None:
    doc = {"schema": SCHEMA, "version": 1, "created_by": marker.created_by,
           "runs": {run_id: list(files) for run_id, files in marker.runs.items()}}
    atomic_write_bytes(folder / MARKER, json.dumps(doc, indent=1).encode("utf-8"))


def start_run(folder: Path, run_id: str, *, created: bool) -> None:
    """Mark `folder` as holding `run_id` (created: cmaudit made the folder for it). Raises OSError."""
    try:
        existing = read_marker(folder)
    except MarkerError:
        existing = None  # an unreadable marker: start afresh, claiming nothing that was there before
    created_by = run_id if created else (existing.created_by if existing else None)
    runs = dict(existing.runs) if existing else {}
    runs.setdefault(run_id, ())
    _write(folder, FolderMarker(created_by, runs))


def record_files(folder: Path, run_id: str, files: Iterable[str]) -> None:
    """Add the files `run_id` wrote (relative to `folder`) to its list. Raises OSError or MarkerError."""
    marker = read_marker(folder) or FolderMarker(None)
    runs = dict(marker.runs)
    runs[run_id] = tuple(dict.fromkeys((*runs.get(run_id, ()), *files)))
    _write(folder, FolderMarker(marker.created_by, runs))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _listed_file(folder: Path, rel: str) -> Path | None:
    """`folder/rel` when rel is a plain relative path whose every folder is a real one (no link, no `..`)."""
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or any(p in ("..", ".", "") for p in parts):
        return None
    current = folder
    for part in parts[:-1]:
        current = current / part
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):  # a symbolic link is not a folder here
                return None
        except OSError:
            return None
    return current / parts[-1]


# Why a folder is left as it is, checked in this order once its marker is read: (applies?, note) rows.
_KEEP_RULES: tuple[tuple[Callable[[FolderMarker | None, str], bool], str], ...] = (
    (lambda marker, _run: marker is None, f"it holds no {MARKER}, so cmaudit did not create it; nothing deleted"),
    (lambda marker, run: marker is not None and run not in marker.runs,
     f"its {MARKER} does not list this run; nothing deleted"),
    (lambda marker, _run: marker is not None and marker.created_by is None,
     "it existed before cmaudit wrote into it; nothing deleted"),
)


def _read_for_release(folder: Path, run_id: str, protected: Iterable[Path]) -> tuple[FolderMarker | None, str | None]:
    """The folder's marker when this run's files may be deleted; else (None, why it is kept, or None when gone)."""
    real = os.path.realpath(folder)
    for keep in protected:
        if _within(os.path.realpath(keep), real):
            return None, f"kept {folder}: it holds the current run's folder {keep}"
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return None, f"kept {folder}: not a folder (a link or file stands there now)"
        marker = read_marker(folder)
    except FileNotFoundError:
        return None, None
    except (OSError, MarkerError) as exc:
        return None, f"kept {folder}: {exc}"
    for applies, why in _KEEP_RULES:
        if applies(marker, run_id):
            return None, f"kept {folder}: {why}"
    return marker, None


def _delete_listed(folder: Path, run_id: str, marker: FolderMarker) -> list[str]:
    """Delete the regular files only `run_id` listed, then the sub-folders they leave empty; the failures."""
    others = {f for other, files in marker.runs.items() if other != run_id for f in files}
    emptied: set[Path] = set()
    failures: list[str] = []
    for rel in marker.runs[run_id]:
        path = _listed_file(folder, rel) if rel not in others else None
        if path is None:
            continue
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue  # something else stands where cmaudit's file was: not ours to delete
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            failures.append(f"{path}: {exc.strerror or exc}")
            continue
        emptied.update(p for p in path.parents if _within(str(p), str(folder)) and p != folder)
    for sub in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()  # only ever removes an empty folder
    return failures


def _after_release(folder: Path, marker: FolderMarker, run_id: str, failures: list[str]) -> tuple[bool, str | None]:
    """Remove the folder when nothing else is left in it, else write the marker without the run; say why kept."""
    remaining = {other: files for other, files in marker.runs.items() if other != run_id}
    try:
        left = sorted(os.listdir(folder))
    except OSError as exc:
        return False, f"kept {folder}: cannot list it: {exc.strerror or exc}"
    if not remaining and left == [MARKER] and not failures:
        try:
            (folder / MARKER).unlink()
            folder.rmdir()
            return True, None
        except OSError as exc:
            return False, f"could not delete {folder}: {exc.strerror or exc}"
    try:
        _write(folder, FolderMarker(marker.created_by, remaining))
    except OSError as exc:
        failures.append(f"{folder / MARKER}: {exc.strerror or exc}")
    if failures:
        return False, f"could not fully delete run files in {folder}: {failures[0]}"
    if remaining:
        return False, None  # another run (-o ... --force) still uses the folder
    foreign = [name for name in left if name != MARKER]
    shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
    return False, f"kept {folder}: it holds files cmaudit did not write ({shown}); only this run's files were deleted"


def release_run(folder: Path, run_id: str, *, protected: Iterable[Path] = ()) -> tuple[bool, str | None]:
    """Delete what `run_id` wrote into `folder` (see the module docstring).

    Returns (folder removed, a one-line note on what was kept and why, or None).
    """
    marker, kept = _read_for_release(folder, run_id, protected)
    if marker is None:
        return False, kept
    return _after_release(folder, marker, run_id, _delete_listed(folder, run_id, marker))
