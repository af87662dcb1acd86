"""The report benchmark keeps working (it is run by hand, so a smoke run here keeps it from rotting)."""

from __future__ import annotations

from bench.bench_reports import main


def test_bench_reports_renders_and_prints_timings(tmp_path, capsys):
    """`bench_reports --hosts 30` writes the three files and prints one timing line per format."""
    assert main(["--hosts", "30", "--repeat", "1", "--out", str(tmp_path), "--other-benchmarks-option"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["reports.csv", "reports.html", "reports.json"]
    assert all("30 hosts in" in line for line in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv", "report.html", "results.json"]


def test_bench_reports_json_summary(capsys):
    """`python -m bench --json` gets one machine-readable line from this benchmark."""
    import json

    assert main(["--hosts", "10", "--repeat", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["benchmark"] == "reports" and [r["name"] for r in doc["rows"]] == ["csv", "html", "json"]
