"""cmd's `dir`: the volume header, one line per entry, the File(s)/Dir(s) summary; `/b` bare, `/s` recursive."""

from __future__ import annotations

import fnmatch
import ntpath
from datetime import datetime

from simulator.filesystem import DirEntry, normalize
from simulator.programs import Console, Host, Invocation, split_args
from simulator.programs.paths import has_wildcard

_IGNORED_SWITCHES = ("/a", "/o", "/t", "/q", "/n", "/x", "/l", "/4")


def _stamp(when: datetime) -> str:
    return when.strftime("%m/%d/%Y  %I:%M %p")


def _thousands(number: int, separators: bool) -> str:
    return f"{number:,}" if separators else str(number)


def _entry_line(entry: DirEntry, separators: bool) -> str:
    if entry.is_dir:
        return f"{_stamp(entry.mtime)}    <DIR>          {entry.name}\r\n"
    return f"{_stamp(entry.mtime)} {_thousands(entry.size, separators):>17} {entry.name}\r\n"


def _targets(host: Host, path: str) -> tuple[str, list[DirEntry]] | None:
    """(directory listed, entries) or None when the path's directory does not exist."""
    if host.fs.is_dir(path):
        entries = host.fs.listdir(path)
        if len(path) > 3:
            mtime = host.fs.dir_mtime(path)
            parent_mtime = host.fs.dir_mtime(ntpath.dirname(path))
            entries += [DirEntry(".", True, 0, mtime), DirEntry("..", True, 0, parent_mtime)]
        return path, entries
    parent, pattern = ntpath.split(path)
    if not host.fs.is_dir(parent):
        return None
    matches = [e for e in host.fs.listdir(parent) if fnmatch.fnmatch(e.name.casefold(), pattern.casefold())]
    if not has_wildcard(pattern):
        matches = [e for e in matches if e.name.casefold() == pattern.casefold()]
    return parent, matches


def _order(entries: list[DirEntry]) -> list[DirEntry]:
    """NTFS returns names in upper-case collation order; `.` and `..` come first."""
    dots = [e for e in entries if e.name in (".", "..")]
    dots.sort(key=lambda e: len(e.name))
    rest = sorted((e for e in entries if e.name not in (".", "..")), key=lambda e: e.name.upper())
    return dots + rest


def _walk(host: Host, top: str) -> list[str]:
    """`top` and every folder below it, depth first in NTFS order (what `dir /s` visits)."""
    found = [top]
    for entry in _order(host.fs.listdir(top)):
        if entry.is_dir:
            found.extend(_walk(host, ntpath.join(top, entry.name)))
    return found


def _recursive(host: Host, path: str, bare: bool, separators: bool, console: Console) -> int:
    """`dir /s`: one block per folder holding matches, then the grand total."""
    if host.fs.is_dir(path):
        top, pattern = path, "*"
    else:
        top, pattern = ntpath.split(path)
    if not host.fs.is_dir(top):
        console.err("File Not Found\r\n")
        return 1
    files_total = bytes_total = dirs_total = 0
    for folder in _walk(host, top):
        entries = host.fs.listdir(folder)
        if pattern == "*" and len(folder) > 3:
            entries += [DirEntry(".", True, 0, host.fs.dir_mtime(folder)),
                        DirEntry("..", True, 0, host.fs.dir_mtime(ntpath.dirname(folder)))]
        matches = _order([e for e in entries if fnmatch.fnmatch(e.name.casefold(), pattern.casefold())])
        if not matches:
            continue
        if bare:
            for entry in matches:
                if entry.name not in (".", ".."):
                    console.out(f"{ntpath.join(folder, entry.name)}\r\n")
            files_total += len(matches)
            continue
        console.out(f"\r\n Directory of {folder}\r\n\r\n")
        for entry in matches:
            console.out(_entry_line(entry, separators))
        files = [e for e in matches if not e.is_dir]
        size = sum(e.size for e in files)
        console.out(f"{len(files):>16} File(s) {_thousands(size, separators):>14} bytes\r\n")
        files_total += len(files)
        bytes_total += size
        dirs_total += len(matches) - len(files)
    if not files_total and not dirs_total:
        console.err("File Not Found\r\n")
        return 1
    if not bare:
        console.out(f"\r\n     Total Files Listed:\r\n"
                    f"{files_total:>16} File(s) {_thousands(bytes_total, separators):>14} bytes\r\n"
                    f"{dirs_total:>16} Dir(s) {_thousands(host.free_bytes, separators):>15} bytes free\r\n")
    return 0


def dir_(host: Host, invocation: Invocation, console: Console) -> int:
    bare = recurse = False
    separators = True
    paths: list[str] = []
    for arg in split_args(invocation.args.replace("/", " /")):
        lowered = arg.lower()
        if lowered == "/b":
            bare = True
        elif lowered == "/s":
            recurse = True
        elif lowered == "/-c":
            separators = False
        elif lowered.startswith(_IGNORED_SWITCHES) or lowered in ("/w", "/d", "/p"):
            continue
        elif lowered.startswith("/"):
            console.err(f'Invalid switch - "{arg[1:]}".\r\n')
            return 1
        else:
            paths.append(arg)
    exit_code = 0
    header_done = False
    for arg in paths or ["."]:
        path = normalize(arg, invocation.cwd)
        if path is None or not host.fs.is_dir(path[:3]):
            console.err("The system cannot find the path specified.\r\n")
            exit_code = 1
            continue
        if not bare and not header_done:
            console.out(f" Volume in drive {path[0].upper()} has no label.\r\n"
                        f" Volume Serial Number is {host.volume_serial}\r\n")
            header_done = True
        if recurse:
            exit_code = _recursive(host, path, bare, separators, console) or exit_code
            continue
        found = _targets(host, path)
        if found is None:
            console.err("The system cannot find the path specified.\r\n" if not bare else "File Not Found\r\n")
            exit_code = 1
            continue
        directory, entries = found
        if not bare:
            console.out(f"\r\n Directory of {directory}\r\n\r\n")
        if not entries:
            console.err("File Not Found\r\n")
            exit_code = 1
            continue
        ordered = _order(entries)
        if bare:
            for entry in ordered:
                if entry.name not in (".", ".."):
                    console.out(f"{entry.name}\r\n")
            continue
        files = [e for e in ordered if not e.is_dir]
        for entry in ordered:
            console.out(_entry_line(entry, separators))
        total = sum(e.size for e in files)
        dirs = len(ordered) - len(files)
        console.out(f"{len(files):>16} File(s) {_thousands(total, separators):>14} bytes\r\n"
                    f"{dirs:>16} Dir(s) {_thousands(host.free_bytes, separators):>15} bytes free\r\n")
    return exit_code
