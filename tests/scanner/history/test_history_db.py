"""The history database: round trip, host matching, schema versioning and crash/concurrency safety."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from scanner.history import database as history
from scanner.model.records import Verdict
from tests.paths import REPO
from tests.support.weekly_runs import INVENTORY, host, run

ROOT = REPO


def test_run_round_trips_through_history(tmp_path):
    """A recorded run reads back as exactly the records the scan produced."""
    db = tmp_path / "h.sqlite3"
    results = run(2)
    run_id = history.record_run(db, results, INVENTORY, output_dir=tmp_path / "run2")
    assert history.load_run(db, run_id) == results
    (summary,) = history.list_runs(db)
    assert summary.id == run_id and summary.complete and summary.host_count == 5
    assert summary.output_dir == str(tmp_path / "run2")
    assert summary.findings == 2 and summary.incomplete == 1


def test_recording_the_same_run_twice_keeps_one_copy(tmp_path):
    """Re-recording a run (a retried post-processing step) does not duplicate the week."""
    db = tmp_path / "h.sqlite3"
    first = history.record_run(db, run(1), INVENTORY)
    assert history.record_run(db, run(1), INVENTORY) == first
    assert len(history.list_runs(db)) == 1


def test_evidence_hashes_are_kept(tmp_path):
    """Each host's collected log hashes are stored so a later audit can prove what was read."""
    db = tmp_path / "h.sqlite3"
    run_id = history.record_run(db, run(1), INVENTORY)
    with closing(sqlite3.connect(db)) as conn, conn:
        rows = conn.execute("SELECT host_key, sha256 FROM evidence_files WHERE run_id = ?", (run_id,)).fetchall()
    assert {k for k, _ in rows} == {"sms01", "sms02", "sms03", "sms04", "sms05"}
    assert all(len(h) == 64 for _, h in rows)


def test_hosts_are_matched_by_name_not_address(tmp_path):
    """A server that changed address (or name case / trailing dot) is still the same host over time."""
    db = tmp_path / "h.sqlite3"
    r1 = run(1, {})
    r1 = replace(r1, hosts=(host("SMS01.corp.example.", Verdict.AFFECTED, address="10.0.0.1"),))
    r2 = run(2, {})
    r2 = replace(r2, hosts=(host("sms01.corp.example", Verdict.NOT_AFFECTED, address="10.9.9.9"),))
    history.record_run(db, r1, INVENTORY)
    history.record_run(db, r2, INVENTORY)
    timeline = history.host_timeline(db, "sms01.CORP.example")
    assert [(e.verdict, e.address) for e in timeline] == [(Verdict.NOT_AFFECTED, "10.9.9.9"),
                                                         (Verdict.AFFECTED, "10.0.0.1")]


@pytest.mark.parametrize(("names", "addresses", "ports", "expected"), [
    pytest.param(["a", "b"], ["10.0.0.1", "10.0.0.2"], [5985, 5985], ["a", "b"], id="distinct-names"),
    pytest.param(["127.0.0.1", "127.0.0.1"], ["127.0.0.1"] * 2, [5001, 5002], ["127.0.0.1:5001", "127.0.0.1:5002"],
                 id="same-name-ports"),
    pytest.param(["Host.", "host"], ["10.0.0.1", "10.0.0.2"], [5985, 5985],
                 ["host@10.0.0.1:5985", "host@10.0.0.2:5985"], id="same-name-two-addresses"),
    pytest.param(["sms01", "SMS01"], ["10.0.0.1"] * 2, [80, 5985], ["sms01@10.0.0.1:80", "sms01@10.0.0.1:5985"],
                 id="same-name-winrm-1.1-and-2.0-ports"),
    pytest.param(["host", "host"], ["10.0.0.1"] * 2, [5985, 5985], ["host@10.0.0.1:5985", "host@10.0.0.1:5985#2"],
                 id="same-everything"),
])
def test_host_keys_stay_unique_within_a_run(names, addresses, ports, expected):
    """Hosts of one run never share a history key: a name they share is told apart by address and port."""
    hosts = tuple(host(n, Verdict.NOT_AFFECTED, address=a, port=p) for n, a, p in zip(names, addresses, ports,
                                                                                       strict=True))
    assert history.host_keys(replace(run(1), hosts=hosts)) == expected


@pytest.mark.parametrize(("name", "port"), [
    pytest.param("SMS01.Corp.Example.", 5985, id="fqdn-trailing-dot"),
    pytest.param("sms02", 80, id="winrm-1.1-port"),
    pytest.param("127.0.0.1", 59001, id="simulated-port"),
    pytest.param("FE80::0001", 5986, id="ipv6"),
    pytest.param("::1", 40000, id="ipv6-port"),
])
def test_history_key_is_the_inventory_stable_name(name, port):
    """History matches hosts by exactly the identity the inventory uses across runs."""
    from scanner.model.host import Host

    inv = Host(name=name, address=name, port=port, scheme="http", auth="ntlm")
    recorded = replace(run(1), hosts=(host(name, Verdict.NOT_AFFECTED, port=port),))
    assert history.host_keys(recorded) == [inv.stable_name]


