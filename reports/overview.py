"""What a manager reads first, computed from the host records alone: the headline figures, the findings
(one block per thing to do, its advice once and its hosts under it), the tables by site and by build,
and the part of each host's "why" that tells it apart from the others.

Pure functions with no markup, so report.html, the console and the tests agree on every number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from reports.base import action_order, why_text
from scanner.model.changes import (
    CHANGE_ADDED,
    CHANGE_FIXED,
    CHANGE_NEW,
    CHANGE_OPEN,
    CHANGE_REGRESSED,
    CHANGE_UNREACHABLE,
    CHANGE_WAIVED,
    CHANGE_WAIVER_ENDED,
    Changes,
    HostNote,
    weeks_text,
)
from scanner.model.host import shared_name_key, stable_key
from scanner.model.records import ErrorCategory, HostResult, RunMeta, Verdict
from scanner.model.remediation import remediation_for

# The four headline groups, in the order the summary shows them; each host is in exactly one.
GROUP_OK, GROUP_ACTION, GROUP_UNCHECKED, GROUP_WAIVED = "ok", "action", "unchecked", "waived"
GROUP_LABELS = {GROUP_OK: "compliant", GROUP_ACTION: "needing action", GROUP_UNCHECKED: "could not check",
                GROUP_WAIVED: "waived"}
GROUP_DEFINITIONS = {
    GROUP_OK: "not affected, recovered, or not applicable",
    GROUP_ACTION: "affected or at risk: to fix",
    GROUP_UNCHECKED: "error or unknown: to check again",
    GROUP_WAIVED: "an accepted risk, until its waiver expires",
}

VERDICT_LABELS: dict[Verdict, str] = {
    Verdict.AFFECTED: "Affected",
    Verdict.AT_RISK: "At risk",
    Verdict.ERROR: "Error",
    Verdict.UNKNOWN: "Unknown",
    Verdict.RECOVERED: "Recovered",
    Verdict.NOT_AFFECTED: "Not affected",
    Verdict.NOT_APPLICABLE: "Not applicable",
}
# What each ERROR category means, as a heading a manager reads.
ERROR_TITLES: dict[str, str] = {
    ErrorCategory.UNREACHABLE.value: "Unreachable",
    ErrorCategory.TIMEOUT.value: "No answer in time",
    ErrorCategory.AUTH.value: "Logon failed",
    ErrorCategory.AUTH_SKIPPED.value: "Logon not tried (lockout guard)",
    ErrorCategory.ACCESS.value: "Logged on, but access denied",
    ErrorCategory.TLS.value: "TLS handshake failed",
    ErrorCategory.PROTOCOL.value: "Unexpected reply",
    ErrorCategory.INTERRUPTED.value: "Scan interrupted",
    ErrorCategory.LOCAL.value: "Jump box problem",
    ErrorCategory.INTERNAL.value: "cmaudit bug",
    ErrorCategory.OTHER.value: "Other error",
}
UNKNOWN_SITE = "unknown"
MIN_SHARED_WORDS = 3  # a prefix or suffix shorter than this is not worth cutting from "why"


def host_group(host: HostResult) -> str:
    """The headline group a host counts in."""
    if host.waived:
        return GROUP_WAIVED
    if host.verdict.is_finding:
        return GROUP_ACTION
    return GROUP_UNCHECKED if host.verdict.is_incomplete else GROUP_OK


def shares(counts: Sequence[int]) -> list[int]:
    """Whole percentages of the total that add up to exactly 100 (largest remainder), or all 0 for none."""
    total = sum(counts)
    if not total:
        return [0] * len(counts)
    exact = [100 * n / total for n in counts]
    floors = [int(x) for x in exact]
    short = 100 - sum(floors)
    by_remainder = sorted(range(len(counts)), key=lambda i: (floors[i] - exact[i], i))
    for i in by_remainder[:short]:
        floors[i] += 1
    return floors


@dataclass(frozen=True, slots=True)
class Figure:
    """One headline number: the four of them add up to every host, their percentages to 100."""

    key: str
    label: str
    count: int
    percent: int
    note: str


def headline(hosts: Sequence[HostResult]) -> list[Figure]:
    """% compliant, needing action, could not check, waived: each host in exactly one."""
    groups = Counter(host_group(h) for h in hosts)
    keys = (GROUP_OK, GROUP_ACTION, GROUP_UNCHECKED, GROUP_WAIVED)
    percents = shares([groups[k] for k in keys])
    return [Figure(k, GROUP_LABELS[k], groups[k], p, GROUP_DEFINITIONS[k]) for k, p in zip(keys, percents, strict=True)]


@dataclass(frozen=True, slots=True)
class Advice:
    """One remediation text and the hosts it is for."""

    text: str
    hosts: tuple[HostResult, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing to do: a verdict needing action, or one ERROR category; its advice once, its hosts under it."""

    key: str  # "AFFECTED", "AT_RISK", "UNKNOWN" or "ERROR-<category>"
    verdict: Verdict
    title: str
    definition: str
    advice: tuple[Advice, ...]

    @property
    def count(self) -> int:
        return sum(len(a.hosts) for a in self.advice)

    @property
    def hosts(self) -> tuple[HostResult, ...]:
        return tuple(h for a in self.advice for h in a.hosts)


