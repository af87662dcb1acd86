"""The two records of a scan's plan step (scanner.scan.plan): what the run read, then how it logs on.

`RunInputs` is what the pre-flight checks look at; `RunPlan` is what the execute step runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scanner.model.errors import HostError
from scanner.model.notes import Note
from scanner.model.records import RejectedPassword, RunResults, Waiver
from scanner.scan.settings import ScanSettings

if TYPE_CHECKING:
    from inventory import Inventory
    from scanner.advisory.loader import Advisory
    from scanner.model.host import Host

HostKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class RunInputs:
    """What the run read and chose before any credential: the pre-flight checks look at this."""

    settings: ScanSettings
    started: str
    run_id: str
    out_dir: Path
    inventory: Inventory
    advisory: Advisory
    hosts: tuple[Host, ...]  # the inventory's hosts this run scans (--hosts/--tag/--site, --rescan-failed)
    selection: tuple[str, ...] = ()  # how they were chosen, as the options were typed
    earlier: RunResults | None = None  # --rescan-failed: the run whose other hosts the new run keeps
    waivers: tuple[Waiver, ...] = ()  # judged for expiry on the run's date
    notes: tuple[Note, ...] = ()
    # accounts the earlier run (--rescan-failed's, else the audit's latest recorded one) stopped short for: their
    # failed logons count against this run's allowance until a logon proves the password
    unproven: tuple[RejectedPassword, ...] = ()

    @property
    def nothing_to_rescan(self) -> bool:
        """--rescan-failed found no ERROR or UNKNOWN host of the earlier run to scan again."""
        return self.earlier is not None and not self.hosts


@dataclass(frozen=True, slots=True)
class RunPlan:
    """Everything settled before the first host: what to scan, where to write, how to log on to each host."""

    inputs: RunInputs
    passwords: dict[HostKey, str | None] = field(repr=False)
    refused: dict[HostKey, HostError]  # hosts that end as ERROR without any network traffic
    secrets: tuple[str, ...] = field(repr=False)  # every form of every password, scrubbed wherever text goes
    credentials: dict[HostKey, object] = field(repr=False)  # pyspnego credentials per host key
    notes: tuple[Note, ...] = ()
