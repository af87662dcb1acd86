"""One host name on two addresses or ports: history keys by address and port, so row order changes nothing."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace

from scanner.history import changes
from scanner.history import database as history
from scanner.model.records import Verdict
from tests.support.weekly_runs import INVENTORY, host, run

A, N = Verdict.AFFECTED, Verdict.NOT_AFFECTED


def _shared_name_run(week: int, *, swapped: bool):
    """sms01 at 10.0.0.1 is AFFECTED, sms01 at 10.0.0.2 is healthy; `swapped` lists them the other way round."""
    hosts = [host("sms01", A, address="10.0.0.1"), host("sms01", N, address="10.0.0.2"), host("sms02", N)]
    if swapped:
        hosts[0], hosts[1] = hosts[1], hosts[0]
    return replace(run(week), hosts=tuple(hosts))


def test_swapping_two_rows_of_one_name_reports_no_change(tmp_path):
    """Two inventory rows of one name swapped between weeks: no fake regression, no fake fix."""
    db = tmp_path / "h.sqlite3"
    history.record_run(db, _shared_name_run(1, swapped=False), INVENTORY)
    second = history.record_run(db, _shared_name_run(2, swapped=True), INVENTORY)
    found = changes.changes_since_last(db, second)
    assert not found.regressed and not found.fixed and not found.new_findings and not found.changed
    assert [c.key for c in found.still_open] == ["sms01@10.0.0.1:5985"]


def test_existing_database_is_migrated_to_address_keys(tmp_path):
    """A history written with row-order keys (`sms01`, `sms01#2`) is re-keyed on open; the next run then matches."""
    db = tmp_path / "h.sqlite3"
    first = history.record_run(db, _shared_name_run(1, swapped=False), INVENTORY)
    with closing(sqlite3.connect(db)) as conn, conn:  # what cmaudit 0.1 wrote: keys by position, schema version 1
        conn.execute("PRAGMA foreign_keys = OFF")
        for old, new in (("sms01@10.0.0.1:5985", "sms01"), ("sms01@10.0.0.2:5985", "sms01#2")):
            for table in ("host_results", "evidence_files"):
                conn.execute(f"UPDATE {table} SET host_key = ? WHERE host_key = ?", (new, old))
        conn.execute(f"PRAGMA user_version = {history.SCHEMA_VERSION - 1}")  # before the re-keying migration
    second = history.record_run(db, _shared_name_run(2, swapped=True), INVENTORY)
    with closing(sqlite3.connect(db)) as conn, conn:
        keys = sorted(k for (k,) in conn.execute("SELECT host_key FROM host_results WHERE run_id = ?", (first,)))
        evidence = sorted(k for (k,) in conn.execute("SELECT host_key FROM evidence_files WHERE run_id = ?", (first,)))
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert keys == evidence == ["sms01@10.0.0.1:5985", "sms01@10.0.0.2:5985", "sms02"]
    assert version == history.SCHEMA_VERSION
    found = changes.changes_since_last(db, second)
    assert not found.regressed and not found.fixed and not found.changed
    assert history.check_integrity(db) == []


def test_host_history_lists_both_hosts_of_a_shared_name(tmp_path):
    """`cmaudit history --host sms01` still finds a name held by two hosts, each with its own address."""
    db = tmp_path / "h.sqlite3"
    history.record_run(db, _shared_name_run(1, swapped=False), INVENTORY)
    entries = history.host_timeline(db, "sms01")
    assert sorted((e.address, e.verdict) for e in entries) == [("10.0.0.1", A), ("10.0.0.2", N)]
