"""What changed since the last run, as data: produced by scanner.history, rendered by reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from scanner.model.host import run_keys, shared_name_key, stable_key
from scanner.model.records import HostResult, RunResults, Verdict

# The `change` column of the CSV, one word per host.
CHANGE_NEW = "new"
CHANGE_FIXED = "fixed"
CHANGE_REGRESSED = "regressed"
CHANGE_OPEN = "still-open"
CHANGE_UNREACHABLE = "newly-unreachable"
CHANGE_ADDED = "added"
CHANGE_WAIVED = "waived"  # a host needing action is now covered by a waiver
CHANGE_WAIVER_ENDED = "waiver-ended"  # a waived host needs action again: its waiver expired or was removed


@dataclass(frozen=True, slots=True)
class HostNote:
    """What the history adds to one host's row in the reports (the CSV columns, the HTML table)."""

    change: str = ""  # one of the CHANGE_* words; "" when nothing changed
    first_seen: str | None = None  # open findings: when first seen (ISO UTC)
    age_weeks: int | None = None  # open findings: whole weeks since first_seen
    last_build: str | None = None  # hosts without a build now (ERROR): the last build the history knows
    last_build_seen: str | None = None  # the start of the run that saw last_build (ISO UTC)
    last_site: str | None = None  # hosts without a site code now (ERROR): the last one the history knows
    last_site_seen: str | None = None  # the start of the run that saw last_site (ISO UTC)


NO_NOTE = HostNote()


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
    waived: tuple[HostChange, ...] = ()
    waiver_ended: tuple[HostChange, ...] = ()
    not_checked: tuple[NotChecked, ...] = ()
    # host key -> what the reports show beside every host of the current run
    annotations: dict[str, HostNote] = field(default_factory=dict)
    # why the two runs may not be one fleet (another inventory file, few hosts in common): "" when they look alike
    caution: str = ""
    # why the current run can never be a baseline ("partial: only some hosts were chosen"): "" when it can be
    not_a_baseline: str = ""

    @property
    def is_baseline(self) -> bool:
        return self.previous_run is None

    @property
    def changed(self) -> bool:
        """Something an admin should hear about happened (the `--mail-when changed` test)."""
        return bool(self.new_findings or self.fixed or self.regressed or self.newly_unreachable
                    or self.added or self.removed or self.waived or self.waiver_ended)

    def annotation_for(self, host: HostResult, key: str | None = None) -> HostNote:
        """The history's note for a host of the current run (an empty note when nothing to say).

        A name two hosts of the run share is keyed `name@address:port` (run_keys): that key is tried first.
        """
        if key is not None:
            return self.annotations.get(key, NO_NOTE)
        shared = self.annotations.get(shared_name_key(host.host, host.address, host.port))
        return shared if shared is not None else self.annotations.get(stable_key(host.host, host.port), NO_NOTE)


def result_keys(results: RunResults) -> list[str]:
    """The history key of each host of a run, in order (scanner.model.host.run_keys)."""
    return run_keys([(h.host, h.address, h.port) for h in results.hosts])


def weeks_text(weeks: int) -> str:
    return "less than a week" if weeks < 1 else f"{weeks} week{'s' if weeks != 1 else ''}"


