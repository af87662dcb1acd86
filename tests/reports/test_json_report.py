"""results.json is readable, UTF-8, and rebuilds exactly the records it was written from."""

from __future__ import annotations

import json

from reports.json_report import JsonReporter
from scanner.model.records import results_from_dict
from tests.support.samples import mixed_run


def test_results_json_round_trips(tmp_path):
    """Reading results.json back gives the same records, non-ASCII text kept as UTF-8."""
    results = mixed_run()
    path = tmp_path / "results.json"
    JsonReporter().write(results, path)
    raw = path.read_bytes()
    doc = json.loads(raw.decode("utf-8"))
    assert results_from_dict(doc) == results
    assert raw.endswith(b"}\n") and b'\n "meta"' in raw


def test_non_json_option_values_do_not_lose_the_file(tmp_path):
    """An option value json cannot encode is written as text instead of failing the run."""
    import dataclasses
    from pathlib import PurePosixPath

    results = mixed_run()
    results = dataclasses.replace(results, meta=dataclasses.replace(results.meta,
                                                                    options={"out": PurePosixPath("/r")}))
    path = tmp_path / "results.json"
    JsonReporter().write(results, path)
    assert json.loads(path.read_text(encoding="utf-8"))["meta"]["options"] == {"out": "/r"}


def test_one_host_per_line(tmp_path):
    """Each host is one line of results.json, so a diff of two runs names the hosts that changed."""
    results = mixed_run()
    path = tmp_path / "results.json"
    JsonReporter().write(results, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    host_lines = [line for line in lines if line.startswith('  {"host": ')]
    assert len(host_lines) == len(results.hosts) > 1
    for line, host in zip(host_lines, results.hosts, strict=True):
        assert json.loads(line.rstrip(","))["host"] == host.host
