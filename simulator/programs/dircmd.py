"""cmd's `dir`: the volume header, one line per entry, the File(s)/Dir(s) summary; `/b` bare, `/s` recursive."""

from __future__ import annotations

import fnmatch
import ntpath
from dataclasses import dataclass
from datetime import datetime

from simulator.filesystem import DirEntry, normalize
from simulator.programs import Console, Host, Invocation, split_args
from simulator.programs.paths import has_wildcard

_IGNORED_SWITCHES = ("/a", "/o", "/t", "/q", "/n", "/x", "/l", "/4")


_INTERNATIONAL = r"HKCU\Control Panel\International"


@dataclass(frozen=True, slots=True)
class _Style:
    """How the shell account's locale makes dir write dates, times and sizes (en-US when its key is absent)."""

    order: str = "MDY"
    separator: str = "/"
    clock24: bool = False
    am: str = "AM"
    pm: str = "PM"
    thousands: str = ","

    def stamp(self, when: datetime) -> str:
        fields = {"M": f"{when.month:02d}", "D": f"{when.day:02d}", "Y": f"{when.year:04d}"}
        day = self.separator.join(fields[c] for c in self.order)
        if self.clock24:
            return f"{day}  {when:%H:%M}"
        return f"{day}  {when:%I:%M} {self.pm if when.hour >= 12 else self.am}"

    def number(self, value: int, separators: bool) -> str:
        return f"{value:,}".replace(",", self.thousands) if separators else str(value)


def _style(host: Host) -> _Style:
    key = host.registry.open_key(_INTERNATIONAL)
    if key is None:
        return _Style()

    def text(name: str, default: str) -> str:
        value = key.value(name) if key is not None else None
        return str(value.data) if value is not None else default

    short = text("sShortDate", "M/d/yyyy")
    order = "".join(dict.fromkeys(c for c in short.upper() if c in "MDY")) or "MDY"
    return _Style(order, text("sDate", "/"), "H" in text("sTimeFormat", "h:mm:ss tt"), text("s1159", "AM"),
                  text("s2359", "PM"), text("sThousand", ","))


def _entry_line(entry: DirEntry, separators: bool, style: _Style) -> str:
    if entry.is_dir:
        return f"{style.stamp(entry.mtime)}    <DIR>          {entry.name}\r\n"
    return f"{style.stamp(entry.mtime)} {style.number(entry.size, separators):>17} {entry.name}\r\n"


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


@dataclass(slots=True)
class _Run:
    """One `dir` invocation: its switches, the account's style, where it writes."""

    host: Host
    console: Console
    style: _Style
    bare: bool = False
    recurse: bool = False
    separators: bool = True

    def line(self, entry: DirEntry) -> str:
        return _entry_line(entry, self.separators, self.style)

    def number(self, value: int) -> str:
        return self.style.number(value, self.separators)

    def listing(self, folder: str, matches: list[DirEntry]) -> tuple[int, int]:
        """One folder's lines (bare: full paths when recursing, else names); (files, bytes) listed."""
        files = [e for e in matches if not e.is_dir]
        if self.bare:
            for entry in matches:
                if entry.name not in (".", ".."):
                    self.console.out(f"{ntpath.join(folder, entry.name) if self.recurse else entry.name}\r\n")
            return len(matches), 0
        for entry in matches:
            self.console.out(self.line(entry))
        size = sum(e.size for e in files)
        self.console.out(f"{len(files):>16} File(s) {self.number(size):>14} bytes\r\n")
        return len(files), size

    def free(self, dirs: int) -> str:
        return f"{dirs:>16} Dir(s) {self.number(self.host.free_bytes):>15} bytes free\r\n"


def _folder_matches(host: Host, folder: str, pattern: str) -> list[DirEntry]:
    entries = host.fs.listdir(folder)
    if pattern == "*" and len(folder) > 3:
        entries += [DirEntry(".", True, 0, host.fs.dir_mtime(folder)),
                    DirEntry("..", True, 0, host.fs.dir_mtime(ntpath.dirname(folder)))]
    return _order([e for e in entries if fnmatch.fnmatch(e.name.casefold(), pattern.casefold())])


def _recursive(run: _Run, path: str) -> int:
    """`dir /s`: one block per folder holding matches, then the grand total."""
    host, console = run.host, run.console
    top, pattern = (path, "*") if host.fs.is_dir(path) else ntpath.split(path)
    if not host.fs.is_dir(top):
        console.err("File Not Found\r\n")
        return 1
    files_total = bytes_total = dirs_total = 0
    for folder in _walk(host, top):
        matches = _folder_matches(host, folder, pattern)
        if not matches:
            continue
        if not run.bare:
            console.out(f"\r\n Directory of {folder}\r\n\r\n")
        files, size = run.listing(folder, matches)
        files_total, bytes_total = files_total + files, bytes_total + size
        dirs_total += 0 if run.bare else len(matches) - files
    if not files_total and not dirs_total:
        console.err("File Not Found\r\n")
        return 1
    if not run.bare:
        console.out(f"\r\n     Total Files Listed:\r\n{files_total:>16} File(s) {run.number(bytes_total):>14} bytes\r\n"
                    + run.free(dirs_total))
    return 0


def _switches(run: _Run, args: str) -> list[str] | str:
    """The paths to list, or the switch dir refuses."""
    paths: list[str] = []
    for arg in split_args(args.replace("/", " /")):
        lowered = arg.lower()
        if lowered in ("/b", "/s", "/-c"):
            run.bare, run.recurse = run.bare or lowered == "/b", run.recurse or lowered == "/s"
            run.separators = run.separators and lowered != "/-c"
        elif lowered.startswith(_IGNORED_SWITCHES) or lowered in ("/w", "/d", "/p"):
            continue
        elif lowered.startswith("/"):
            return arg
        else:
            paths.append(arg)
    return paths


def _one(run: _Run, path: str) -> int:
    """One path, not recursing: its folder's matching entries, or dir's error."""
    found = _targets(run.host, path)
    if found is None:
        run.console.err("The system cannot find the path specified.\r\n" if not run.bare else "File Not Found\r\n")
        return 1
    directory, entries = found
    if not run.bare:
        run.console.out(f"\r\n Directory of {directory}\r\n\r\n")
    if not entries:
        run.console.err("File Not Found\r\n")
        return 1
    ordered = _order(entries)
    files, _size = run.listing(directory, ordered)
    if not run.bare:
        run.console.out(run.free(len(ordered) - files))
    return 0


def dir_(host: Host, invocation: Invocation, console: Console) -> int:
    run = _Run(host, console, _style(host))
    paths = _switches(run, invocation.args)
    if isinstance(paths, str):
        console.err(f'Invalid switch - "{paths[1:]}".\r\n')
        return 1
    exit_code = 0
    header_done = False
    for arg in paths or ["."]:
        path = normalize(arg, invocation.cwd)
        if path is None or not host.fs.is_dir(path[:3]):
            console.err("The system cannot find the path specified.\r\n")
            exit_code = 1
            continue
        if not run.bare and not header_done:
            console.out(f" Volume in drive {path[0].upper()} has no label.\r\n"
                        f" Volume Serial Number is {host.volume_serial}\r\n")
            header_done = True
        exit_code = (_recursive(run, path) if run.recurse else _one(run, path)) or exit_code
    return exit_code