def _finding_key(host: HostResult) -> str:
    if host.verdict is Verdict.ERROR:
        return f"ERROR-{host.error.category.value if host.error is not None else ErrorCategory.OTHER.value}"
    return host.verdict.value


def _title(key: str, verdict: Verdict) -> str:
    if verdict is Verdict.ERROR:
        category = key.removeprefix("ERROR-")
        return f"Could not check: {ERROR_TITLES.get(category, category)}"
    if verdict is Verdict.UNKNOWN:
        return "Could not check: the logs cannot decide"
    return VERDICT_LABELS[verdict]


def findings(hosts: Iterable[HostResult], meta: RunMeta) -> list[Finding]:
    """The hosts needing action or a new look, grouped by what to do: fixes first (the verdict order), then the
    hosts that could not be checked, the largest group first. Waived hosts are not findings."""
    grouped: dict[str, list[HostResult]] = {}
    for host in action_order(hosts):
        if host.needs_action:
            grouped.setdefault(_finding_key(host), []).append(host)
    blocks = []
    for key, members in grouped.items():
        verdict = members[0].verdict
        by_text: dict[str, list[HostResult]] = {}
        for host in members:
            by_text.setdefault(remediation_for(host, meta), []).append(host)
        advice = tuple(Advice(text, tuple(of)) for text, of in by_text.items())
        definition = "" if verdict is Verdict.ERROR else meta.verdict_text.get(verdict.value, "")
        blocks.append(Finding(key, verdict, _title(key, verdict), definition, advice))
    fixes = [b for b in blocks if b.verdict.is_finding]
    checks = sorted((b for b in blocks if not b.verdict.is_finding), key=lambda b: (-b.count, b.key))
    return fixes + checks


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One row of the by-site or by-build table."""

    label: str
    detail: str
    hosts: int
    action: int
    unchecked: int
    waived: int
    compliant_percent: int


def _rows(hosts: Iterable[HostResult], key: Callable[[HostResult], tuple[str, str]],
          last: str) -> list[Breakdown]:
    counts: dict[tuple[str, str], Counter[str]] = {}
    for host in hosts:
        counts.setdefault(key(host), Counter())[host_group(host)] += 1
    rows = []
    for (label, detail), groups in counts.items():
        total = sum(groups.values())
        rows.append(Breakdown(label, detail, total, groups[GROUP_ACTION], groups[GROUP_UNCHECKED],
                              groups[GROUP_WAIVED], round(100 * groups[GROUP_OK] / total)))
    return sorted(rows, key=lambda r: (r.label == last, -r.action, -r.unchecked, r.label.casefold()))


def site_of(host: HostResult) -> str:
    """The site code the registry reported, else the inventory's."""
    return host.facts.site_code or host.site_code or ""


def by_site(hosts: Iterable[HostResult]) -> list[Breakdown]:
    """Every site code of the run (hosts without one as "unknown", last), the most to act on first."""
    return _rows(hosts, lambda h: (site_of(h) or UNKNOWN_SITE, ""), UNKNOWN_SITE)


def by_build(hosts: Iterable[HostResult]) -> list[Breakdown]:
    """Every ConfigMgr build of the run with what it is (hosts whose build was not read, last)."""
    return _rows(hosts, lambda h: (h.facts.build or UNKNOWN_SITE, h.build_name or ""), UNKNOWN_SITE)


def _words_in_common(texts: Sequence[list[str]], *, reverse: bool = False) -> int:
    """How many leading (or trailing) words every text shares."""
    shortest = min(len(t) for t in texts)
    n = 0
    while n < shortest and len({t[-1 - n] if reverse else t[n] for t in texts}) == 1:
        n += 1
    return n


