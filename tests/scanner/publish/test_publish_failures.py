"""A follow-up step that fails after the hosts were scanned: the results are never lost, and a bug in cmaudit
never ends as an audit status (0-3) a scheduler would take for a finished audit."""

from __future__ import annotations

import json

import pytest

from scanner.cli.main import main
from scanner.history import database
from tests.support.scans import new_password


@pytest.fixture
def one_host(tmp_path, monkeypatch):
    """One healthy simulated site server, its inventory, and the password in CMAUDIT_PASSWORD."""
    from simulator import Fleet

    password = new_password()
    monkeypatch.setenv("CMAUDIT_PASSWORD", password)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # where a crash file goes
    with Fleet(hosts=1, scenario="sp1-healthy", password=password) as fleet:
        yield fleet, fleet.write_inventory(tmp_path / "hosts.csv")


def _scan(tmp_path, fleet, inventory) -> int:
    return main(["scan", str(inventory), "--username", fleet.username, "--history", str(tmp_path / "h.sqlite3"),
                 "-o", str(tmp_path / "run"), "--quiet"])


def test_a_bug_while_recording_the_history_is_exit_70_after_the_reports(tmp_path, monkeypatch, capsys, one_host):
    """A bug in the history step keeps results.json and the reports, and ends as 70 naming the traceback file."""
    fleet, inventory = one_host

    def broken(*_args, **_kwargs):
        raise IndexError("list index out of range")

    monkeypatch.setattr(database, "record_run", broken)
    assert _scan(tmp_path, fleet, inventory) == 70
    err = capsys.readouterr().err
    assert "history not updated: internal error: IndexError" in err
    assert "internal error (a bug in cmaudit" in err and "the traceback is in" in err
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert [h["verdict"] for h in results["hosts"]] == ["NOT_AFFECTED"]
    assert (tmp_path / "run" / "report.html").is_file() and (tmp_path / "run" / "report.csv").is_file()


def test_a_history_that_cannot_be_written_is_said_and_keeps_the_audit_status(tmp_path, monkeypatch, capsys,
                                                                             one_host):
    """A history the run cannot write (the database's own error) is one problem line; the audit's status stands."""
    fleet, inventory = one_host

    def refused(db_path, *_args, **_kwargs):
        raise database.HistoryError(db_path, "history database error: database or disk is full")

    monkeypatch.setattr(database, "record_run", refused)
    assert _scan(tmp_path, fleet, inventory) == 0
    err = capsys.readouterr().err
    assert "history not updated:" in err and "disk is full" in err and "internal error" not in err
    assert (tmp_path / "run" / "report.html").is_file()
