"""The headline figures every report shares: how percentages are rounded, and one "% compliant" everywhere."""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import product

import pytest

from reports.console import headline_text
from reports.html_report import render_html
from reports.overview import by_build, by_site, differences, headline, percent_text, shares
from reports.trend import TrendPoint, trend_svg
from scanner.model.records import ErrorCategory, HostFailure, RunResults, Verdict, Waiver
from tests.support.samples import meta, simple


@pytest.mark.parametrize("counts", [
    pytest.param([199, 1, 0, 0], id="half-a-percent-left"),
    pytest.param([995, 3, 2, 0], id="two-small-groups"),
    pytest.param([999, 0, 0, 1], id="one-in-a-thousand-waived"),
    pytest.param([1, 199, 0, 0], id="one-compliant"),
])
def test_no_share_rounds_up_to_100_or_down_to_0(counts):
    """"100% compliant" is never shown while a host is not compliant, and a group with hosts never shows 0%."""
    percents = shares(counts)
    for count, percent in zip(counts, percents, strict=True):
        assert (percent == 100) == (count == sum(counts)), percents
        assert percent_text(count, percent) != "0%" or count == 0, percents
    assert shares([995, 3, 2, 0]) == [99, 1, 0, 0] and percent_text(2, 0) == "<1%"
    assert shares([199, 1, 0, 0]) == [99, 1, 0, 0]


def test_equal_counts_show_equal_percentages():
    """Six hosts, two in each of three groups, are 33% each, not 34 + 33 + 33: the sum gives way instead."""
    assert shares([2, 2, 2, 0]) == [33, 33, 33, 0]
    assert shares([1, 1, 1]) == [33, 33, 33]
    assert shares([2, 2, 1, 1]) == [33, 33, 17, 17]  # the tie that fits is given: 100


def test_shares_keep_order_and_add_up_to_100_where_they_can():
    """A larger group never shows a smaller percentage; with no tie to split and nothing near 0 or 100 the
    percentages add up to exactly 100."""
    assert shares([3, 2, 2, 0]) == [42, 29, 29, 0]
    assert shares([0, 0]) == [0, 0] and shares([5, 0]) == [100, 0]
    for counts in product(range(7), repeat=4):
        percents = shares(counts)
        total = sum(counts)
        for (a, pa), (b, pb) in product(zip(counts, percents, strict=True), repeat=2):
            assert not (a > b and pa < pb), (counts, percents)
            assert (a == b) <= (pa == pb), (counts, percents)
        assert sum(percents) <= 100 or not total
        tied = any(counts.count(n) > 1 for n in counts if n)
        if total and not tied:
            assert sum(percents) == 100, (counts, percents)


def _run_of_six() -> RunResults:
    """Two compliant hosts, two needing action, two that could not be checked."""
    failure = HostFailure(ErrorCategory.UNREACHABLE, "connection refused")
    hosts = (simple("ok1", Verdict.NOT_AFFECTED, "fine"), simple("ok2", Verdict.RECOVERED, "fixed"),
             simple("bad1", Verdict.AFFECTED, "failed"), simple("bad2", Verdict.AT_RISK, "failed"),
             simple("err1", Verdict.ERROR, "", error=failure), simple("err2", Verdict.ERROR, "", error=failure))
    return RunResults(meta=meta(), hosts=hosts)


def test_one_percent_compliant_on_the_page_console_tables_and_trend():
    """One run shows one "% compliant": the summary, the console line, the by-site and by-build tables and the
    trend's point for the same counts agree (six hosts, two of each: 33%, never 34% in one place)."""
    results = _run_of_six()
    ok = headline(results.hosts)[0]
    assert ok.percent == 33
    assert "(33%)" in headline_text(results.hosts)
    site = by_site([replace(h, site_code="PR1", facts=replace(h.facts, site_code="PR1")) for h in results.hosts])
    assert [row.compliant_text for row in site] == ["33%"]
    assert [row.compliant_text for row in by_build(results.hosts[:4])] == ["50%"]
    point = TrendPoint("#1", "2026-11-25T01:00:00Z", {Verdict.NOT_AFFECTED: 1, Verdict.RECOVERED: 1,
                                                       Verdict.AFFECTED: 1, Verdict.AT_RISK: 1, Verdict.ERROR: 2})
    assert point.figures()[0] == 33
    assert 'data-compliant="33"' in str(trend_svg([point]))
    html = render_html(results)
    assert re.findall(r'<span class="pct">([^<]+)</span>', html) == ["33%", "33%", "33%", "0%"]


