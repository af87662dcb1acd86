"""Write report files so a reader never sees half a file.

A scheduled run may be killed, or the disk may fill, while a report is written; an admin may have
yesterday's report open from a file share. Writing a temp file in the same folder, flushing it to
disk and then renaming it over the target means the old file stays whole until the new one is.
`os.replace` is atomic on POSIX and replaces an existing file on Windows too. New files get the
user's umask (mode 0666 & ~umask, as any other program's files): `umask 077` keeps reports private.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from pathlib import Path

_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def create_temp(folder: str | os.PathLike[str], name: str) -> tuple[int, str]:
    """A new temporary file in `folder` for the file `name`: (descriptor, path).

    Created exclusively (never through a link planted under the same name) with mode 0666, which the
    kernel reduces by the user's umask, unlike tempfile.mkstemp's fixed 0600.
    """
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free temporary name for {name}")


def create_temp_at(folder_fd: int, name: str) -> tuple[int, str]:
    """create_temp relative to an open folder (POSIX `dir_fd`): (descriptor, name inside that folder)."""
    for _ in range(100):
        tmp = f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666, dir_fd=folder_fd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {name}")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace `path` with `data` all at once; on any failure the old file is left as it was."""
    target = Path(path)
    fd, tmp_name = create_temp(target.parent, target.name)
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
    """Keep an existing report's mode (an admin may have opened it to a group); a new one keeps the umask's."""
    if os.name == "nt":  # Windows has ACLs, not modes; the temp file inherits the folder's ACL
        return
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode):  # a link planted under the report's name is replaced, never followed
        os.chmod(tmp_name, stat.S_IMODE(st.st_mode))


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
