"""A virtual Windows registry: keys, typed values, names compared without case like Windows does.

Only what `reg query` needs: a tree of keys under the predefined roots, values with their REG_* type.
Key and value names keep the case they were created with (reg.exe prints that case) but are looked up
case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class RegType(StrEnum):
    REG_SZ = "REG_SZ"
    REG_EXPAND_SZ = "REG_EXPAND_SZ"
    REG_DWORD = "REG_DWORD"
    REG_MULTI_SZ = "REG_MULTI_SZ"
    REG_BINARY = "REG_BINARY"


# The roots reg.exe accepts, with the short names it also takes on the command line.
ROOT_ALIASES: dict[str, str] = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKEY_LOCAL_MACHINE": "HKEY_LOCAL_MACHINE",
    "HKCU": "HKEY_CURRENT_USER",
    "HKEY_CURRENT_USER": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKEY_CLASSES_ROOT": "HKEY_CLASSES_ROOT",
    "HKU": "HKEY_USERS",
    "HKEY_USERS": "HKEY_USERS",
    "HKCC": "HKEY_CURRENT_CONFIG",
    "HKEY_CURRENT_CONFIG": "HKEY_CURRENT_CONFIG",
}

RegData = str | int | tuple[str, ...] | bytes


@dataclass(frozen=True, slots=True)
class RegValue:
    """One named value; `name` is "" for a key's default (unnamed) value."""

    name: str
    type: RegType
    data: RegData

    def __post_init__(self) -> None:
        expected: type | tuple[type, ...] = {
            RegType.REG_SZ: str,
            RegType.REG_EXPAND_SZ: str,
            RegType.REG_DWORD: int,
            RegType.REG_MULTI_SZ: tuple,
            RegType.REG_BINARY: bytes,
        }[self.type]
        if not isinstance(self.data, expected) or isinstance(self.data, bool):
            raise TypeError(f"{self.type} value {self.name!r} cannot hold {type(self.data).__name__}")
        if self.type is RegType.REG_DWORD and not 0 <= int(self.data) <= 0xFFFFFFFF:  # type: ignore[arg-type]
            raise ValueError(f"REG_DWORD value {self.name!r} out of range")


@dataclass(slots=True)
class RegKey:
    """A key: its own name (case as created), subkeys and values, both keyed by casefolded name."""

    name: str
    subkeys: dict[str, RegKey] = field(default_factory=dict)
    values: dict[str, RegValue] = field(default_factory=dict)
    denied: bool = False  # its ACL refuses the audit account read access (listed by its parent all the same)

    def subkey(self, name: str) -> RegKey | None:
        return self.subkeys.get(name.casefold())

    def value(self, name: str) -> RegValue | None:
        return self.values.get(name.casefold())

    def iter_subkeys(self) -> Iterator[RegKey]:
        """Subkeys in the order RegEnumKey returns them on a real hive: sorted without case."""
        return iter(sorted(self.subkeys.values(), key=lambda k: k.name.casefold()))

    def iter_values(self) -> Iterator[RegValue]:
        """Values in creation order, as RegEnumValue usually returns them."""
        return iter(self.values.values())


def split_key_path(path: str) -> tuple[str, list[str]] | None:
    """(`HKEY_...` root, [parts]) for a key path such as `HKLM\\SOFTWARE\\X`; None for an unknown root."""
    parts = [p for p in path.strip().strip("\\").split("\\") if p]
    if not parts:
        return None
    root = ROOT_ALIASES.get(parts[0].upper())
    if root is None:
        return None
    return root, parts[1:]


class Registry:
    """The whole registry of one machine."""

    def __init__(self) -> None:
        self._roots: dict[str, RegKey] = {name: RegKey(name) for name in set(ROOT_ALIASES.values())}

    def open_key(self, path: str) -> RegKey | None:
        """The key at `path` (root may be short or long, any case), or None when it does not exist."""
        split = split_key_path(path)
        if split is None:
            return None
        root, parts = split
        key: RegKey | None = self._roots[root]
        for part in parts:
            assert key is not None
            key = key.subkey(part)
            if key is None:
                return None
        return key

    def create_key(self, path: str) -> RegKey:
        """The key at `path`, created with its parents when missing."""
        split = split_key_path(path)
        if split is None:
            raise ValueError(f"unknown registry root in {path!r}")
        root, parts = split
        key = self._roots[root]
        for part in parts:
            child = key.subkey(part)
            if child is None:
                child = RegKey(part)
                key.subkeys[part.casefold()] = child
            key = child
        return key

    def deny(self, path: str) -> None:
        """Refuse the audit account read access to an existing key (its parent still lists it)."""
        key = self.open_key(path)
        if key is not None:
            key.denied = True

    def set_value(self, path: str, name: str, reg_type: RegType, data: RegData) -> None:
        key = self.create_key(path)
        key.values[name.casefold()] = RegValue(name, reg_type, data)
