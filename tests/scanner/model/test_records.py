"""results.json is the source every report is rendered from: it must round-trip exactly."""

from __future__ import annotations

import json

import pytest

from scanner.model.records import (
    ErrorCategory,
    Evidence,
    HostFacts,
    HostFailure,
    HostResult,
    LogFileFact,
    ResultsFormatError,
    RunMeta,
    RunResults,
    Verdict,
    Window,
    results_from_dict,
    results_to_dict,
)


def _sample() -> RunResults:
    meta = RunMeta(run_id="r1", started="2026-11-25T01:00:00Z", finished="2026-11-25T01:02:00Z",
                   cmaudit_version="0.1.0", advisory_id="ms-954474", advisory_title="t", advisory_kb="951376",
                   advisory_sha256="ab" * 32, inventory_path="fleet.csv", options={"concurrency": 32})
    h1 = HostResult(host="sms01", address="10.0.0.1", port=5985, scheme="http", verdict=Verdict.AFFECTED,
                    reasons=("legacy sync failed",),
                    evidence=(Evidence("wsyncmgr.log", 12, "2008-06-11T03:00:00.000Z", "Error 0x80004005", "failure"),),
                    window=Window("2008-06-01T00:00:00Z", "2008-06-12T00:00:00Z"),
                    facts=HostFacts(build="4.00.6221.1000", logs=(LogFileFact("C:\\x\\wsyncmgr.log", 10, "00" * 32),),
                                    codepage=437, site_type="1"))
    h2 = HostResult(host="sms02", address="sms02", port=5986, scheme="https", verdict=Verdict.ERROR,
                    error=HostFailure(ErrorCategory.ACCESS, "logged on, but the WinRM service denied access",
                                      "Add the account to the local Administrators group on the host."))
    return RunResults(meta=meta, hosts=(h1, h2))


def test_results_round_trip_through_json():
    """Writing results.json and reading it back gives the same records (the error's hint and the shell's code page
    included)."""
    r = _sample()
    again = results_from_dict(json.loads(json.dumps(results_to_dict(r))))
    assert again == r


def test_results_from_before_hints_still_read():
    """A results file written before errors carried a hint (or the code page was recorded) still loads."""
    doc = results_to_dict(_sample())
    del doc["hosts"][1]["error"]["hint"]
    del doc["hosts"][0]["facts"]["codepage"]
    again = results_from_dict(doc)
    assert again.hosts[1].error is not None and again.hosts[1].error.hint == ""
    assert again.hosts[0].facts.codepage is None


@pytest.mark.parametrize("doc", [
    pytest.param({}, id="empty"),
    pytest.param({"schema": "cmaudit-results", "schema_version": 99, "meta": {}, "hosts": []}, id="future-schema"),
    pytest.param({"schema": "cmaudit-results", "schema_version": 1, "meta": {}, "hosts": []}, id="no-meta"),
])
def test_foreign_or_broken_results_are_rejected(doc):
    """A file that is not a readable cmaudit results file is refused with a clear error."""
    with pytest.raises(ResultsFormatError):
        results_from_dict(doc)


def _with_host(**fields):
    doc = results_to_dict(_sample())
    doc["hosts"][0].update(fields)
    return doc


@pytest.mark.parametrize("fields", [
    pytest.param({"reasons": [{"x": 1}]}, id="reason-object"),
    pytest.param({"tags": "dc1"}, id="tags-not-a-list"),
    pytest.param({"site_code": ["P01"]}, id="site-code-list"),
    pytest.param({"evidence": [{"file": "f", "line": 1, "text": {"a": 1}}]}, id="evidence-text-object"),
    pytest.param({"facts": {"logs": [{"path": "p", "size": 1, "sha256": []}]}}, id="log-hash-list"),
    pytest.param({"window": "2008"}, id="window-not-object"),
])
def test_wrong_field_types_are_a_format_error(fields):
    """A results file with a wrong type anywhere is refused up front, never a crash in a reporter later."""
    with pytest.raises(ResultsFormatError):
        results_from_dict(_with_host(**fields))


def test_verdict_classes():
    """Findings and incomplete verdicts drive the exit status bits."""
    assert {v for v in Verdict if v.is_finding} == {Verdict.AFFECTED, Verdict.AT_RISK}
    assert {v for v in Verdict if v.is_incomplete} == {Verdict.ERROR, Verdict.UNKNOWN}
