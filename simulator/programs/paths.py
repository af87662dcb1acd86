"""Resolving a typed file argument (relative, any case, `*`/`?` wildcards) against the virtual disk."""

from __future__ import annotations

import fnmatch
import ntpath
from dataclasses import dataclass

from simulator.filesystem import FileEntry, normalize
from simulator.programs import Host


@dataclass(frozen=True, slots=True)
class Resolved:
    """What an argument named: the files (shown as the program prints them) or why nothing."""

    files: list[tuple[str, FileEntry]]
    wildcard: bool
    error: str | None  # "file", "path" (parent missing) or "dir" (names a directory)


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def resolve(host: Host, arg: str, cwd: str) -> Resolved:
    path = normalize(arg, cwd)
    if path is None:
        return Resolved([], False, "path")
    parent, base = ntpath.split(path)
    if not has_wildcard(base):
        entry = host.fs.file(path)
        if entry is not None:
            return Resolved([(arg, entry)], False, None)
        if host.fs.is_dir(path):
            return Resolved([], False, "dir")
        return Resolved([], False, "file" if host.fs.is_dir(parent) else "path")
    if not host.fs.is_dir(parent):
        return Resolved([], True, "path")
    shown_dir = ntpath.dirname(arg.replace("/", "\\"))
    matches: list[tuple[str, FileEntry]] = []
    for listed in sorted(host.fs.listdir(parent), key=lambda e: e.name.upper()):  # NTFS collation
        if listed.is_dir or not fnmatch.fnmatch(listed.name.casefold(), base.casefold()):
            continue
        found = host.fs.file(ntpath.join(parent, listed.name))
        if found is not None:
            matches.append((ntpath.join(shown_dir, listed.name) if shown_dir else listed.name, found))
    return Resolved(matches, True, None if matches else "file")
