"""What the log command reads besides the logs: ITMU's PkgSource and catalog, updatewuscatalog.exe, and any
registration naming the advisory's KB. Each is a checked section of the same command line as the logs (`dir`,
`type`, `reg query`: read-only), so a healthy host pays for them in bytes, not in round trips.

- ITMU: its setup shares PkgSource as `PackageSrc` (`PackageSrc_N` when another program took that name; the first
  command reads the share list); every such share, then the folder ITMU's documentation and the advisory's log
  show (`%ProgramFiles%\\Microsoft Updates Inventory Tool\\PkgSource`, an assumption), is listed with `dir`. ITMU
  is the first folder holding wsusscn2.cab (exactly that name), else the first named PkgSource; the listing gives
  the catalog's date and size.
- updatewuscatalog.exe (the program the advisory's log shows failing): `dir` for its date and size. Its version
  (in its VS_VERSION_INFO resource, streamed, never kept) costs its size in bytes, a round trip on most hosts,
  so it is read in the follow-up command, and only on a host whose log shows the advisory's failure token and
  where the hotfix left a trace: there "AFFECTED, fix installed, waiting for the next sync" is the question.
- The follow-up command also lists the folder of the catalog the log names, when that is not a folder listed
  already. A healthy host needs no follow-up.
- Update.exe hotfixes register under `HKLM\\SOFTWARE\\Microsoft\\Updates\\<product>\\...` and may leave an
  Uninstall key: both views, filtered here for the KB (reg.exe 3.0 has no `reg query /f`).
A folder or key that is absent is told from one the account may not read by this host's own words for "not
found" (probes of paths that cannot exist, in the same command).
"""

from __future__ import annotations

import ntpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from scanner.model.records import FileStamp
from scanner.winrm.dirlist import DateStyle, file_stamp
from scanner.winrm.hotfix import KbBlocks, VersionFinder, registrations
from scanner.winrm.markers import Section, Sink, checked, checked_names, section

