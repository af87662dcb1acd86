"""Waivers: findings an owner has accepted until a date, read from a TOML file (`--waivers`, `waivers =`).

    [[waiver]]
    host = "CM004"            # inventory name; fnmatch patterns allowed ("CM0*"), case-insensitive
    verdicts = ["AFFECTED"]   # optional; default AFFECTED and AT_RISK (ERROR and UNKNOWN may be listed)
    reason = "site retired in January, no SMS 2003 clients left"
    owner = "j.doe"
    expires = 2027-01-31      # a TOML date, required: the last day the waiver holds

A waived host keeps its real verdict; the waiver is attached to its record and it stops needing action
(no exit bit, its own count and badge). A waiver past its date no longer waives: the host needs action
again and the waiver is listed as expired. The first waiver in file order that matches the host and
covers its verdict wins (one in force before an expired one).

The file is read before any host is contacted, and every problem is one line naming the file and the
line of the offending `[[waiver]]` (or key): a weekly job must not run with a waiver silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from scanner.model.errors import UsageError
from scanner.model.records import MAX_WAIVER_TEXT, WAIVABLE_VERDICTS, HostResult, Waiver
from scanner.model.toml_text import TomlTextError, parse_toml, read_bounded

MAX_WAIVER_BYTES = 1024 * 1024
MAX_WAIVERS = 10_000
MAX_TEXT = MAX_WAIVER_TEXT
DEFAULT_VERDICTS = ("AFFECTED", "AT_RISK")
KEYS = ("host", "verdicts", "reason", "owner", "expires")
_HEADER = re.compile(r"\s*\[\[\s*\"?waiver\"?\s*\]\]")
_SINGLE_HEADER = re.compile(r"\s*\[\s*\"?waiver\"?\s*\](?!\])")  # [waiver]: one table, not the array
_TOML_LINE = re.compile(r"at line (\d+)")


class WaiverFileError(UsageError):
    """A waivers file that cannot be used: `file:line: message`."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def load_waivers(path: Path | str) -> tuple[Waiver, ...]:
    """Read and validate a waivers file (expiry is not judged here: see `as_of`)."""
    where = str(path)
    try:
        raw = read_bounded(Path(path), MAX_WAIVER_BYTES)
    except TomlTextError as exc:
        raise WaiverFileError(where, None, str(exc)) from None
    return parse_waivers(raw, where)


