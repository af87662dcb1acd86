"""What a manager reads first, computed from the host records alone: the headline figures, the findings
(one block per thing to do, its advice once and its hosts under it), the tables by site and by build,
and the part of each host's "why" that tells it apart from the others.

Pure functions with no markup, so report.html, the console and the tests agree on every number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from reports.base import action_order, why_text
from reports.change_kinds import CHANGE_KINDS, change_words, hosts_of
from scanner.model.changes import CHANGE_UNREACHABLE, NO_NOTE, Changes, HostNote, weeks_text
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


# The four headline groups' shares: the one rule every figure of every report uses.
MAX_SHARE_GROUPS = 12  # distinct counts shares() weighs at once (the reports pass four)


def shares(counts: Sequence[int]) -> list[int]:
    """Whole percentages of the total, or all 0 for none. The rules, first one first:

    1. only the whole total is 100% and only nothing is 0%: a share is never rounded up to 100 (199 of 200
       compliant is 99%, not 100%); a share under 1% stays 0 here and `percent_text` shows it as "<1%";
    2. equal counts get equal percentages (2, 2 and 2 hosts are 33% each);
    3. a larger count never gets a smaller percentage;
    4. the percentages add up to 100 wherever rules 1-3 allow it: each share is rounded down, then the
       groups of equal counts get one point each (a group all or none) so that the sum comes closest to 100,
       the largest remainders first (Hamilton's largest-remainder method, ties kept together).

    So 2, 2 and 2 hosts show 33 + 33 + 33 = 99, and 995, 3 and 2 show 99%, 1% and "<1%".
    """
    total = sum(counts)
    if not total:
        return [0] * len(counts)
    floors = [100 * n // total for n in counts]
    remainders = [100 * n % total for n in counts]
    short = 100 - sum(floors)
    # the groups that may get a point: a count with a remainder whose share stays under 100
    sizes = Counter(n for n, f, r in zip(counts, floors, remainders, strict=True) if r and f + 1 < 100)
    if len(sizes) > MAX_SHARE_GROUPS:
        raise ValueError(f"shares() weighs at most {MAX_SHARE_GROUPS} distinct counts, not {len(sizes)}")
    remainder_of = dict(zip(counts, remainders, strict=True))
    best: tuple[int, int] = (0, 0)
    chosen: frozenset[int] = frozenset()
    for size in range(1, len(sizes) + 1):
        for picked in combinations(sizes, size):
            given = sum(sizes[n] for n in picked)
            score = (given, sum(remainder_of[n] * sizes[n] for n in picked))
            if given <= short and score > best and _keeps_order(counts, floors, frozenset(picked)):
                best, chosen = score, frozenset(picked)
    return [f + (n in chosen) for n, f in zip(counts, floors, strict=True)]


def _keeps_order(counts: Sequence[int], floors: Sequence[int], bumped: frozenset[int]) -> bool:
    """No larger count would show a smaller percentage than a smaller one."""
    shown = sorted((n, f + (n in bumped)) for n, f in zip(counts, floors, strict=True))
    return all(a[1] <= b[1] for a, b in zip(shown, shown[1:], strict=False))


def percent_text(count: int, percent: int) -> str:
    """A share as the reports print it: "<1%" for hosts too few to make 1% (never "0%" for a group with hosts)."""
    return "<1%" if count and not percent else f"{percent}%"


HEADLINE_GROUPS = (GROUP_OK, GROUP_ACTION, GROUP_UNCHECKED, GROUP_WAIVED)


def group_percents(groups: Mapping[str, int]) -> dict[str, int]:
    """The four headline groups' shares (`shares`): the one "% compliant" of the summary, the console, the trend,
    the by-site and by-build tables and the mail, whatever the hosts are counted from."""
    return dict(zip(HEADLINE_GROUPS, shares([groups.get(k, 0) for k in HEADLINE_GROUPS]), strict=True))


@dataclass(frozen=True, slots=True)
class Figure:
    """One headline number: the four of them add up to every host, their percentages to 100 where they can."""

    key: str
    label: str
    count: int
    percent: int
    note: str

    @property
    def percent_text(self) -> str:
        return percent_text(self.count, self.percent)


def headline(hosts: Sequence[HostResult]) -> list[Figure]:
    """% compliant, needing action, could not check, waived: each host in exactly one."""
    groups = Counter(host_group(h) for h in hosts)
    percents = group_percents(groups)
    return [Figure(k, GROUP_LABELS[k], groups[k], percents[k], GROUP_DEFINITIONS[k]) for k in HEADLINE_GROUPS]


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


CAUSE = "{cause}"  # where the advisory's headline for a verdict names each host's cause (scanner/advisory/loader.py)


def definition_of(headline: str, hosts: Sequence[HostResult]) -> str:
    """A finding's definition: the advisory's headline for its verdict, its `{cause}` filled in where every host
    has the same cause, else saying the cause is given per host (a reader never sees the placeholder)."""
    if CAUSE not in headline:
        return headline
    before, _, after = headline.partition(CAUSE)
    causes = {r[len(before):len(r) - len(after)] for h in hosts for r in h.reasons
              if r.startswith(before) and r.endswith(after) and len(r) > len(before) + len(after)}
    return before + (causes.pop() if len(causes) == 1 else "the cause given for each host below") + after


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
        headline_text = meta.verdict_text.get(verdict.value, "")
        definition = "" if verdict is Verdict.ERROR else definition_of(headline_text, members)
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
    compliant: int
    compliant_percent: int  # as the headline computes it (group_percents)
    last_known: int = 0  # hosts counted here by the last site the history knows (this run could not read one)

    @property
    def compliant_text(self) -> str:
        return percent_text(self.compliant, self.compliant_percent)


def _rows(hosts: Iterable[HostResult], key: Callable[[HostResult], tuple[str, str, bool]],
          last: str) -> list[Breakdown]:
    counts: dict[tuple[str, str], Counter[str]] = {}
    for host in hosts:
        label, detail, last_known = key(host)
        groups = counts.setdefault((label, detail), Counter())
        groups[host_group(host)] += 1
        groups["last-known"] += last_known
    rows = []
    for (label, detail), groups in counts.items():
        rows.append(Breakdown(label, detail, sum(groups[g] for g in HEADLINE_GROUPS), groups[GROUP_ACTION],
                              groups[GROUP_UNCHECKED], groups[GROUP_WAIVED], groups[GROUP_OK],
                              group_percents(groups)[GROUP_OK], groups["last-known"]))
    return sorted(rows, key=lambda r: (r.label == last, -r.action, -r.unchecked, r.label.casefold()))


def site_of(host: HostResult) -> str:
    """The site code the registry reported, else the inventory's."""
    return host.facts.site_code or host.site_code or ""


def known_site(host: HostResult, note: HostNote = NO_NOTE) -> tuple[str, bool]:
    """The host's site code (`site_of`), else the last one the history knows, and whether it is that last one."""
    site = site_of(host)
    if site or not note.last_site:
        return site, False
    return note.last_site, True


def by_site(hosts: Iterable[HostResult], note: Callable[[HostResult], HostNote] = lambda h: NO_NOTE
            ) -> list[Breakdown]:
    """Every site code of the run (a host this run could not read one from under the last the history knows;
    else as "unknown", last), the most to act on first."""
    def key(host: HostResult) -> tuple[str, str, bool]:
        site, last_known = known_site(host, note(host))
        return site or UNKNOWN_SITE, "", last_known

    return _rows(hosts, key, UNKNOWN_SITE)


def by_build(hosts: Iterable[HostResult]) -> list[Breakdown]:
    """Every ConfigMgr build of the run with what it is (hosts whose build was not read, last)."""
    return _rows(hosts, lambda h: (h.facts.build or UNKNOWN_SITE, h.build_name or "", False), UNKNOWN_SITE)


def _words_in_common(texts: Sequence[list[str]], *, reverse: bool = False) -> int:
    """How many leading (or trailing) words every text shares."""
    shortest = min(len(t) for t in texts)
    n = 0
    while n < shortest and len({t[-1 - n] if reverse else t[n] for t in texts}) == 1:
        n += 1
    return n


def differences(hosts: Iterable[HostResult], meta: RunMeta) -> dict[int, str]:
    """Per host (by id()), its "why" without the words it shares with the hosts of its findings group (one
    verdict, one ERROR category; the waived apart) whose "why" begins alike: "The last legacy sync attempt failed
    at ... with the advisory's error for update 1293995" shows only the time and the log line, marked with an
    ellipsis. The whole text where nothing is shared, a host is alone, or the rest would be empty."""
    clusters: dict[tuple[str, bool, str], list[HostResult]] = {}
    texts = {id(h): why_text(h, meta) for h in hosts}
    for host in hosts:
        opening = " ".join(texts[id(host)].split()[:MIN_SHARED_WORDS])
        clusters.setdefault((_finding_key(host), host.waived, opening), []).append(host)
    shown: dict[int, str] = {}
    for members in clusters.values():
        words = [t.split() for t in dict.fromkeys(texts[id(h)] for h in members)]
        head = tail = 0
        if len(words) > 1:
            head = _words_in_common(words)
            tail = _words_in_common([w[head:] for w in words], reverse=True)
            head, tail = _no_split_figures(words, head, tail)
        for host in members:
            shown[id(host)] = _cut(texts[id(host)], head, tail)
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


@dataclass(frozen=True, slots=True)
class Tile:
    """One change since the last run that happened (a count of zero gets no tile)."""

    key: str
    label: str
    count: int
    hot: bool  # something got worse


def change_tiles(changes: Changes) -> list[Tile]:
    """What changed since the previous run, worst first (reports.change_kinds); nothing for a baseline or a
    quiet week."""
    if changes.is_baseline:
        return []
    tiles = (Tile(k.key, k.tile_label, len(hosts_of(changes, k)), k.hot) for k in CHANGE_KINDS if k.tile)
    return [t for t in tiles if t.count]


@dataclass(frozen=True, slots=True)
class HistoryCells:
    """The host table's Change, Since and Age cells (text, a tooltip, and sort keys)."""

    change: str = ""
    change_key: str = ""
    since: str = ""  # a finding: the date first seen; a host that could not be checked: "last checked <date>"
    since_title: str = ""
    since_label: str = "first seen"  # what `since` is, where a card names it (800 px); "" where `since` says it
    age: str = ""
    age_title: str = ""
    age_sort: int | None = None  # weeks for a finding; runs for a host that could not be checked


def age_text(weeks: int) -> str:
    """A finding's age in a table cell: "this week" for one found less than a week ago, else "3 wk"."""
    return "this week" if weeks < 1 else f"{weeks} wk"


def history_cells(changes: Changes, host: HostResult, note: HostNote) -> HistoryCells:
    """Findings: their change, first-seen date and age in weeks. A host that could not be checked keeps its
    columns too, saying what they hold: when it was last checked, and for how many runs it has not been."""
    words = change_words(note.change)
    if not host.verdict.is_incomplete:
        weeks = note.age_weeks
        if weeks is None:
            return HistoryCells(words, note.change, (note.first_seen or "")[:10])
        return HistoryCells(words, note.change, (note.first_seen or "")[:10],
                            f"finding first seen {note.first_seen}" if note.first_seen else "", "first seen",
                            age_text(weeks), weeks_text(weeks), weeks)
    unchecked = {n.key: n for n in changes.not_checked}
    streak = unchecked.get(shared_name_key(host.host, host.address, host.port)) or unchecked.get(
        stable_key(host.host, host.port))
    if streak is not None:
        last = (streak.last_checked or "")[:10]
        return HistoryCells(words or "still unchecked", note.change or "still-unchecked",
                            f"last checked {last}" if last else "never checked", "the last run that could check it",
                            "", f"{streak.runs} runs", f"not checked for {streak.runs} runs in a row",
                            streak.runs)
    if note.change == CHANGE_UNREACHABLE and changes.previous_started:
        return HistoryCells(words, note.change, f"last checked {changes.previous_started[:10]}",
                            "the last run that could check it", "", "1 run", "not checked in this run", 1)
    return HistoryCells(words, note.change, since_label="")
