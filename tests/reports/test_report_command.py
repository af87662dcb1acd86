"""`cmaudit report`: rebuild reports from results files and merge zones into one estate report."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest

from reports import write_reports
from reports.json_report import JsonReporter
from scanner.cli.main import main
from scanner.model.records import ErrorCategory, HostFailure, RunResults, Verdict
from scanner.model.results_file import load_results
from tests.support.samples import affected, meta, mixed_run, simple


def _save(path, results: RunResults):
    path.parent.mkdir(parents=True, exist_ok=True)
    JsonReporter().write(results, path)
    return path


def _zone_runs(tmp_path):
    """Two jump boxes; sms-shared is in both, fixed by the time the newer run saw it."""
    old = RunResults(meta=meta(run_id="zone-a", started="2026-11-18T01:00:00Z", finished="2026-11-18T01:05:00Z",
                               inventory_path="zone-a.csv"),
                     hosts=(affected("SMS-SHARED"), simple("sms-a1", Verdict.NOT_AFFECTED, "ok")))
    new = RunResults(meta=meta(run_id="zone-b", started="2026-11-25T01:00:00Z", finished="2026-11-25T01:05:00Z",
                               inventory_path="zone-b.csv", insecure=True),
                     hosts=(simple("sms-shared", Verdict.NOT_AFFECTED, "fixed"),
                            simple("sms-b1", Verdict.ERROR, "", error=HostFailure(ErrorCategory.AUTH, "401"))))
    return _save(tmp_path / "a" / "results.json", old), _save(tmp_path / "b" / "results.json", new)


@pytest.mark.parametrize("newer_first", [pytest.param(False, id="newer-last"), pytest.param(True, id="newer-first")])
def test_merge_takes_each_host_from_the_newest_run(tmp_path, capsys, newer_first):
    """A host in both files appears once, as the newer run saw it, whatever the argument order."""
    a, b = _zone_runs(tmp_path)
    args = [str(b), str(a)] if newer_first else [str(a), str(b)]
    out = tmp_path / "estate"
    status = main(["report", *args, "-o", str(out)])
    merged = load_results(out / "results.json")
    verdicts = {h.host.casefold(): h.verdict for h in merged.hosts}
    assert verdicts == {"sms-shared": Verdict.NOT_AFFECTED, "sms-a1": Verdict.NOT_AFFECTED, "sms-b1": Verdict.ERROR}
    assert status == 2  # the ERROR host; the fixed host no longer counts as a finding
    assert len(merged.meta.merged_from) == 2
    assert any(entry.startswith(str(a)) and "run zone-a" in entry and "1 of 2 hosts used" in entry
               for entry in merged.meta.merged_from)
    assert any(entry.startswith(str(b)) and "2 of 2 hosts used" in entry for entry in merged.meta.merged_from)
    assert merged.meta.insecure  # one insecure source makes the whole report insecure
    assert merged.meta.started == "2026-11-18T01:00:00Z" and merged.meta.finished == "2026-11-25T01:05:00Z"
    assert sorted(merged.meta.inventory_path.split("; ")) == ["zone-a.csv", "zone-b.csv"]
    with (out / "report.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Merged from" in html and 'id="banner-insecure"' in html
    printed = capsys.readouterr().out
    assert str(out / "report.html") in printed and "total" in printed


def test_single_file_is_rebuilt_as_it_was(tmp_path, capsys):
    """One results file gives the same results.json back, plus fresh CSV and HTML, with its exit status."""
    src = _save(tmp_path / "run" / "results.json", mixed_run())
    out = tmp_path / "again"
    assert main(["report", str(src), "-o", str(out)]) == 3  # findings and incomplete hosts
    assert load_results(out / "results.json") == mixed_run()
    assert (out / "report.html").stat().st_size > 0 and (out / "report.csv").stat().st_size > 0


def test_rebuilding_in_place_is_allowed_but_merging_over_an_input_is_not(tmp_path, capsys):
    """Writing a merged results.json over one of its inputs is refused; rebuilding one run in place is fine."""
    a, b = _zone_runs(tmp_path)
    before = a.read_bytes()
    assert main(["report", str(a), str(b), "-o", str(a.parent)]) == 64
    assert "overwrite an input" in capsys.readouterr().err
    assert a.read_bytes() == before
    assert main(["report", str(a), "-o", str(a.parent)]) == 1
    assert a.read_bytes() == before


def _bad_files():
    deep = "[" * 100_000 + "]" * 100_000
    return [
        pytest.param(None, "cannot read", id="missing"),
        pytest.param(b"{not json", "not valid JSON", id="not-json"),
        pytest.param(b"\xff\xfe\x00garbage", "not UTF-8", id="binary"),
        pytest.param(b'{"schema": "something-else"}', "not a cmaudit results file", id="foreign"),
        pytest.param(json.dumps({"schema": "cmaudit-results", "schema_version": 1, "meta": [], "hosts": []}).encode(),
                     "malformed", id="meta-is-a-list"),
        pytest.param(json.dumps({"schema": "cmaudit-results", "schema_version": 1,
                                 "meta": {"run_id": "r", "started": "s"}, "hosts": [{"host": "h"}]}).encode(),
                     "malformed", id="host-missing-fields"),
        pytest.param(deep.encode(), "results", id="deeply-nested"),
    ]


@pytest.mark.parametrize(("content", "message"), _bad_files())
def test_unreadable_results_file_is_one_line_naming_it(tmp_path, capsys, content, message):
    """A bad results file stops `report` with exit 64 and one line that names the file."""
    good = _save(tmp_path / "good" / "results.json", mixed_run())
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_bytes(content)
    status = main(["report", str(good), str(bad), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 64
    assert err.count("\n") == 1 and str(bad) in err and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_results_of_different_advisories_do_not_merge(tmp_path, capsys):
    """Merging runs against different advisories is refused: one report covers one advisory."""
    a = _save(tmp_path / "a.json", mixed_run())
    other = mixed_run()
    b = _save(tmp_path / "b.json", dataclasses.replace(other, meta=dataclasses.replace(other.meta, advisory_id="ms-x")))
    assert main(["report", str(a), str(b), "-o", str(tmp_path / "out")]) == 64
    assert "different advisories" in capsys.readouterr().err


def test_output_that_is_a_file_is_refused(tmp_path, capsys):
    """-o naming an existing file is a usage error, not a traceback."""
    src = _save(tmp_path / "r.json", mixed_run())
    blocker = tmp_path / "out"
    blocker.write_text("x")
    assert main(["report", str(src), "-o", str(blocker)]) == 64
    assert "not a folder" in capsys.readouterr().err


def test_merged_report_names_its_runs_and_their_times(tmp_path):
    """The report of two merged runs (given as their folders) says so in its title and summary, lists each run with
    its time, and its headline percentages add up to 100."""
    a, b = _zone_runs(tmp_path)
    out = tmp_path / "estate"
    main(["report", str(a.parent), str(b.parent), "-o", str(out)])
    html = (out / "report.html").read_text(encoding="utf-8")
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title.endswith("3 site servers, 2 runs merged - 2026-11-18 to 2026-11-25")
    runs = html.split('id="merged-runs">', 1)[1].split("</ul>", 1)[0]
    assert "run zone-a" in runs and "2026-11-18 01:05:00 UTC" in runs
    assert "run zone-b" in runs and "2026-11-25 01:05:00 UTC" in runs
    percents = [int(p) for p in __import__("re").findall(r'<span class="pct">(\d+)%</span>', html)]
    assert len(percents) == 4 and sum(percents) == 100, percents


def test_headline_percentages_add_up_to_100_where_ties_allow():
    """Rounded one by one, 3, 2 and 2 of 7 hosts would show 43 % + 29 % + 29 % = 101 %; the two equal groups keep
    equal percentages and the sum is 100 (tests/reports/test_overview.py has the rules)."""
    from reports.overview import shares

    assert shares([3, 2, 2, 0]) == [42, 29, 29, 0]
    assert shares([0, 0]) == [0, 0]
    assert all(sum(shares([a, b, c])) == 100 for a in range(6) for b in range(6) for c in range(1, 6)
               if len({a, b, c} - {0}) == len([n for n in (a, b, c) if n]))


def test_help_names_every_file_the_command_writes(tmp_path, capsys):
    """`cmaudit report --help` names each file it writes (results.jsonl and report.junit.xml too)."""
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    paths = write_reports(mixed_run(), tmp_path / "run")
    for path in paths.values():
        assert path.name in shown, path.name
