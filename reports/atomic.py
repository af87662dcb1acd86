"""Write report files so a reader never sees half a file.

A scheduled run may be killed, or the disk may fill, while a report is written; an admin may have
yesterday's report open from a file share. Writing a temp file in the same folder, flushing it to
disk and then renaming it over the target means the old file stays whole until the new one is.
`os.replace` is atomic on POSIX and replaces an existing file on Windows too.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from pathlib import Path

_NEW_FILE_MODE = 0o644  # reports are meant to be read by others (a share, a web server); no secrets in them


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace `path` with `data` all at once; on any failure the old file is left as it was."""
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _copy_mode(target, tmp_name)
        _replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Text variant of atomic_write_bytes; unencodable characters (lone surrogates) become '?'."""
    atomic_write_bytes(path, text.encode(encoding, errors="replace"))


def _replace(src: str, dst: Path) -> None:
    """os.replace; on Windows a virus scanner or indexer may hold the old file for a moment, so retry briefly.

    A file held open for good (report.csv open in Excel) still fails after ~1.5 s, with the old file intact.
    """
    delays = (0.05, 0.1, 0.2, 0.4, 0.8) if os.name == "nt" else ()
    for delay in delays:
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            time.sleep(delay)
    os.replace(src, dst)


def _copy_mode(target: Path, tmp_name: str) -> None:
    """mkstemp creates 0600 files: keep an existing report's mode, else use a readable default."""
    if os.name == "nt":  # Windows has ACLs, not modes; the temp file inherits the folder's ACL
        return
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = _NEW_FILE_MODE
    os.chmod(tmp_name, mode)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows cannot open a folder for fsync."""
    if os.name == "nt":
        return
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
