"""Parse `reg query` output as printed by reg.exe on Server 2003 and on 2008 and later.

Server 2003 (reg.exe 3.0) prints a `! REG.EXE VERSION 3.0` header and separates name, type and data
with tabs; 2008+ prints no header and separates them with four spaces. Value names may contain single
spaces ("Full Version"), so a line is split around its `REG_*` type token, not on whitespace.
The text comes from a server we do not trust: lines that do not parse are skipped, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Names reg.exe prints for a key's unnamed (default) value.
DEFAULT_VALUE_NAMES = frozenset({"(default)", "<no name>"})

_VALUE_RE = re.compile(
    r"^[ \t]+(?P<name>.*?)(?:\t| {4})(?P<type>REG_[A-Z_]+)(?:(?:\t| {4})(?P<data>.*))?$"
)
_KEY_RE = re.compile(r"^(HKEY_[A-Z_]+|HKLM|HKCU|HKCR|HKU|HKCC)(\\.*)?$", re.IGNORECASE)
_MAX_LINE = 32 * 1024  # longer lines are not reg.exe output; skipping them bounds the regex work


@dataclass(frozen=True, slots=True)
class RegValue:
    """One registry value: REG_DWORD/QWORD as int, REG_MULTI_SZ as a tuple, everything else as text."""

    name: str
    type: str
    data: str | int | tuple[str, ...]

    @property
    def text(self) -> str:
        """The value as a string, whatever its type (handy for paths and versions)."""
        if isinstance(self.data, tuple):
            return "\n".join(self.data)
        return str(self.data)


@dataclass(frozen=True, slots=True)
class RegKey:
    """A key as `reg query` listed it, with its values looked up case-insensitively (as Windows does)."""

    path: str
    values: tuple[RegValue, ...]

    def get(self, name: str) -> RegValue | None:
        wanted = name.casefold()
        for value in self.values:
            if value.name.casefold() == wanted:
                return value
        return None

    def text(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None else value.text


def _convert(reg_type: str, raw: str) -> str | int | tuple[str, ...]:
    if reg_type in ("REG_DWORD", "REG_QWORD", "REG_DWORD_BIG_ENDIAN"):
        try:
            return int(raw, 16) if raw.lower().startswith("0x") else int(raw)
        except ValueError:
            return raw
    if reg_type == "REG_MULTI_SZ":
        return tuple(part for part in raw.split("\\0") if part)
    return raw


def parse_reg_query(text: str) -> tuple[RegKey, ...]:
    """Every key block in `reg query` output, in order; values of keys listed with `/s` included."""
    keys: list[RegKey] = []
    path: str | None = None
    values: list[RegValue] = []
    for line in text.splitlines():
        line = line.rstrip("\r\n")
        if not line.strip() or len(line) > _MAX_LINE or line.startswith("!"):
            continue  # blank, hostile, or the `! REG.EXE VERSION 3.0` header
        if not line[0].isspace():
            if _KEY_RE.match(line.strip()):
                if path is not None:
                    keys.append(RegKey(path, tuple(values)))
                path, values = line.strip(), []
            continue  # "ERROR: ..." and other chatter
        if path is None:
            continue
        match = _VALUE_RE.match(line)
        if match is None:
            continue
        name = match["name"].strip()
        if name.casefold() in DEFAULT_VALUE_NAMES:
            name = ""
        # 2008+ pads an empty REG_SZ with the separator only; reg.exe 3.0 may leave trailing tabs.
        raw = (match["data"] or "").rstrip("\t")
        values.append(RegValue(name=name, type=match["type"], data=_convert(match["type"], raw)))
    if path is not None:
        keys.append(RegKey(path, tuple(values)))
    return tuple(keys)


_HIVES = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER", "HKCR": "HKEY_CLASSES_ROOT",
          "HKU": "HKEY_USERS", "HKCC": "HKEY_CURRENT_CONFIG"}


def normalise_key_path(path: str) -> str:
    """`HKLM\\Software\\X` and `HKEY_LOCAL_MACHINE\\SOFTWARE\\X` compare equal after this (any hive)."""
    upper = path.strip().rstrip("\\").upper()
    hive, sep, rest = upper.partition("\\")
    return _HIVES.get(hive, hive) + sep + rest


def find_key(keys: tuple[RegKey, ...], path: str) -> RegKey | None:
    """The block for exactly `path` (either hive spelling, any case), or None when reg.exe did not list it."""
    wanted = normalise_key_path(path)
    for key in keys:
        if normalise_key_path(key.path) == wanted:
            return key
    return None
