"""`cmaudit history` and `cmaudit diff` as an admin runs them."""

from __future__ import annotations

import json

import pytest

from scanner.cli.main import main
from scanner.history import database as history
from scanner.model.records import results_to_dict
from tests.support.weekly_runs import INVENTORY, run


@pytest.fixture
def three_weeks(tmp_path):
    db = tmp_path / "h.sqlite3"
    ids = [history.record_run(db, run(week), INVENTORY) for week in (1, 2, 3)]
    return db, ids


def test_history_lists_runs_newest_first(three_weeks, capsys):
    """`cmaudit history` shows each run with its verdict counts, newest first."""
    db, ids = three_weeks
    assert main(["history", "--history", str(db)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("#")]
    assert [line.split()[0] for line in lines] == [f"#{i}" for i in reversed(ids)]
    header = out.splitlines()[0].split()
    week1 = dict(zip(header, lines[-1].split(), strict=False))
    assert week1["AFFECTED"] == "2" and week1["NOT_AFFECTED"] == "3" and week1["hosts"] == "5"


def test_history_runs_limits_the_list(three_weeks, capsys):
    """--runs N shows only the latest N runs."""
    db, ids = three_weeks
    assert main(["history", "--history", str(db), "--runs", "1"]) == 0
    assert [x.split()[0] for x in capsys.readouterr().out.splitlines() if x.startswith("#")] == [f"#{ids[-1]}"]


def test_history_of_one_host(three_weeks, capsys):
    """`cmaudit history --host` shows one host's verdict in every run, matched case-insensitively."""
    db, ids = three_weeks
    assert main(["history", "--history", str(db), "--host", "SMS04"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert [(r["run"], r["verdict"]) for r in rows] == [(f"#{ids[2]}", "ERROR"), (f"#{ids[1]}", "ERROR"),
                                                       (f"#{ids[0]}", "NOT_AFFECTED")]


def _rows(out: str) -> list[dict[str, str]]:
    """The table's run lines as {column: value} (values without spaces in these tests)."""
    lines = out.splitlines()
    header = lines[0].split()
    return [dict(zip(header, line.split(), strict=False)) for line in lines if line.startswith("#")]


def test_history_of_one_host_in_one_audit_shows_audit_and_port(tmp_path, capsys):
    """`history --host H --audit NAME` shows only that audit's runs, each with its audit and the host's port."""
    db = tmp_path / "h.sqlite3"
    history.record_run(db, run(1, inventory="/srv/dc1/fleet.csv"), "dc1")
    history.record_run(db, run(2, inventory="/srv/dc2/fleet.csv"), "dc2")
    assert main(["history", "--history", str(db), "--host", "sms01", "--audit", "dc2"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert [(r["run"], r["audit"], r["host"], r["port"]) for r in rows] == [("#2", "dc2", "sms01", "5985")]
    assert main(["history", "--history", str(db), "--host", "sms01"]) == 0
    assert [r["audit"] for r in _rows(capsys.readouterr().out)] == ["dc2", "dc1"]


def test_history_delete_takes_a_run_out_of_the_comparisons(three_weeks, capsys):
    """`history --delete RUN` removes that run: the list no longer shows it and the next run's changes skip it;
    its run folder is not touched."""
    from scanner.history import changes

    db, ids = three_weeks
    folder = db.parent / "week4"
    folder.mkdir()
    (folder / "results.json").write_text("{}", encoding="utf-8")
    week4 = history.record_run(db, run(4), INVENTORY, output_dir=folder)
    assert main(["history", "--history", str(db), "--delete", f"#{week4}"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"deleted run #{week4} (audit {INVENTORY}, started 2026-11-23T02:00:00Z, 5 hosts)")
    assert f"its run folder {folder} is left as it is" in out and (folder / "results.json").is_file()
    assert main(["history", "--history", str(db), "--delete", str(ids[1])]) == 0
    assert [r.id for r in history.list_runs(db)] == [ids[2], ids[0]]
    assert changes.changes_since_last(db, ids[2]).previous_run == f"#{ids[0]}"


@pytest.mark.parametrize("spec", [pytest.param("99", id="unknown"), pytest.param("#0", id="zero"),
                                  pytest.param("9" * 5000, id="huge"), pytest.param("last", id="not-a-number")])
def test_history_delete_of_no_such_run_is_usage_error(three_weeks, capsys, spec):
    """Deleting a run the history does not hold (or not a run id at all) is exit 64, one line, nothing deleted."""
    db, ids = three_weeks
    status: object
    try:
        status = main(["history", "--history", str(db), "--delete", spec])
    except SystemExit as exc:
        status = exc.code
    assert status == 64
    err = capsys.readouterr().err
    assert "run" in err.splitlines()[-1] and len(err) < 1000
    assert len(history.list_runs(db)) == 3


def test_history_delete_of_a_run_of_another_audit_is_refused(tmp_path, capsys):
    """`history --delete 1 --audit dc2` when run #1 is of the audit dc1: exit 64, one line naming both audits, and
    run #1 is still there; with its own audit it goes."""
    db = tmp_path / "h.sqlite3"
    first = history.record_run(db, run(1, inventory="/srv/dc1/fleet.csv"), "dc1")
    history.record_run(db, run(2, inventory="/srv/dc2/fleet.csv"), "dc2")
    assert main(["history", "--history", str(db), "--delete", str(first), "--audit", "dc2"]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'dc1'" in err and "'dc2'" in err and "nothing deleted" in err
    assert len(history.list_runs(db)) == 2
    assert main(["history", "--history", str(db), "--delete", str(first), "--audit", "dc1"]) == 0
    assert [r.audit for r in history.list_runs(db)] == ["dc2"]


def test_history_without_database_is_usage_error(tmp_path, capsys):
    """Asking for history that was never recorded exits 64 with one line naming the file."""
    assert main(["history", "--history", str(tmp_path / "missing.sqlite3")]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.sqlite3" in err


def test_diff_of_history_runs(three_weeks, capsys):
    """`cmaudit diff A B` with history ids prints every change between the two runs."""
    db, ids = three_weeks
    assert main(["diff", str(ids[0]), f"#{ids[1]}", "--history", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Changes from run #{ids[0]} (2026-11-02 02:00 UTC) to run #{ids[1]} (2026-11-09 02:00 UTC):")
    assert capsys.readouterr().err == ""  # in order, one audit: nothing to warn about
    for expected in ("Fixed (1):\n    sms02  AFFECTED -> NOT_AFFECTED",
                     "Regressed (1):\n    sms03  NOT_AFFECTED -> AFFECTED",
                     "Newly unreachable (1):\n    sms04  NOT_AFFECTED -> ERROR",
                     "Hosts removed (1):\n    sms05  (was NOT_AFFECTED)",
                     "Hosts added (1):\n    sms06  NOT_AFFECTED"):
        assert expected in out


def test_diff_of_results_files(tmp_path, capsys):
    """`cmaudit diff` also compares two results.json files (or their run folders) with no history."""
    for week in (1, 3):
        folder = tmp_path / f"week{week}"
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(results_to_dict(run(week))), encoding="utf-8")
    assert main(["diff", str(tmp_path / "week1" / "results.json"), str(tmp_path / "week3")]) == 0
    out = capsys.readouterr().out
    assert "Fixed (1):\n    sms02  AFFECTED -> NOT_AFFECTED" in out
    assert "Still open (1):\n    sms01  AFFECTED since 2026-11-02, 2 weeks" in out


@pytest.mark.parametrize(("content", "message"), [
    pytest.param("{not json", "Expecting", id="not-json"),
    pytest.param('{"schema": "other"}', "not a cmaudit results file", id="foreign"),
    pytest.param("[" * 100_000, "nested too deeply", id="deeply-nested"),
])
def test_diff_of_unreadable_file_is_usage_error(tmp_path, capsys, content, message):
    """A broken results file is refused with exit 64 and one line naming it."""
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(results_to_dict(run(1))))
    assert main(["diff", str(good), str(bad)]) == 64
    err = capsys.readouterr().err
    assert "bad.json" in err and message in err and err.count("\n") == 1


def test_diff_of_unknown_run_id(three_weeks, capsys):
    """A run id the history does not have exits 64 and says so."""
    db, _ = three_weeks
    assert main(["diff", "1", "99", "--history", str(db)]) == 64
    assert "no run with id 99" in capsys.readouterr().err


def test_diff_warns_when_the_newer_run_comes_first(three_weeks, capsys):
    """`cmaudit diff 2 1` still compares as told, but says that RUN_A is the newer run."""
    db, ids = three_weeks
    assert main(["diff", str(ids[1]), str(ids[0]), "--history", str(db)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"Changes from run #{ids[1]} (2026-11-09 02:00 UTC) to run #{ids[0]} ")
    assert "warning: RUN_A #2 (2026-11-09 02:00 UTC) is newer than RUN_B #1 (2026-11-02 02:00 UTC)" in captured.err


def test_diff_warns_about_runs_of_different_audits(tmp_path, capsys):
    """Comparing runs of two audits is allowed but named: their hosts would look added and removed."""
    from dataclasses import replace

    for week, audit in ((1, "zone-a"), (2, "zone-b")):
        results = run(week)
        results = replace(results, meta=replace(results.meta, audit=audit))
        (tmp_path / f"w{week}.json").write_text(json.dumps(results_to_dict(results)), encoding="utf-8")
    assert main(["diff", str(tmp_path / "w1.json"), str(tmp_path / "w2.json")]) == 0
    err = capsys.readouterr().err
    assert "runs of different audits (zone-a, zone-b)" in err and err.count("\n") == 1


@pytest.mark.parametrize("second", ["{first}", "#{first}", "{folder}"])
def test_diff_of_a_run_with_itself_says_so(three_weeks, tmp_path, capsys, second):
    """`cmaudit diff 1 1` (or one run named as its id and as its results file) warns that it compares a run with
    itself, where nothing can have changed."""
    db, ids = three_weeks
    folder = tmp_path / "copy"
    folder.mkdir()
    results = history.load_run(db, ids[0])
    (folder / "results.json").write_text(json.dumps(results_to_dict(results)), encoding="utf-8")
    spec = second.format(first=ids[0], folder=folder)
    assert main(["diff", str(ids[0]), spec, "--history", str(db)]) == 0
    err = capsys.readouterr().err
    assert "compares run" in err and "with itself" in err and err.count("\n") == 1
