"""A virtual NTFS view: case-insensitive Windows paths holding exact bytes; directories follow from paths.

Files keep the case they were created with (dir prints it) and are found without regard to case.
A file's bytes are shared, never copied, so a fleet of hosts on the same profile costs one log in memory.
"""

from __future__ import annotations

import ntpath
from dataclasses import dataclass
from datetime import datetime

_MAX_PATH = 32_767  # longer paths do not exist on Windows; refuse them rather than normalise megabytes


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str  # absolute, as created: `C:\\Program Files\\...\\wsyncmgr.log`
    data: bytes
    mtime: datetime  # local time of the last write, what dir shows
    denied: bool = False  # its ACL refuses the audit account read access (dir still lists it)


@dataclass(frozen=True, slots=True)
class DirEntry:
    name: str
    is_dir: bool
    size: int
    mtime: datetime


def normalize(path: str, cwd: str) -> str | None:
    """An absolute `X:\\...` path for `path` relative to `cwd`; None for what cmd could not resolve."""
    if len(path) > _MAX_PATH or "\0" in path:
        return None
    path = path.replace("/", "\\")
    if path.startswith("\\\\"):
        return None  # UNC shares are not part of the virtual host
    if len(path) >= 2 and path[1] == ":":
        if len(path) == 2 or path[2] != "\\":
            path = path[:2] + "\\" + path[2:]  # drive-relative: each drive's cwd is its root here
    elif path.startswith("\\"):
        path = cwd[:2] + path
    else:
        path = ntpath.join(cwd, path)
    norm = ntpath.normpath(path)
    if len(norm) < 3 or norm[1] != ":":
        return None
    return norm[0].upper() + norm[1:]


class FileSystem:
    """All files of one machine; directories are every ancestor of a file, plus any added explicitly."""

    def __init__(self, default_mtime: datetime) -> None:
        self._files: dict[str, FileEntry] = {}
        self._dirs: dict[str, tuple[str, datetime]] = {}
        self._default_mtime = default_mtime

    def add_file(self, path: str, data: bytes, mtime: datetime | None = None) -> None:
        norm = normalize(path, "C:\\")
        if norm is None or len(norm) <= 3:
            raise ValueError(f"not an absolute file path: {path!r}")
        when = mtime or self._default_mtime
        self._files[norm.casefold()] = FileEntry(norm, data, when)
        parent = ntpath.dirname(norm)
        self.add_dir(parent, when)
        real, stamp = self._dirs[parent.casefold()]
        self._dirs[parent.casefold()] = (real, max(stamp, when))  # creating a file touches its folder

    def add_dir(self, path: str, mtime: datetime | None = None) -> None:
        norm = normalize(path, "C:\\")
        if norm is None:
            raise ValueError(f"not an absolute directory path: {path!r}")
        while True:
            self._dirs.setdefault(norm.casefold(), (norm, mtime or self._default_mtime))
            parent = ntpath.dirname(norm)
            if parent == norm:
                break
            norm = parent

    def deny(self, path: str) -> None:
        """Refuse the audit account read access to an existing file."""
        entry = self._files.get(path.casefold())
        if entry is not None:
            self._files[path.casefold()] = FileEntry(entry.path, entry.data, entry.mtime, denied=True)

    def file(self, path: str) -> FileEntry | None:
        return self._files.get(path.casefold())

    def is_dir(self, path: str) -> bool:
        return path.casefold() in self._dirs

    def dir_mtime(self, path: str) -> datetime:
        return self._dirs.get(path.casefold(), (path, self._default_mtime))[1]

    def listdir(self, path: str) -> list[DirEntry]:
        """The entries directly inside directory `path` (no `.`/`..`), unsorted."""
        prefix = path.casefold().rstrip("\\") + "\\"
        entries: list[DirEntry] = []
        for folded, entry in self._files.items():
            if folded.startswith(prefix) and "\\" not in folded[len(prefix):]:
                entries.append(DirEntry(ntpath.basename(entry.path), False, len(entry.data), entry.mtime))
        for folded, (real, mtime) in self._dirs.items():
            if folded.startswith(prefix) and folded != prefix and "\\" not in folded[len(prefix):]:
                entries.append(DirEntry(ntpath.basename(real), True, 0, mtime))
        return entries

    def files(self) -> dict[str, bytes]:
        """Every file's path (as created) and bytes; a fresh dict, the bytes shared."""
        return {entry.path: entry.data for entry in self._files.values()}