def test_newer_schema_is_refused_not_damaged(tmp_path):
    """A database written by a newer cmaudit is refused with a clear message naming the file."""
    db = tmp_path / "h.sqlite3"
    history.record_run(db, run(1), INVENTORY)
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(f"PRAGMA user_version = {history.SCHEMA_VERSION + 1}")
    with pytest.raises(history.HistoryError, match=r"h\.sqlite3.*newer"):
        history.list_runs(db)


def test_new_database_gets_current_schema_and_wal(tmp_path):
    """A fresh history file is migrated to the current schema version and uses the WAL journal."""
    db = tmp_path / "sub" / "h.sqlite3"
    history.record_run(db, run(1), INVENTORY)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == history.SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_not_a_database_is_a_one_line_error(tmp_path):
    """Pointing --history at some other file fails with a one-line error naming it."""
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is not sqlite\n" * 100)
    with pytest.raises(history.HistoryError, match="notes.txt"):
        history.list_runs(bogus)


def test_missing_database_is_not_created_by_readers(tmp_path):
    """Listing a history that does not exist says so instead of creating an empty file."""
    with pytest.raises(history.HistoryError, match="no history database"):
        history.list_runs(tmp_path / "none.sqlite3")
    assert not (tmp_path / "none.sqlite3").exists()


_WRITER = textwrap.dedent("""
    import sys
    from scanner.history import database as history
    from tests.support.weekly_runs import INVENTORY, run

    db, week, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "stall":
        real = history._insert_hosts

        def stalled(conn, run_id, results, keys):
            real(conn, run_id, results, keys)
            # Rows are written but not committed: tell the parent, then wait to be killed.
            print("inside-transaction", flush=True)
            sys.stdin.read()

        history._insert_hosts = stalled
        history.record_run(db, run(week), INVENTORY)
    else:
        print("ready", flush=True)
        sys.stdin.readline()  # the parent releases both writers at once
        for i in range(int(mode)):
            history.record_run(db, run(week, run_id=f"w{week}-{i}"), INVENTORY)
        print("done", flush=True)
""")


def _writer(db: Path, week: int, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(db), str(week), mode], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_run_killed_mid_write_leaves_previous_state(tmp_path):
    """A scan killed while recording leaves the history as it was: no half run, still writable."""
    db = tmp_path / "h.sqlite3"
    first = history.record_run(db, run(1), INVENTORY)
    proc = _writer(db, 2, "stall")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "inside-transaction"
    finally:
        proc.kill()  # SIGKILL on POSIX: no cleanup, no rollback by the writer
        proc.communicate()
    assert proc.returncode != 0
    assert [r.id for r in history.list_runs(db)] == [first]
    assert history.check_integrity(db) == []
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT COUNT(*) FROM host_results").fetchone()[0] == 5
        assert conn.execute("SELECT COUNT(*) FROM evidence_files").fetchone()[0] == 5
    finally:
        conn.close()
    second = history.record_run(db, run(2), INVENTORY)
    assert history.load_run(db, second) == run(2)


def test_two_concurrent_writers_both_succeed(tmp_path):
    """Two overlapping scheduled runs recording into one database both land, complete and intact."""
    db = tmp_path / "h.sqlite3"
    per_writer = 15
    procs = [_writer(db, 1, str(per_writer)), _writer(db, 2, str(per_writer))]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=60)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    assert [p.returncode for p in procs] == [0, 0]
    assert all(o.strip() == "done" for o in outs)
    runs = history.list_runs(db)
    assert len(runs) == 2 * per_writer
    assert all(r.host_count == 5 and sum(r.counts.values()) == 5 for r in runs)
    assert history.check_integrity(db) == []


def test_default_location_can_be_set_by_environment(tmp_path, monkeypatch):
    """CMAUDIT_HISTORY points every command at one history file; without it the per-user data dir is used."""
    monkeypatch.setenv("CMAUDIT_HISTORY", str(tmp_path / "shared.sqlite3"))
    assert history.default_history_path() == tmp_path / "shared.sqlite3"
    monkeypatch.delenv("CMAUDIT_HISTORY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert history.default_history_path() == tmp_path / "xdg" / "cmaudit" / "history.sqlite3"
    assert history.default_history_path().name == "history.sqlite3"


def test_host_timeline_skips_a_verdict_a_later_cmaudit_added(tmp_path):
    """`cmaudit history --host` lists the runs it understands instead of failing on a newer verdict."""
    db = tmp_path / "h.sqlite3"
    old = history.record_run(db, run(1), INVENTORY)
    new = history.record_run(db, run(2), INVENTORY)
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE host_results SET verdict = 'QUARANTINED',"
                     " result_json = json_set(result_json, '$.verdict', 'QUARANTINED') WHERE run_id = ?", (new,))
    assert [e.run_id for e in history.host_timeline(db, "sms01")] == [old]
    assert [r.id for r in history.list_runs(db)] == [new, old]


def test_failed_write_reports_its_own_cause_when_sqlite_already_rolled_back(tmp_path):
    """When SQLite ends the transaction itself (disk full, I/O error), the error shown is that cause, not ROLLBACK's."""
    with history.open_history(tmp_path / "h.sqlite3") as conn:
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            with history._transaction(conn):
                conn.execute("ROLLBACK")  # what SQLite does on SQLITE_FULL
                raise sqlite3.OperationalError("database or disk is full")
        assert not conn.in_transaction
