"""The same server in two runs: how `cmaudit report` merges runs and `--rescan-failed` finds the hosts it
scans again. A host is matched by its inventory name (case-folded) and port; a name that one run holds twice
on the same port (one name at two addresses) is matched by its address as well, so neither host is lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from scanner.model.host import normalise_address
from scanner.model.records import HostResult

HostKey = tuple[str, int, str]


def name_and_port(name: str, port: int) -> tuple[str, int]:
    """A host as runs usually match it: its inventory name, case-folded, and its port."""
    return name.strip().casefold(), port


def shared_names(*runs: Iterable[tuple[str, int]]) -> frozenset[tuple[str, int]]:
    """The (name, port) pairs some one run holds more than once: one name at two addresses."""
    shared: set[tuple[str, int]] = set()
    for run in runs:
        counts = Counter(name_and_port(name, port) for name, port in run)
        shared.update(key for key, n in counts.items() if n > 1)
    return frozenset(shared)


def match_key(name: str, address: str, port: int, shared: frozenset[tuple[str, int]] = frozenset()) -> HostKey:
    """The same server in two runs: name and port, plus the address when a run holds that name twice."""
    key = name_and_port(name, port)
    return (*key, normalise_address(address) if key in shared else "")


def host_key(host: HostResult, shared: frozenset[tuple[str, int]] = frozenset()) -> HostKey:
    """match_key of a result (`shared`: what shared_names answers for every run being matched)."""
    return match_key(host.host, host.address, host.port, shared)


def result_names(hosts: Iterable[HostResult]) -> list[tuple[str, int]]:
    return [(h.host, h.port) for h in hosts]
