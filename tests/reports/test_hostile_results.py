"""Tampered results files and history databases: one line and exit 64 in report, diff and history, never a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from reports.json_report import JsonReporter
from scanner.cli.main import main
from scanner.history import database as history
from scanner.model.results_file import MAX_RESULTS_BYTES
from tests.support.samples import mixed_run
from tests.support.weekly_runs import INVENTORY, run


def _results(tmp_path: Path, name: str = "results.json") -> tuple[Path, dict]:
    path = tmp_path / name
    JsonReporter().write(mixed_run(), path)
    return path, json.loads(path.read_text(encoding="utf-8"))


def _tamper(doc: dict, where: str, value: object) -> None:
    """Set one field: `meta.insecure`, `hosts`, `host.port`, `log.size`, `evidence.line`..."""
    affected = next(h for h in doc["hosts"] if h["evidence"] and h["facts"]["logs"])
    target = {"meta": doc["meta"], "host": affected, "log": affected["facts"]["logs"][0],
              "evidence": affected["evidence"][0], "doc": doc}[where.split(".")[0]]
    target[where.split(".")[1]] = value


def _one_line_64(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 64
    out, err = capsys.readouterr()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


HUGE = 1e400  # json.dumps writes Infinity; Python reads it back as inf, which int() cannot take
DIGITS = "@digits@"  # written as a bare 5,000-digit number (json.dumps itself cannot write one)


@pytest.mark.parametrize("where, value, words", [
    pytest.param("log.size", HUGE, "facts.logs.size", id="size-1e400"),
    pytest.param("evidence.line", HUGE, "evidence.line", id="line-1e400"),
    pytest.param("host.port", HUGE, "port", id="port-1e400"),
    pytest.param("host.attempts", HUGE, "attempts", id="attempts-1e400"),
    pytest.param("host.requests", HUGE, "requests", id="requests-1e400"),
    pytest.param("host.seconds", HUGE, "seconds", id="seconds-1e400"),
    pytest.param("host.port", DIGITS, "5,000 digits", id="port-of-5000-digits"),
    pytest.param("host.port", "5985", "port", id="port-as-text"),
    pytest.param("meta.insecure", "false", "meta.insecure: expected true or false", id="insecure-as-text"),
    pytest.param("log.truncated", "no", "facts.logs.truncated", id="truncated-as-text"),
    pytest.param("doc.hosts", None, "hosts: expected a list", id="hosts-null"),
])
@pytest.mark.parametrize("command", ["report", "diff"])
def test_tampered_field_is_one_line(tmp_path, capsys, where, value, words, command):
    """A results.json with an absurd or wrongly typed field is refused by report and diff on one line (exit 64)."""
    path, doc = _results(tmp_path)
    _tamper(doc, where, value)
    path.write_text(json.dumps(doc).replace(f'"{DIGITS}"', "9" * 5000), encoding="utf-8")
    good, _ = _results(tmp_path, "good.json")
    argv = ["report", str(path), "-o", str(tmp_path / "out")] if command == "report" else ["diff", str(good), str(path)]
    err = _one_line_64(argv, capsys)
    assert str(path) in err and words in err


def test_huge_run_id_in_diff_is_one_line(tmp_path, capsys):
    """`cmaudit diff 99999999999999999999999 1` says there is no such run instead of an OverflowError."""
    db = tmp_path / "h.sqlite3"
    history.record_run(db, run(1), INVENTORY)
    err = _one_line_64(["diff", "99999999999999999999999", "1", "--history", str(db)], capsys)
    assert "no such run" in err
    assert "no such run" in _one_line_64(["diff", "1", "#" + "9" * 5000, "--history", str(db)], capsys)


@pytest.mark.parametrize("command", ["diff", "history"])
def test_absurd_value_in_the_history_is_one_line(tmp_path, capsys, command):
    """A history database whose stored host record holds `"size": 1e400` fails diff and history on one line."""
    db = tmp_path / "h.sqlite3"
    history.record_run(db, run(1), INVENTORY)
    history.record_run(db, run(2), INVENTORY)
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE host_results SET result_json = replace(result_json, '\"size\": 4096', '\"size\": 1e400')")
    argv = ["diff", "1", "2"] if command == "diff" else ["history", "--host", "sms01"]
    err = _one_line_64([*argv, "--history", str(db)], capsys)
    assert "facts.logs.size" in err and str(db) in err


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused_before_reading_it(tmp_path, capsys):
    """`cmaudit report /dev/zero` is refused at once as not a regular file, without reading a GiB first."""
    err = _one_line_64(["report", "/dev/zero", "-o", str(tmp_path / "out")], capsys)
    assert "not a regular file" in err


def test_an_oversized_file_is_refused_before_reading_it(tmp_path, capsys):
    """A results file over the cap (a sparse file here: no disk used) is refused by its size, unread."""
    big = tmp_path / "results.json"
    with big.open("wb") as fh:
        fh.truncate(MAX_RESULTS_BYTES + 1)
    err = _one_line_64(["report", str(big), "-o", str(tmp_path / "out")], capsys)
    assert f"larger than {MAX_RESULTS_BYTES:,} bytes" in err
