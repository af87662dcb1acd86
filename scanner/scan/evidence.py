"""Raw logs kept as evidence: gzip per host under the run folder, with the SHA-256 of the raw bytes.

An admin attaches `evidence/<host>/wsyncmgr.log.gz` to a ticket and anyone can check it against the
hash in results.json (`gunzip -c | sha256sum`). The gzip is written with ISA-L (the `isal` package, an
ordinary gzip file any gunzip reads) where it is installed, as it needs a fraction of zlib's CPU for a
smaller file (the gzip table of bench/RESULTS.md); without it, the standard library's zlib at level 3.
Files are written to a temporary name and renamed, so an interrupted run never leaves a half-written copy
under the final name; they get the user's umask, and no symbolic link planted in the run folder
(`evidence -> /etc`) is ever followed.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import os
import re
from pathlib import Path, PureWindowsPath
from typing import IO, Any, cast

from reports.atomic import create_temp, create_temp_at
from scanner.model.records import LogFileFact

try:  # ISA-L's gzip: a well-kept binding with wheels for the usual jump boxes; zlib where it is missing
    from isal.igzip import IGzipFile as _GzipFile

    GZIP_LEVEL = 1  # ISA-L's cheapest level that compresses as well as its higher ones (bench/RESULTS.md)
except ImportError:  # pragma: no cover - isal is a dependency; a platform without its wheel falls back
    _GzipFile = gzip.GzipFile  # type: ignore[misc,assignment]
    GZIP_LEVEL = 3  # zlib: far less CPU than its default 6 for a slightly bigger file (bench/RESULTS.md)

EVIDENCE_DIR = "evidence"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Names Windows gives to devices, also with any extension (`nul.example` is NUL, `con.log` is CON): a folder by
# such a name cannot be made, and a file by such a name is the device (what is written to it is gone).
_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))})
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
_BY_DESCRIPTOR = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW")


def _not_a_device(name: str) -> str:
    """`name`, or `_name` where Windows would take it for a device."""
    return f"_{name}" if name.split(".", 1)[0].upper() in _DEVICES else name


def safe_component(text: str, fallback: str = "host") -> str:
    """A file-name component on Linux and Windows alike (no separators, no `..`, no device name, bounded)."""
    cleaned = _UNSAFE.sub("_", text).strip("._")[:100]
    return _not_a_device(cleaned) if cleaned else fallback


def host_dir_name(stable_name: str) -> str:
    """The host's evidence folder: its name when that is already safe, else a safe form plus a hash of
    the real name, so two hosts whose names differ only in replaced characters never share a folder."""
    plain = stable_name.replace(":", "_")
    cleaned = safe_component(plain)
    if cleaned == plain:
        return cleaned
    return f"{cleaned[:90]}-{hashlib.sha256(stable_name.encode('utf-8')).hexdigest()[:8]}"


def evidence_file_name(remote_path: str) -> str:
    """`wsyncmgr.lo_` -> `wsyncmgr.lo_.gz`: the server's file name, made safe, with every character kept
    that tells the rolled half from the current one."""
    name = _UNSAFE.sub("_", PureWindowsPath(remote_path).name).strip(".")[:100]
    return _not_a_device(name or "log") + ".gz"


def _refuse_link(path: Path, exc: OSError) -> OSError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return OSError(exc.errno, f"{path} is a symbolic link or not a folder; evidence never follows one")
    return exc


def _open_folder(parent_fd: int, parent: Path, name: str) -> int:
    """Open (creating it if needed) the sub-folder `name` of an open folder, refusing a symbolic link."""
    try:
        os.mkdir(name, dir_fd=parent_fd)
    except FileExistsError:
        pass
    try:
        return os.open(name, _DIR_FLAGS | getattr(os, "O_NOFOLLOW", 0), dir_fd=parent_fd)
    except OSError as exc:
        raise _refuse_link(parent / name, exc) from None


def _gzip_into(raw: IO[bytes], original_name: str, data: bytes) -> None:
    """`data` as one gzip member (the original file name in its header, no time stamp) written to `raw`."""
    gz: Any = cast(Any, _GzipFile)(filename=original_name, mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL)
    with gz:
        gz.write(data)


def _write_at(folder_fd: int, name: str, data: bytes) -> None:
    """gzip `data` into `name` inside an open folder: temp file, then rename (both relative to the folder)."""
    fd, tmp = create_temp_at(folder_fd, name)
    try:
        with os.fdopen(fd, "wb") as raw:
            _gzip_into(raw, name[:-3], data)
        os.replace(tmp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=folder_fd)
        raise


def _save_by_descriptor(run_dir: Path, host_dir: str, name: str, data: bytes) -> None:
    """POSIX: every step relative to an open folder, so a link planted in the run folder is never followed."""
    fd = os.open(run_dir, _DIR_FLAGS)
    try:
        for part in (EVIDENCE_DIR, host_dir):
            child = _open_folder(fd, run_dir, part)
            os.close(fd)
            fd = child
            run_dir = run_dir / part
        _write_at(fd, name, data)
    finally:
        os.close(fd)


def _save_by_path(run_dir: Path, host_dir: str, name: str, data: bytes) -> None:
    """Where folders cannot be opened (Windows): check each folder is not a link, then write by path."""
    folder = run_dir
    for part in (EVIDENCE_DIR, host_dir):
        folder = folder / part
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
        if folder.is_symlink() or not folder.is_dir():
            raise OSError(errno.ELOOP, f"{folder} is a symbolic link or not a folder; evidence never follows one")
    fd, tmp = create_temp(folder, name)
    try:
        with os.fdopen(fd, "wb") as raw:
            _gzip_into(raw, name[:-3], data)
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_log(run_dir: Path, host_key: str, remote_path: str, data: bytes, *, truncated: bool) -> LogFileFact:
    """Write `data` gzipped under run_dir/evidence/<host>/ and describe it for results.json.

    Raises OSError when it cannot be saved, also when a folder on the way is a symbolic link.
    """
    digest = hashlib.sha256(data).hexdigest()
    host_dir = host_dir_name(host_key)
    name = evidence_file_name(remote_path)
    if _BY_DESCRIPTOR:
        _save_by_descriptor(run_dir, host_dir, name, data)
    else:
        _save_by_path(run_dir, host_dir, name, data)
    return LogFileFact(path=remote_path, size=len(data), sha256=digest, truncated=truncated,
                       saved_as=f"{EVIDENCE_DIR}/{host_dir}/{name}")
