"""What changed since the last run, as data: produced by scanner.weekly, rendered by reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from scanner.model.host import run_keys, stable_key
from scanner.model.records import HostResult, RunResults, Verdict

# The `change` column of the CSV, one word per host.
CHANGE_NEW = "new"
CHANGE_FIXED = "fixed"
CHANGE_REGRESSED = "regressed"
CHANGE_OPEN = "still-open"
CHANGE_UNREACHABLE = "newly-unreachable"
CHANGE_ADDED = "added"


@dataclass(frozen=True, slots=True)
class HostChange:
    """One host in one section of the changes."""

    key: str  # stable key (scanner.model.host.stable_key)
    host: str
    before: Verdict | None  # None: not in the previous run
    after: Verdict | None  # None: not in this run
    first_seen: str | None = None  # open findings: when the finding was first seen (ISO UTC)
    age_weeks: int | None = None
    detail: str = ""  # error or first reason, single line, bounded


@dataclass(frozen=True, slots=True)
class NotChecked:
    """A host no run has managed to judge for `runs` runs in a row."""

    key: str
    host: str
    runs: int
    last_checked: str | None  # None: never judged in the recorded history
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Changes:
    """The difference between a run and the previous complete run of the same inventory."""

    current_run: str  # label: history id ("#12") or run_id
    current_started: str
    previous_run: str | None  # None: nothing to compare with (first run, a baseline)
    previous_started: str | None
    new_findings: tuple[HostChange, ...] = ()
    fixed: tuple[HostChange, ...] = ()
    regressed: tuple[HostChange, ...] = ()
    still_open: tuple[HostChange, ...] = ()
    newly_unreachable: tuple[HostChange, ...] = ()
    added: tuple[HostChange, ...] = ()
    removed: tuple[HostChange, ...] = ()
    not_checked: tuple[NotChecked, ...] = ()
    # host key -> (change word, first seen) for every host of the current run: the CSV columns
    annotations: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @property
    def is_baseline(self) -> bool:
        return self.previous_run is None

    @property
    def changed(self) -> bool:
        """Something an admin should hear about happened (the `--mail-when changed` test)."""
        return bool(self.new_findings or self.fixed or self.regressed or self.newly_unreachable
                    or self.added or self.removed)

    def annotation_for(self, host: HostResult, key: str | None = None) -> tuple[str, str | None]:
        """(change, first_seen) for a host of the current run; ("", None) when nothing to say."""
        return self.annotations.get(key or stable_key(host.host, host.port), ("", None))


def result_keys(results: RunResults) -> list[str]:
    """The history key of each host of a run, in order (scanner.model.host.run_keys)."""
    return run_keys([(h.host, h.address, h.port) for h in results.hosts])


def weeks_text(weeks: int) -> str:
    return "less than a week" if weeks < 1 else f"{weeks} week{'s' if weeks != 1 else ''}"


