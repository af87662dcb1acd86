"""results.jsonl (for a SIEM) and report.junit.xml (for CI servers), read back with independent parsers."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from reports import write_reports
from scanner.model.records import ErrorCategory, HostFailure, Verdict
from tests.support.samples import mixed_run, simple, waived_run


@pytest.fixture
def written(tmp_path):
    return write_reports(waived_run(), tmp_path / "run")


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_jsonl_has_one_parseable_object_per_host(written):
    """Every line of results.jsonl is one host's JSON object with its run, verdict and remediation."""
    lines = _lines(written["jsonl"])
    results = waived_run()
    assert sorted(x["host"] for x in lines) == sorted(h.host for h in results.hosts)
    assert {x["run_id"] for x in lines} == {results.meta.run_id}
    affected = next(x for x in lines if x["host"] == "SMS-A01")
    assert affected["verdict"] == "AFFECTED" and affected["needs_action"] is True
    assert "KB 951376" in affected["remediation"]
    assert affected["evidence"][1]["line"] == 1207  # the host's record as in results.json
    timeout = next(x for x in lines if x["host"] == "sms-c04")
    assert timeout["error"]["category"] == "timeout" and "--rescan-failed" in timeout["remediation"]


def test_jsonl_waived_host_needs_no_action(written):
    """A waived finding keeps its verdict in results.jsonl, with its waiver and needs_action false."""
    lines = {x["host"]: x for x in _lines(written["jsonl"])}
    waived, expired = lines["sms-w10"], lines["sms-x09"]
    assert waived["verdict"] == "AFFECTED" and waived["needs_action"] is False and waived["waived"] is True
    assert waived["waiver"]["owner"] == "j.doe" and waived["waiver"]["expires"] == "2027-01-31"
    assert expired["needs_action"] is True and expired["waiver"]["expired"] is True and expired["waived"] is False


def test_a_newline_in_server_text_stays_inside_its_line(tmp_path):
    """Server text with line breaks cannot split a host over two lines of results.jsonl."""
    host = simple("sms-n1", Verdict.ERROR, "", error=HostFailure(ErrorCategory.PROTOCOL, "line one\nline two\r\n{"))
    results = replace(mixed_run(), hosts=(host,))
    path = write_reports(results, tmp_path)["jsonl"]
    raw = path.read_bytes()
    assert raw.count(b"\n") == 1
    assert json.loads(raw)["error"]["message"] == "line one\nline two\r\n{"


def test_junit_counts_each_verdict_as_a_ci_server_does(written):
    """junitparser reads one testcase per host: findings fail, unjudged hosts error, waived/N-A are skipped."""
    xml = JUnitXml.fromfile(str(written["junit"]))
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    cases = {case.name: case for case in suite}
    results = waived_run()
    assert len(cases) == len(results.hosts) == suite.tests

    def kinds(name: str) -> list[type]:
        return [type(r) for r in cases[name].result]

    for host in results.hosts:
        expected = ([Skipped] if host.waived or host.verdict is Verdict.NOT_APPLICABLE
                    else [Failure] if host.verdict.is_finding
                    else [Error] if host.verdict.is_incomplete else [])
        assert kinds(host.host if host.port == 5985 or host.port == 5986 else f"{host.host}:{host.port}") \
            == expected, host.host
    assert suite.failures == 4  # SMS-A01, sms-a02, sms-r01, and sms-x09 whose waiver expired
    assert suite.failures == sum(1 for h in results.hosts if h.needs_action and h.verdict.is_finding)
    assert suite.errors == 2 and suite.skipped == 2
    failure = cases["SMS-A01"].result[0]
    assert failure.type == "AFFECTED" and "KB 951376" in failure.text
    error = cases["sms-c04"].result[0]
    assert error.type == "ERROR/timeout" and "no answer within 60 s" in error.message
    skipped = cases["sms-w10"].result[0]
    assert "j.doe" in skipped.message and "2027-01-31" in skipped.message
    assert cases["SMS-A01"].classname == "cmaudit.ms-954474.PR1"


def test_junit_survives_characters_xml_cannot_hold(tmp_path):
    """Control characters and broken surrogates from a server still give a file that parses."""
    nasty = "bad \x1b[2J\x00\x07 bytes \ud800 <&> ]]> end"
    host = simple("sms-z1", Verdict.ERROR, "", error=HostFailure(ErrorCategory.PROTOCOL, nasty))
    path = write_reports(replace(mixed_run(), hosts=(host,)), tmp_path)["junit"]
    case = next(iter(next(iter(JUnitXml.fromfile(str(path))))))
    assert "<&> ]]> end" in case.result[0].message and "\x1b" not in case.result[0].message


def test_an_errors_own_hint_wins_over_its_categorys_advice():
    """An ERROR host whose error carries a hint is told that hint; without one, its category's advice."""
    from scanner.model.remediation import ERROR_REMEDIATION, remediation_for

    meta = mixed_run().meta
    hinted = simple("sms-k1", Verdict.ERROR, "", error=HostFailure(ErrorCategory.AUTH, "server not found in Kerberos "
                    "database", hint="setspn -S HTTP/sms-k1.corp.example SMS-K1"))
    bare = simple("sms-k2", Verdict.ERROR, "", error=HostFailure(ErrorCategory.AUTH, "logon failed"))
    assert remediation_for(hinted, meta) == "setspn -S HTTP/sms-k1.corp.example SMS-K1"
    assert remediation_for(bare, meta) == ERROR_REMEDIATION["auth"]
    unknown_category = simple("sms-k3", Verdict.ERROR, "", error=HostFailure(ErrorCategory.OTHER, "odd"))
    assert "--rescan-failed" in remediation_for(unknown_category, meta)


def test_every_report_names_the_real_results_file_in_its_rescan_hint(tmp_path):
    """report.csv, report.junit.xml and results.jsonl give the path of the results.json beside them where a hint
    says to scan again, never the placeholder "RESULTS.json"."""
    paths = write_reports(mixed_run(), tmp_path / "run")
    real = f"--rescan-failed {tmp_path / 'run' / 'results.json'}"
    for name in ("csv", "junit", "jsonl"):
        text = paths[name].read_text(encoding="utf-8-sig")
        assert "RESULTS.json" not in text, name
        assert (json.dumps(real)[1:-1] if name == "jsonl" else real) in text, name  # JSON escapes a Windows \