CATALOG = "wsusscn2.cab"
PROGRAM = "updatewuscatalog.exe"
DEFAULT_ITMU = r"Microsoft Updates Inventory Tool\PkgSource"  # below %ProgramFiles% [U]: listed after the shares
MAX_CANDIDATES = 4  # ITMU folders listed: the PackageSrc shares, then the default folder
REGISTRATIONS = {
    "updn": r"HKLM\SOFTWARE\Microsoft\Updates",
    "updw": r"HKLM\SOFTWARE\Wow6432Node\Microsoft\Updates",
    "unin": r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
    "uniw": r"HKLM\SOFTWARE\Wow6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
}
RECURSIVE = ("updn", "updw")  # the Uninstall keys are listed one level deep: their subkey names are enough
# From the last drive letter before the name: an unquoted command line names the program's path first.
_CAB_PATH = re.compile(rb"[A-Za-z]:\\(?:(?![A-Za-z]:\\)[^\"<>|\r\n]){0,512}?\\wsusscn2\.cab", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to read besides the logs, decided from the registry before the log command runs."""

    folders: tuple[str, ...]  # PkgSource folders to list
    shares_read: bool  # the share list was read (so "no folder found" means no ITMU)
    program: str | None  # updatewuscatalog.exe's path
    kb: str  # the advisory's KB, as registrations name it (951376)


@dataclass(frozen=True, slots=True)
class SiteFiles:
    """What those reads showed (None: not known)."""

    itmu_installed: bool | None = None
    itmu_folder: str | None = None
    catalog: FileStamp | None = None
    program: FileStamp | None = None
    hotfix: tuple[str, ...] | None = None
    listed: tuple[str, ...] = ()  # the folders whose listing was read, found or not


def plan(shares: tuple[str, ...] | None, env: Mapping[str, str], install_dir: str | None, kb: str,
         safe: Callable[[str], bool]) -> Plan:
    """Every PackageSrc share (ITMU's setup takes PackageSrc_N when PackageSrc is taken, and another program may own
    PackageSrc), then ITMU's usual folder: up to MAX_CANDIDATES folders, each listed."""
    folders = list(shares or ())
    if env.get("PROGRAMFILES"):
        folders.append(ntpath.join(env["PROGRAMFILES"], DEFAULT_ITMU))
    unique = dict.fromkeys(f for f in folders if safe(f))
    program = ntpath.join(install_dir.strip().rstrip("\\"), "bin", "i386", PROGRAM) if install_dir else None
    return Plan(tuple(unique)[:MAX_CANDIDATES], shares is not None, program if program and safe(program) else None,
                kb)


def dir_probes(nonce: str) -> list[str]:
    """`dir` of a name that cannot exist in C:\\, and of one in a folder that cannot exist: this host's words."""
    return [*checked(nonce, "dprobe", f'dir "C:\\cmaudit-{nonce}.absent"'),
            *checked(nonce, "dpprobe", f'dir "C:\\cmaudit-{nonce}\\absent"')]


def command_parts(nonce: str, p: Plan) -> list[str]:
    parts = dir_probes(nonce)
    for i, folder in enumerate(p.folders):
        parts += checked(nonce, f"itmu{i}", f'dir "{folder}"')
    if p.program:
        parts += checked(nonce, "prog", f'dir "{p.program}"')
    for tag, key in REGISTRATIONS.items():
        parts += checked(nonce, tag, f'reg query "{key}"' + (" /s" if tag in RECURSIVE else ""))
    return parts


def section_names() -> tuple[str, ...]:
    return checked_names("dprobe", "dpprobe", *(f"itmu{i}" for i in range(MAX_CANDIDATES)), "prog", *REGISTRATIONS)


def sinks(p: Plan) -> dict[str, Callable[[], Sink]]:
    """Filters instead of tail buffers: only registrations naming the KB."""
    return {tag: (lambda: KbBlocks(p.kb)) for tag in REGISTRATIONS}


def _absent(answer: Section, not_found: list[str]) -> bool:
    """A failed `dir` whose words are this host's "not found" (English where the probes said nothing)."""
    if not_found:
        return answer.message in not_found
    return "cannot find" in answer.message or "not found" in answer.message


def not_found_words(sections: Mapping[str, Sink], codec: str) -> list[str]:
    probes = [section(sections, name, codec) for name in ("dprobe", "dpprobe")]
    return [p.message for p in probes if p.failed and p.message]


def read(sections: Mapping[str, Sink], p: Plan, codec: str, style: DateStyle, reg_not_found: str) -> SiteFiles:
    """The plan's sections as facts."""
    itmu, folder, catalog = _itmu(sections, p, codec, style)
    program = _program(sections, p, codec, style)
    return SiteFiles(itmu, folder, catalog, program, _hotfix(sections, codec, reg_not_found), p.folders)


def _itmu(sections: Mapping[str, Sink], p: Plan, codec: str,
          style: DateStyle) -> tuple[bool | None, str | None, FileStamp | None]:
    """ITMU: the first folder listed with a wsusscn2.cab in it, else the first one named PkgSource (a share named
    PackageSrc* holding neither is another program's). None where a folder could not be read and none was found."""
    not_found = not_found_words(sections, codec)
    itmu: bool | None = False if p.shares_read else None
    named: str | None = None
    for i, candidate in enumerate(p.folders):
        answer = section(sections, f"itmu{i}", codec)
        if answer.failed:
            itmu = itmu if _absent(answer, not_found) else None  # there, for all we know, but not readable
            continue
        catalog = file_stamp(answer.text, candidate, CATALOG, style)
        if catalog is not None:
            return True, candidate, catalog
        if named is None and ntpath.basename(candidate.rstrip("\\")).casefold() == "pkgsource":
            named = candidate
    return (True, named, None) if named is not None else (itmu, None, None)


def _program(sections: Mapping[str, Sink], p: Plan, codec: str, style: DateStyle) -> FileStamp | None:
    if p.program is None:
        return None
    answer = section(sections, "prog", codec)
    return None if answer.failed else file_stamp(answer.text, ntpath.dirname(p.program), PROGRAM, style)


def _hotfix(sections: Mapping[str, Sink], codec: str, reg_not_found: str) -> tuple[str, ...] | None:
    found: list[str] = []
    for tag, key in REGISTRATIONS.items():
        sink = sections.get(tag)
        if not isinstance(sink, KbBlocks):
            return None  # the command never got this far
        if tag + ".failed" in sections:
            words = Section(bytes(sink.head).decode(codec, "replace"), True).message
            if words != reg_not_found and "unable to find" not in words:
                found.append(f"({key} could not be read: {words[:160]})")
            continue
        found += registrations(bytes(sink.data).decode(codec, "replace"))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What the logs asked for: a catalog folder not listed yet, the program's version."""

    folder: str | None = None
    program: str | None = None

    def parts(self, nonce: str) -> list[str]:
        parts = checked(nonce, "named", f'dir "{self.folder}"') if self.folder else []
        return parts + (checked(nonce, "progbin", f'type "{self.program}"') if self.program else [])


def follow_up(logs: list[bytes], files: SiteFiles, p: Plan, failure_token: bytes, fix_released: str,
              safe: Callable[[str], bool]) -> FollowUp:
    """The follow-up reads these logs call for: none on a healthy host whose catalog folder was listed; the
    program's version only where the logs show the advisory's failure and the hotfix left a trace (a
    registration, or the program written since the fix was released): "fix installed, waiting for the sync"."""
    named = next((n for data in reversed(logs) if (n := named_catalog(data))), None)
    folder = ntpath.dirname(named) if named and safe(named) else None
    if folder is not None and folder.casefold() in {f.casefold() for f in files.listed}:
        folder = None
    failed = bool(failure_token) and any(failure_token in data for data in logs)
    registered = any(not r.startswith("(") for r in files.hotfix or ())
    renewed = files.program is not None and (files.program.written or "") >= fix_released
    program = p.program if failed and files.program is not None and (registered or renewed) else None
    return FollowUp(folder, program)


def read_follow_up(sections: Mapping[str, Sink], asked: FollowUp, files: SiteFiles, codec: str,
                   style: DateStyle) -> SiteFiles:
    """The follow-up's answers folded into what the log command showed."""
    found = sections.get("progbin")
    if asked.program and isinstance(found, VersionFinder) and files.program is not None:
        files = replace(files, program=replace(files.program, version=found.version))
    if asked.folder is None:
        return files
    listed = (*files.listed, asked.folder)
    answer = section(sections, "named", codec)
    if answer.failed or "named" not in sections:
        return replace(files, listed=listed)
    stamp = file_stamp(answer.text, asked.folder, CATALOG, style)
    return replace(files, itmu_installed=True, itmu_folder=files.itmu_folder or asked.folder,
                   catalog=stamp or files.catalog, listed=listed)


def named_catalog(log: bytes) -> str | None:
    """The wsusscn2.cab path the log names last ("Processing security catalog <path>", any language)."""
    at = max(log.rfind(CATALOG.encode()), log.rfind(CATALOG.upper().encode()))
    if at < 0:
        return None
    start = max(0, log.rfind(b"\n", 0, at) + 1, at - 600)
    matches = list(_CAB_PATH.finditer(log, start, at + len(CATALOG)))
    return matches[-1].group().decode("utf-8", "replace") if matches else None