def parse_waivers(raw: bytes, where: str) -> tuple[Waiver, ...]:
    """The waivers of a file's bytes; WaiverFileError (file:line) for anything not usable."""
    try:
        doc = parse_toml(raw, MAX_WAIVER_BYTES)
    except TomlTextError as exc:
        found = _TOML_LINE.search(str(exc))
        raise WaiverFileError(where, int(found.group(1)) if found else None, str(exc)) from None
    lines = raw.decode("utf-8").splitlines()
    headers = [n for n, text in enumerate(lines, start=1) if _HEADER.match(text)]
    for key in doc:
        if key != "waiver":
            raise WaiverFileError(where, _key_line(lines, key, 1, len(lines)),
                                  f"unknown key `{key}`: a waivers file holds [[waiver]] tables only")
    tables = doc.get("waiver", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        single = next((n for n, text in enumerate(lines, start=1) if _SINGLE_HEADER.match(text)), None)
        raise WaiverFileError(where, headers[0] if headers else single or _key_line(lines, "waiver", 1, len(lines)),
                              "`waiver` must be written as [[waiver]] tables")
    if len(tables) > MAX_WAIVERS:
        raise WaiverFileError(where, None, f"holds more than {MAX_WAIVERS} waivers")
    waivers = []
    for index, table in enumerate(tables):
        # The i-th [[waiver]] header is the i-th table (tomllib keeps no positions); the header search
        # cannot see a header written inside a multi-line string, and then the line is only approximate.
        start = headers[index] if index < len(headers) else None
        end = headers[index + 1] - 1 if index + 1 < len(headers) else len(lines)
        waivers.append(_waiver(table, _Where(where, lines, start, end, index + 1)))
    return tuple(waivers)


class _Where:
    """Points at one [[waiver]] table's lines for error messages."""

    def __init__(self, path: str, lines: list[str], start: int | None, end: int, number: int) -> None:
        self.path, self.lines, self.start, self.end, self.number = path, lines, start, end, number

    def fail(self, key: str | None, message: str) -> WaiverFileError:
        line = self.start
        if key is not None and self.start is not None:
            line = _key_line(self.lines, key, self.start, self.end) or self.start
        return WaiverFileError(self.path, line, f"waiver {self.number}: {message}")


def _key_line(lines: list[str], key: str, start: int, end: int) -> int | None:
    pattern = re.compile(rf"\s*\"?{re.escape(key)}\"?\s*=")
    for number in range(start, min(end, len(lines)) + 1):
        if pattern.match(lines[number - 1]):
            return number
    return None


def _text(table: dict[str, Any], key: str, where: _Where) -> str:
    if key not in table:
        raise where.fail(None, f"`{key}` is required")
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise where.fail(key, f"`{key}` must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise where.fail(key, f"`{key}` is longer than {MAX_TEXT} characters")
    return value.strip()


def _waiver(table: dict[str, Any], where: _Where) -> Waiver:
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise where.fail(unknown[0], f"unknown key `{unknown[0]}` (known: {', '.join(KEYS)})")
    host = _text(table, "host", where)
    if "expires" not in table:
        raise where.fail(None, "`expires` is required (a date, e.g. expires = 2027-01-31): a waiver never "
                               "lasts for ever")
    expires = table["expires"]
    if isinstance(expires, datetime) or not isinstance(expires, date):
        raise where.fail("expires", "`expires` must be a date without quotes or time, e.g. expires = 2027-01-31")
    verdicts: Any = table.get("verdicts", list(DEFAULT_VERDICTS))
    if not isinstance(verdicts, list) or not verdicts or not all(isinstance(v, str) for v in verdicts):
        raise where.fail("verdicts", "`verdicts` must be a non-empty list of verdict names")
    for verdict in verdicts:
        if verdict not in WAIVABLE_VERDICTS:
            raise where.fail("verdicts", f"`verdicts`: {verdict!r} cannot be waived (only "
                                         f"{', '.join(WAIVABLE_VERDICTS)} need action)")
    return Waiver(host=host, reason=_text(table, "reason", where), owner=_text(table, "owner", where),
                  expires=expires.isoformat(), verdicts=tuple(dict.fromkeys(verdicts)),
                  source=f"{where.path}:{where.start}" if where.start else where.path)


def as_of(waivers: Iterable[Waiver], today: date) -> tuple[Waiver, ...]:
    """The waivers with `expired` set for `today`: a waiver holds through its `expires` day."""
    return tuple(replace(w, expired=date.fromisoformat(w.expires) < today) for w in waivers)


def matches(waiver: Waiver, host: HostResult) -> bool:
    """The waiver names this host (fnmatch on the inventory name, case-insensitive) and covers its verdict."""
    return host.verdict.value in waiver.verdicts and fnmatchcase(host.host.casefold(), waiver.host.casefold())


def apply_waivers(hosts: Sequence[HostResult], waivers: Sequence[Waiver]) -> tuple[HostResult, ...]:
    """Each host with the waiver that applies to it now (one in force first, else an expired one), or none."""
    out = []
    for host in hosts:
        found = [w for w in waivers if matches(w, host)]
        chosen = next((w for w in found if not w.expired), found[0] if found else None)
        out.append(host if host.waiver == chosen else replace(host, waiver=chosen))
    return tuple(out)


def unmatched(waivers: Sequence[Waiver], host_names: Iterable[str]) -> tuple[Waiver, ...]:
    """Waivers in force whose pattern names no host of the inventory: a typo, or a host retired since.

    Said before any host is contacted (a warning naming the waiver's file:line), so a mistyped pattern is
    never silently ignored week after week.
    """
    names = [name.casefold() for name in host_names]
    return tuple(w for w in waivers if not w.expired and not any(fnmatchcase(n, w.host.casefold()) for n in names))