def differences(hosts: Iterable[HostResult], meta: RunMeta) -> dict[int, str]:
    """Per host (by id()), its "why" without the words every host of its verdict shares ("The last legacy sync
    attempt failed at ... with the advisory's error for update 1293995"), marked with an ellipsis; the
    whole text where nothing is shared, a host is alone in its verdict, or the rest would be empty."""
    by_verdict: dict[Verdict, list[HostResult]] = {}
    for host in hosts:
        by_verdict.setdefault(host.verdict, []).append(host)
    shown: dict[int, str] = {}
    for members in by_verdict.values():
        texts = {id(h): why_text(h, meta) for h in members}
        words = [t.split() for t in dict.fromkeys(texts.values())]
        head = tail = 0
        if len(words) > 1:
            head = _words_in_common(words)
            tail = _words_in_common([w[head:] for w in words], reverse=True)
            head, tail = _no_split_figures(words, head, tail)
        for key, text in texts.items():
            shown[key] = _cut(text, head, tail)
    return shown


def _no_split_figures(words: Sequence[list[str]], head: int, tail: int) -> tuple[int, int]:
    """Shrink the cut so it never ends inside a run of figures (a date shared, its time not), and drop a cut
    shorter than MIN_SHARED_WORDS."""
    sample = words[0]
    while head and any(ch.isdigit() for ch in sample[head - 1]):
        head -= 1
    while tail and any(ch.isdigit() for ch in sample[len(sample) - tail]):
        tail -= 1
    return (head if head >= MIN_SHARED_WORDS else 0), (tail if tail >= MIN_SHARED_WORDS else 0)


def _cut(text: str, head: int, tail: int) -> str:
    words = text.split()
    middle = words[head:len(words) - tail]
    if not (head or tail) or not middle:
        return text
    return ("… " if head else "") + " ".join(middle) + (" …" if tail else "")


# The `change` words of the CSV as a reader says them.
CHANGE_WORDS = {
    CHANGE_NEW: "new finding", CHANGE_FIXED: "fixed", CHANGE_REGRESSED: "regressed", CHANGE_OPEN: "still open",
    CHANGE_UNREACHABLE: "newly unreachable", CHANGE_ADDED: "added", CHANGE_WAIVED: "newly waived",
    CHANGE_WAIVER_ENDED: "waiver ended",
}


@dataclass(frozen=True, slots=True)
class Tile:
    """One change since the last run that happened (a count of zero gets no tile)."""

    key: str
    label: str
    count: int
    hot: bool  # something got worse


def change_tiles(changes: Changes) -> list[Tile]:
    """What changed since the previous run, worst first; nothing for a baseline or a quiet week."""
    if changes.is_baseline:
        return []
    candidates = (
        Tile("new", "new findings", len(changes.new_findings), True),
        Tile("regressed", "regressed", len(changes.regressed), True),
        Tile("newly-unreachable", "newly unreachable", len(changes.newly_unreachable), True),
        Tile("waiver-ended", "waivers ended", len(changes.waiver_ended), True),
        Tile("fixed", "fixed", len(changes.fixed), False),
        Tile("waived", "newly waived", len(changes.waived), False),
        Tile("added", "hosts added", len(changes.added), False),
        Tile("removed", "hosts removed", len(changes.removed), False),
    )
    return [t for t in candidates if t.count]


@dataclass(frozen=True, slots=True)
class HistoryCells:
    """The host table's Change, First seen and Age cells (text, a tooltip, and sort keys)."""

    change: str = ""
    change_key: str = ""
    since: str = ""  # a date
    since_title: str = ""
    age: str = ""
    age_title: str = ""
    age_sort: int | None = None  # weeks for a finding; runs for a host that could not be checked


def history_cells(changes: Changes, host: HostResult, note: HostNote) -> HistoryCells:
    """Findings: their change, first-seen date and age in weeks. A host that could not be checked keeps its
    columns too: since when it was last checked, and for how many runs it has not been."""
    words = CHANGE_WORDS.get(note.change, note.change)
    if not host.verdict.is_incomplete:
        weeks = note.age_weeks
        return HistoryCells(words, note.change, (note.first_seen or "")[:10],
                            f"finding first seen {note.first_seen}" if note.first_seen else "",
                            f"{weeks} wk" if weeks is not None else "", weeks_text(weeks) if weeks is not None else "",
                            weeks)
    unchecked = {n.key: n for n in changes.not_checked}
    streak = unchecked.get(shared_name_key(host.host, host.address, host.port)) or unchecked.get(
        stable_key(host.host, host.port))
    if streak is not None:
        last = (streak.last_checked or "")[:10]
        return HistoryCells(words or "still unchecked", note.change or "still-unchecked",
                            f"checked {last}" if last else "never checked", "the last run that could check it",
                            f"{streak.runs} runs", f"not checked for {streak.runs} runs in a row", streak.runs)
    if note.change == CHANGE_UNREACHABLE and changes.previous_started:
        return HistoryCells(words, note.change, f"checked {changes.previous_started[:10]}",
                            "the last run that could check it", "1 run", "not checked in this run", 1)
    return HistoryCells(words, note.change)