def test_trend_splits_waived_hosts_as_the_headline_does():
    """A waived ERROR host is waived, not "could not check", in the trend as in the summary, so a run's "% compliant"
    is the same in both (1 compliant, 1 waived ERROR, 2 needing action: 25%)."""
    failure = HostFailure(ErrorCategory.UNREACHABLE, "connection refused")
    waiver = Waiver("err1", "moved", "j.doe", "2099-01-01", verdicts=("ERROR",))
    hosts = (simple("ok1", Verdict.NOT_AFFECTED, "fine"), simple("bad1", Verdict.AFFECTED, "failed"),
             simple("bad2", Verdict.AFFECTED, "failed"),
             replace(simple("err1", Verdict.ERROR, "", error=failure), waiver=waiver))
    figures = headline(hosts)
    point = TrendPoint("#1", "2026-11-25T01:00:00Z", {Verdict.NOT_AFFECTED: 1, Verdict.AFFECTED: 2, Verdict.ERROR: 1},
                       waived=1, waived_unchecked=1)
    assert point.figures() == (figures[0].percent, figures[1].count, figures[2].count) == (25, 2, 0)


def test_a_sliver_of_hosts_needing_action_is_shown_as_less_than_one_percent():
    """995 compliant hosts, 3 needing action and 2 that could not be checked: 99%, 1% and "<1%", on the page and in
    the console."""
    hosts = [simple(f"ok{i}", Verdict.NOT_AFFECTED, "fine") for i in range(995)]
    hosts += [simple(f"bad{i}", Verdict.AFFECTED, "failed") for i in range(3)]
    hosts += [simple(f"err{i}", Verdict.ERROR, "", error=HostFailure(ErrorCategory.TIMEOUT, "late")) for i in range(2)]
    html = render_html(RunResults(meta=meta(), hosts=tuple(hosts)))
    assert re.findall(r'<span class="pct">([^<]+)</span>', html) == ["99%", "1%", "&lt;1%", "0%"]
    assert "995 of 1000 hosts compliant (99%)" in headline_text(hosts)


def test_what_differs_drops_the_words_a_findings_group_shares():
    """Hosts of one group whose "why" begins alike show only what tells them apart (the time and log line), even
    when other hosts of their verdict say something else; identical texts and lone hosts keep their whole text."""
    def ok(name: str, reason: str):
        return simple(name, Verdict.NOT_AFFECTED, reason)

    hosts = [ok("a", "The last legacy sync attempt succeeded at 2008-06-24 00:07:14 UTC (wsyncmgr.log:2168)."),
             ok("b", "The last legacy sync attempt succeeded at 2008-06-24 03:07:38 UTC (wsyncmgr.log:2170)."),
             ok("c", "No legacy update sync (STATMSG 6709) in the logs: legacy sync is not in use."),
             ok("d", "No legacy update sync (STATMSG 6709) in the logs: legacy sync is not in use.")]
    shown = differences(hosts, meta())
    assert [shown[id(h)] for h in hosts] == [
        "… 2008-06-24 00:07:14 UTC (wsyncmgr.log:2168).", "… 2008-06-24 03:07:38 UTC (wsyncmgr.log:2170).",
        hosts[2].reasons[0], hosts[3].reasons[0]]


def test_a_findings_definition_never_shows_the_advisorys_placeholder():
    """The advisory's headline "... the build is unknown and {cause}." reads with the hosts' cause where they share
    one, and says the cause is given per host where they do not."""
    from reports.overview import findings

    headline = "cmaudit cannot judge this host: the build is unknown and {cause}."
    run_meta = meta(verdict_text={"UNKNOWN": headline})

    def unknown(name: str, cause: str):
        return simple(name, Verdict.UNKNOWN, headline.replace("{cause}", cause))

    one = findings([unknown("a", "the sync log is missing"), unknown("b", "the sync log is missing")], run_meta)
    assert one[0].definition == "cmaudit cannot judge this host: the build is unknown and the sync log is missing."
    two = findings([unknown("a", "the sync log is missing"), unknown("b", "the log is unreadable")], run_meta)
    assert "{cause}" not in two[0].definition and "for each host" in two[0].definition
