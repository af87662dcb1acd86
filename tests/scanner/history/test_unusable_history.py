"""A history database cmaudit cannot use stops `scan` before any host; `history` and `doctor` say so in one line."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from scanner.cli.main import main
from scanner.history import database as history
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine
from tests.support.scans import new_password
from tests.support.weekly_runs import INVENTORY, run


def _sql(db: Path, *statements: str) -> None:
    with closing(sqlite3.connect(db)) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()


def _negative_version(db: Path) -> None:
    history.record_run(db, run(1), INVENTORY)
    _sql(db, "PRAGMA user_version = -7")


def _foreign_runs_table(db: Path) -> None:
    _sql(db, "CREATE TABLE runs (name TEXT, price REAL)", "INSERT INTO runs VALUES ('budget', 12.5)")


def _foreign_tables_of_its_own(db: Path) -> None:
    _sql(db, "CREATE TABLE budget (item TEXT, price REAL)", "INSERT INTO budget VALUES ('licences', 12.5)")


def _current_version_without_tables(db: Path) -> None:
    _sql(db, "CREATE TABLE notes (text TEXT)", f"PRAGMA user_version = {history.SCHEMA_VERSION}")


def _older_version_with_tables_missing(db: Path) -> None:
    history.record_run(db, run(1), INVENTORY)
    _sql(db, "DROP TABLE evidence_files", "DROP TABLE host_results",
         f"PRAGMA user_version = {history.SCHEMA_VERSION - 1}")


def _column_missing(db: Path) -> None:
    history.record_run(db, run(1), INVENTORY)
    _sql(db, "ALTER TABLE host_results DROP COLUMN waived")


UNUSABLE: list[object] = [
    pytest.param(_negative_version, "version -7", id="negative-user-version"),
    pytest.param(_foreign_runs_table, "not a cmaudit history", id="foreign-runs-table"),
    pytest.param(_foreign_tables_of_its_own, "not a cmaudit history: it holds tables cmaudit did not write (budget)",
                 id="foreign-tables-of-its-own"),
    pytest.param(_current_version_without_tables, "no table", id="current-version-no-tables"),
    pytest.param(_older_version_with_tables_missing, "cannot migrate", id="older-version-tables-missing"),
    pytest.param(_column_missing, "no column waived", id="column-missing"),
]


@pytest.mark.parametrize(("make", "said"), UNUSABLE)
def test_history_command_refuses_an_unusable_database(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      make: Callable[[Path], None], said: str) -> None:
    """`cmaudit history` on a database it cannot use is exit 64 and one line naming the file, never a traceback."""
    db = tmp_path / "h.sqlite3"
    make(db)
    assert main(["history", "--history", str(db)]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(db) in err and said in err, err


@pytest.mark.parametrize(("make", "said"), UNUSABLE)
def test_doctor_fails_an_unusable_history_and_leaves_it_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              make: Callable[[Path], None], said: str) -> None:
    """`cmaudit doctor` fails the history check (exit 64) where a scan could not record, without changing the file."""
    db = tmp_path / "h.sqlite3"
    make(db)
    before = db.read_bytes()
    status = main(["doctor", "--json", "-o", str(tmp_path / "runs"), "--history", str(db)])
    local = {c["name"]: c for c in json.loads(capsys.readouterr().out)["local"]}
    check = local["history database"]
    assert status == 64 and not check["ok"] and said in check["detail"] and check["hint"], check
    assert db.read_bytes() == before


def test_doctor_accepts_a_history_it_would_migrate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An older history cmaudit can migrate passes doctor's check (and doctor does not migrate it)."""
    db = tmp_path / "h.sqlite3"
    history.record_run(db, run(1), INVENTORY)
    _sql(db, f"PRAGMA user_version = {history.SCHEMA_VERSION - 1}")
    main(["doctor", "--json", "-o", str(tmp_path / "runs"), "--history", str(db)])
    local = {c["name"]: c for c in json.loads(capsys.readouterr().out)["local"]}
    assert local["history database"]["ok"], local["history database"]
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == history.SCHEMA_VERSION - 1


def test_an_over_long_history_file_name_is_refused_before_anything(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A --history whose file name no file system takes (over 255 characters) fails the pre-flight step and doctor
    on one bounded line, not the recording after every host was scanned."""
    db = tmp_path / ("h" * 300 + ".sqlite3")
    with pytest.raises(history.HistoryError, match="longer than 255 characters") as refused:
        history.prepare_database(db)
    assert len(str(refused.value)) < 600
    status = main(["doctor", "--json", "-o", str(tmp_path / "runs"), "--history", str(db)])
    check = {c["name"]: c for c in json.loads(capsys.readouterr().out)["local"]}["history database"]
    assert status == 64 and not check["ok"] and "longer than 255" in check["detail"], check


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    password = new_password()
    with Fleet(hosts=1, password=password, machine_factory=healthy_machine, profiles=["h"]) as running:
        running.password = password  # type: ignore[attr-defined]
        yield running


@pytest.mark.network
@pytest.mark.parametrize(("make", "said"), UNUSABLE)
def test_scan_with_an_unusable_history_contacts_no_host(fleet: Fleet, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str],
                                                        make: Callable[[Path], None], said: str) -> None:
    """A scan whose history cannot be recorded in stops before the first host: exit 64, one line, no run folder."""
    db = tmp_path / "h.sqlite3"
    make(db)
    inventory = fleet.write_inventory(tmp_path / "small.csv")
    monkeypatch.setenv("CMAUDIT_PASSWORD", fleet.password)  # type: ignore[attr-defined]
    before = sum(h.counters.requests for h in fleet.hosts)
    status = main(["scan", str(inventory), "--username", fleet.username, "--quiet", "-o", str(tmp_path / "run"),
                   "--history", str(db)])
    err = capsys.readouterr().err
    assert status == 64 and err.count("\n") == 1 and str(db) in err and said in err, err
    assert "no host was contacted" in err
    assert sum(h.counters.requests for h in fleet.hosts) == before and not (tmp_path / "run").exists()


@pytest.mark.network
def test_scan_migrates_an_older_history_before_any_host(fleet: Fleet, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An older history is migrated by the pre-flight step, and the run is recorded in it."""
    db = tmp_path / "h.sqlite3"
    history.record_run(db, run(1), INVENTORY)
    _sql(db, f"PRAGMA user_version = {history.SCHEMA_VERSION - 1}")
    inventory = fleet.write_inventory(tmp_path / "small.csv")
    monkeypatch.setenv("CMAUDIT_PASSWORD", fleet.password)  # type: ignore[attr-defined]
    status = main(["scan", str(inventory), "--username", fleet.username, "--quiet", "-o", str(tmp_path / "run"),
                   "--history", str(db)])
    assert status in (0, 1)
    assert len(history.list_runs(db)) == 2
