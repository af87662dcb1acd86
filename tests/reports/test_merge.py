"""Merging runs: which copy of a host wins, and what the merged run says about itself."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reports.merge import Source, merge_results
from scanner.model.records import RunResults, Verdict
from scanner.model.results_file import ResultsFileError
from tests.support.samples import meta, simple


def _run(run_id: str, finished: str | None, *hosts, started: str = "2026-11-01T00:00:00Z") -> RunResults:
    return RunResults(meta=meta(run_id=run_id, started=started, finished=finished), hosts=hosts)


def test_same_name_on_another_port_is_another_host():
    """Hosts match by case-folded name and port, so two WinRM listeners stay two rows."""
    a = _run("a", "2026-11-02T00:00:00Z", simple("SMS1", Verdict.AFFECTED, "x", port=5985))
    b = _run("b", "2026-11-03T00:00:00Z", simple("sms1", Verdict.NOT_AFFECTED, "y", port=5986),
             simple("sms1", Verdict.RECOVERED, "z", port=5985))
    merged = merge_results([Source("a.json", a), Source("b.json", b)])
    assert sorted((h.port, h.verdict) for h in merged.hosts) == [(5985, Verdict.RECOVERED),
                                                                 (5986, Verdict.NOT_AFFECTED)]


def test_one_name_at_two_addresses_stays_two_hosts():
    """One name and port at two addresses (an inventory may hold both) are two hosts: each is matched by its
    address, so the newer run replaces only its own copy and the other is kept, never dropped."""
    def at(address: str, verdict: Verdict):
        return replace(simple("sms1", verdict, "x"), address=address)

    a = _run("a", "2026-11-02T00:00:00Z", at("10.0.0.1", Verdict.AFFECTED), at("10.0.0.2", Verdict.NOT_AFFECTED))
    b = _run("b", "2026-11-03T00:00:00Z", at("10.0.0.1", Verdict.RECOVERED))
    merged = merge_results([Source("a.json", a), Source("b.json", b)])
    assert sorted((h.address, h.verdict) for h in merged.hosts) == [("10.0.0.1", Verdict.RECOVERED),
                                                                    ("10.0.0.2", Verdict.NOT_AFFECTED)]


def test_equal_times_prefer_the_file_named_last():
    """When two runs finished at the same moment, the later argument wins (predictable, documented)."""
    a = _run("a", "2026-11-02T00:00:00Z", simple("sms1", Verdict.AFFECTED, "x"))
    b = _run("b", "2026-11-02T00:00:00+00:00", simple("sms1", Verdict.NOT_AFFECTED, "y"))
    assert merge_results([Source("a", a), Source("b", b)]).hosts[0].verdict is Verdict.NOT_AFFECTED
    assert merge_results([Source("b", b), Source("a", a)]).hosts[0].verdict is Verdict.AFFECTED


def test_unfinished_run_is_dated_by_its_start():
    """An interrupted run without an end time still competes by its start time, and marks the merge."""
    old = _run("old", "2026-11-02T00:00:00Z", simple("sms1", Verdict.AFFECTED, "x"))
    cut = RunResults(meta=meta(run_id="cut", started="2026-11-09T00:00:00Z", finished=None, interrupted=True),
                     hosts=(simple("sms1", Verdict.NOT_AFFECTED, "y"),))
    merged = merge_results([Source("cut", cut), Source("old", old)])
    assert merged.hosts[0].verdict is Verdict.NOT_AFFECTED
    assert merged.meta.interrupted and merged.meta.finished is None
    assert merged.meta.run_id.startswith("merged-")


def test_nothing_to_merge_is_an_error():
    """An empty list of results files is refused clearly."""
    with pytest.raises(ResultsFileError, match="no results files"):
        merge_results([])
