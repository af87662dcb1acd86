"""Choosing hosts of an inventory: `--hosts PATTERN`, `--tag TAG`, `--site CODE` (each repeatable).

A host is chosen when it matches every kind of option given, and any one value of each kind:
`--hosts 'CM0*' --hosts 10.1.* --tag dc1` is "(name or address matches CM0* or 10.1.*) and tagged dc1".
Patterns are fnmatch patterns (`*`, `?`, `[...]`) on the inventory name or the address; names, tags
(CSV `tags`, Ansible groups) and site codes compare case-insensitively, as Windows names do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from scanner.model.errors import UsageError
from scanner.model.host import Host


@dataclass(frozen=True, slots=True)
class Selection:
    """What the options asked for; empty means every host."""

    patterns: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.patterns or self.tags or self.sites)

    def describe(self) -> tuple[str, ...]:
        """The options as a user would type them, for the report ("--hosts CM0*", "--tag dc1")."""
        return (*(f"--hosts {p}" for p in self.patterns), *(f"--tag {t}" for t in self.tags),
                *(f"--site {s}" for s in self.sites))

    def matches(self, host: Host) -> bool:
        if self.patterns:
            names = (host.name.casefold(), host.address.casefold())
            if not any(fnmatchcase(n, p.casefold()) for p in self.patterns for n in names):
                return False
        if self.tags and not {t.casefold() for t in host.tags} & {t.casefold() for t in self.tags}:
            return False
        return not self.sites or (host.site_code or "").casefold() in {s.casefold() for s in self.sites}


def selection(patterns: Iterable[str] | None = None, tags: Iterable[str] | None = None,
              sites: Iterable[str] | None = None) -> Selection:
    """A Selection from repeatable options (None: not given).

    Raises:
        UsageError: a blank value (`--tag ""`, or a scheduler's `--tag "$UNSET"`): dropping it would choose
            the whole inventory, a full scan nobody asked for.
    """
    def clean(option: str, values: Iterable[str] | None) -> tuple[str, ...]:
        given = list(values or ())
        if any(not v.strip() for v in given):
            raise UsageError(f"{option} was given an empty value (an unset variable?); it would choose every host: "
                             f"give a value, or leave {option} out to scan the whole inventory")
        return tuple(dict.fromkeys(v.strip() for v in given))
    return Selection(clean("--hosts", patterns), clean("--tag", tags), clean("--site", sites))


def select_hosts(hosts: Sequence[Host], chosen: Selection) -> tuple[Host, ...]:
    """The hosts the selection chooses, in inventory order (all of them for an empty selection)."""
    return tuple(hosts) if not chosen else tuple(h for h in hosts if chosen.matches(h))
