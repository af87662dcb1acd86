"""Audit names: runs are compared per audit (`--audit`, default from the inventory's file name without a
date), so a weekly export named by date still compares with last week's; older databases migrate."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import replace

import pytest

from scanner.cli.main import main
from scanner.history import database as history
from scanner.model.records import host_to_dict, meta_to_dict
from scanner.publish import followup
from tests.support.weekly_runs import run


@pytest.mark.parametrize(("path", "name"), [
    pytest.param("/exports/servers-2026-11-29.csv", "servers", id="iso-date"),
    pytest.param("C:\\exports\\servers_20261129.csv", "servers", id="compact-date-windows"),
    pytest.param("servers-2026-w48.csv", "servers", id="week"),
    pytest.param("servers-20261129T093538Z.csv", "servers", id="timestamp"),
    pytest.param("/etc/cmaudit/fleet.csv", "fleet", id="plain"),
    pytest.param("hosts", "hosts", id="no-extension"),
    pytest.param("2026-11-29.csv", "2026-11-29", id="only-a-date"),
    pytest.param(None, "(no inventory)", id="none"),
])
def test_default_audit_name_is_the_file_name_without_a_date(path, name):
    """The default audit name drops the folder, the extension and a trailing date or week."""
    assert history.audit_name_for(path) == name


@pytest.mark.parametrize("path", [
    pytest.param("/exports/" + "x" * 300 + ".csv", id="long"),
    pytest.param("/exports/line\nbreak\u202e.csv", id="controls"),
    pytest.param("/exports/\u200b.csv", id="only-a-format-character"),
])
def test_default_audit_name_is_always_a_valid_one(path):
    """Whatever the inventory's file is called, its default audit name passes the --audit check."""
    name = history.audit_name_for(path)
    assert history.check_audit_name(name) == name


def test_a_dated_export_compares_with_last_weeks(tmp_path):
    """servers-2026-11-29.csv is compared with servers-2026-11-22.csv: same audit, not a new baseline."""
    db = tmp_path / "h.sqlite3"
    first = run(1, inventory="/exports/servers-2026-11-02.csv")
    second = run(2, inventory="/exports/servers-2026-11-09.csv")
    followup.prepare(first, history_path=db, output_dir=None)
    found = followup.prepare(second, history_path=db, output_dir=None).changes
    assert found is not None and not found.is_baseline and found.previous_run == "#1"
    assert [c.host for c in found.fixed] == ["sms02"]
    other = run(3, inventory="/exports/servers-2026-11-16.csv")
    named = replace(other, meta=replace(other.meta, audit="dc2"))
    assert followup.prepare(named, history_path=db, output_dir=None).changes.is_baseline  # another audit
    assert [r.audit for r in history.list_runs(db)] == ["dc2", "servers", "servers"]


def _version_one_database(path, runs) -> None:
    """A history written by a cmaudit from before audit names (schema version 1), holding `runs`."""
    with closing(sqlite3.connect(path)) as conn, conn:
        for statement in history.MIGRATIONS[0]:
            assert isinstance(statement, str)
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        for n, results in enumerate(runs, start=1):
            meta = meta_to_dict(results.meta)
            meta.pop("audit")
            conn.execute("INSERT INTO runs (id, run_uid, inventory_key, started, finished, complete, host_count,"
                         " output_dir, recorded_at, meta_json) VALUES (?, ?, ?, ?, ?, 1, ?, NULL, ?, ?)",
                         (n, results.meta.run_id, results.meta.inventory_path, results.meta.started,
                          results.meta.finished, len(results.hosts), results.meta.started, json.dumps(meta)))
            for pos, (key, host) in enumerate(zip(history.host_keys(results), results.hosts, strict=True)):
                conn.execute("INSERT INTO host_results (run_id, host_key, position, host, address, port, verdict,"
                             " error_category, build, site_code, result_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                             (n, key, pos, host.host, host.address, host.port, host.verdict.value, None,
                              host.facts.build, host.site_code, json.dumps(host_to_dict(host))))


def test_an_existing_database_migrates_to_audit_names(tmp_path, capsys):
    """A version-1 history gets an audit name per run from its inventory path; the next run of that
    inventory compares with the last migrated run, and `cmaudit history` lists the audit."""
    db = tmp_path / "old.sqlite3"
    _version_one_database(db, [run(1, inventory="/srv/audit/servers-2026-11-02.csv"),
                               run(2, inventory="/srv/lab/lab.csv")])
    third = run(3, inventory="/srv/audit/servers-2026-11-16.csv")
    follow = followup.prepare(third, history_path=db, output_dir=None)
    assert follow.changes is not None and follow.changes.previous_run == "#1"
    with closing(sqlite3.connect(db)) as conn, conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == history.SCHEMA_VERSION
        assert conn.execute("SELECT id, audit FROM runs ORDER BY id").fetchall() == [
            (1, "servers"), (2, "lab"), (3, "servers")]
    assert main(["history", "--history", str(db), "--audit", "servers"]) == 0
    out = capsys.readouterr().out
    assert "#3" in out and "#1" in out and "#2" not in out and "servers" in out


def test_audit_option_names_the_audit_and_is_checked(tmp_path, capsys):
    """--audit with a control character is a usage error (exit 64); `audit =` in cmaudit.toml is read."""
    from scanner.config.cmaudit_toml import load_config

    with pytest.raises(SystemExit) as stopped:
        main(["scan", "fleet.csv", "--audit", "bad\x07name"])
    assert stopped.value.code == 64
    assert "--audit" in capsys.readouterr().err
    config = tmp_path / "cmaudit.toml"
    config.write_text('audit = "estate-a"\n', encoding="utf-8")
    assert load_config(config).value_for_dest("audit") == "estate-a"
