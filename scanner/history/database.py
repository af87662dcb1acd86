"""The run history: every scan recorded in an embedded SQLite database.

A weekly audit is only useful when it can say what changed, so each run's metadata and per-host
verdicts, facts and evidence hashes are kept. Guarantees the scheduler relies on:

- one transaction per run (BEGIN IMMEDIATE ... COMMIT): a run killed mid-write leaves the database
  exactly as it was before, never half written;
- WAL journal + busy timeout: two overlapping schedules writing the same file both succeed;
- the schema is versioned (PRAGMA user_version) and migrated forward in a transaction; a database
  written by a newer cmaudit is refused rather than damaged;
- hosts are matched across runs by a stable key (normalised name), not by address, because DHCP and
  DNS changes must not turn one server into two; only a name a run holds twice (two ports, two
  addresses) is keyed by address and port as well (scanner.model.host.run_keys, migration 3);
- runs are compared per *audit name* (`--audit`, default the inventory file's name without a trailing
  date), not per inventory path, so a weekly export named by date still compares with last week's.
  Databases from before audit names are migrated: each run gets the name its inventory path gives.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reports.trend import TrendPoint
from scanner.model.audit_name import MAX_AUDIT_NAME as MAX_AUDIT_NAME  # re-exported for the config and CLI
from scanner.model.audit_name import audit_name_for as audit_name_for
from scanner.model.audit_name import check_audit_name as check_audit_name
from scanner.model.changes import result_keys
from scanner.model.errors import UsageError
from scanner.model.host import run_keys, stable_key
from scanner.model.records import (
    RESULTS_SCHEMA_VERSION,
    RejectedPassword,
    ResultsFormatError,
    RunResults,
    Verdict,
    host_from_dict,
    host_to_dict,
    meta_to_dict,
    rejected_passwords_from_meta,
    results_from_dict,
)
from scanner.model.results_file import shown_path

MAX_RUN_ID = 2**63 - 1  # SQLite's largest integer: a larger id cannot be asked for, let alone exist
MAX_ROW_JSON = 64 * 1024 * 1024  # a stored host or run record above this was not written by cmaudit
BUSY_TIMEOUT_MS = 30_000  # an overlapping run waits this long for the other's transaction
# ...but in slices: SQLite's own busy wait is C code that a Ctrl-C cannot interrupt, so each statement waits at
# most this long and the wait for the write lock is a Python loop whose sleeps a signal ends at once.
_BUSY_SLICE_MS = 100
DEFAULT_FILE_NAME = "history.sqlite3"
MAX_NAME = 255  # a file name's limit on ext4 and XFS (bytes), NTFS (UTF-16 units)
HISTORY_ENV = "CMAUDIT_HISTORY"  # one place to point every command at a shared history
_WAL_ATTEMPTS = 12

def _add_audit_names(conn: sqlite3.Connection) -> None:
    """Migration 2: every recorded run gets the audit name its inventory path gives (as a new run would)."""
    for run_id, key, meta_json in conn.execute("SELECT id, inventory_key, meta_json FROM runs").fetchall():
        try:
            recorded = json.loads(meta_json).get("audit")
        except (ValueError, AttributeError):
            recorded = None
        name = recorded if isinstance(recorded, str) and recorded else audit_name_for(key)
        conn.execute("UPDATE runs SET audit = ? WHERE id = ?", (name, run_id))


def _rekey_shared_names(conn: sqlite3.Connection) -> None:
    """Migration 3: hosts sharing a name in one run were keyed by row order (`sms01`, `sms01#2`), so swapping
    two inventory rows looked like a regression and a fix; key them by address and port (run_keys)."""
    runs = [r[0] for r in conn.execute("SELECT DISTINCT run_id FROM host_results WHERE host_key LIKE '%#%'")]
    conn.execute("PRAGMA defer_foreign_keys = ON")  # evidence rows follow their host row within the transaction
    for run_id in runs:
        rows = conn.execute("SELECT host_key, host, address, port FROM host_results WHERE run_id = ?"
                            " ORDER BY position", (run_id,)).fetchall()
        new_keys = run_keys([(str(h), str(a), int(p)) for _k, h, a, p in rows])
        changed = [(old, new) for (old, *_), new in zip(rows, new_keys, strict=True) if old != new]
        # Through temporary keys: one host's new key may be another's old one.
        moves = [(old, f"\x00rekey{step}") for step, (old, _new) in enumerate(changed)]
        moves += [(f"\x00rekey{step}", new) for step, (_old, new) in enumerate(changed)]
        for before, after in moves:
            for table in ("host_results", "evidence_files"):
                conn.execute(f"UPDATE {table} SET host_key = ? WHERE run_id = ? AND host_key = ?",
                             (after, run_id, before))


Migration = str | Callable[[sqlite3.Connection], None]

# Each entry migrates the schema from version index to index + 1; append, never edit.
MIGRATIONS: tuple[tuple[Migration, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_uid TEXT NOT NULL UNIQUE,
            inventory_key TEXT NOT NULL,
            started TEXT NOT NULL,
            finished TEXT,
            complete INTEGER NOT NULL,
            host_count INTEGER NOT NULL,
            output_dir TEXT,
            recorded_at TEXT NOT NULL,
            meta_json TEXT NOT NULL
        )""",
        "CREATE INDEX runs_by_inventory ON runs(inventory_key, id)",
        """CREATE TABLE host_results (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            host_key TEXT NOT NULL,
            position INTEGER NOT NULL,
            host TEXT NOT NULL,
            address TEXT NOT NULL,
            port INTEGER NOT NULL,
            verdict TEXT NOT NULL,
            error_category TEXT,
            build TEXT,
            site_code TEXT,
            result_json TEXT NOT NULL,
            PRIMARY KEY (run_id, host_key)
        ) WITHOUT ROWID""",
        "CREATE INDEX host_results_by_host ON host_results(host_key, run_id)",
        """CREATE TABLE evidence_files (
            run_id INTEGER NOT NULL,
            host_key TEXT NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            truncated INTEGER NOT NULL,
            saved_as TEXT,
            FOREIGN KEY (run_id, host_key) REFERENCES host_results(run_id, host_key) ON DELETE CASCADE
        )""",
        "CREATE INDEX evidence_by_run ON evidence_files(run_id, host_key)",
    ),
    (
        "ALTER TABLE runs ADD COLUMN audit TEXT NOT NULL DEFAULT ''",
        _add_audit_names,
        "CREATE INDEX runs_by_audit ON runs(audit, id)",
        "ALTER TABLE host_results ADD COLUMN waived INTEGER NOT NULL DEFAULT 0",
    ),
    (_rekey_shared_names,),
)


SCHEMA_VERSION = len(MIGRATIONS)


class HistoryError(UsageError):
    """The history database cannot be opened, read or written; names the file."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path, self.message = str(path), message
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One recorded run, as `cmaudit history` lists it."""

    id: int
    run_uid: str
    inventory_key: str  # the inventory path as recorded
    audit: str  # the name runs are compared by
    started: str
    finished: str | None
    complete: bool
    host_count: int
    output_dir: str | None
    counts: dict[Verdict, int]
    waived: int = 0
    waived_unchecked: int = 0  # waived hosts that could not be checked (ERROR, UNKNOWN)

    @property
    def findings(self) -> int:
        return sum(n for v, n in self.counts.items() if v.is_finding)

    @property
    def incomplete(self) -> int:
        return sum(n for v, n in self.counts.items() if v.is_incomplete)


@dataclass(frozen=True, slots=True)
class HostEntry:
    """One host's line in one run: what `cmaudit history --host` shows over time."""

    run_id: int
    started: str
    complete: bool
    host: str
    address: str
    verdict: Verdict
    error_category: str | None
    build: str | None
    reason: str
    audit: str  # the audit the run belongs to
    port: int


def trend_points(runs: Sequence[RunSummary]) -> list[TrendPoint]:
    """Chart points for reports.trend from recent_counts (oldest first)."""
    return [TrendPoint(label=f"#{r.id}", started=r.started, counts=dict(r.counts), waived=r.waived,
                       waived_unchecked=r.waived_unchecked) for r in runs]


def default_history_path() -> Path:
    """$CMAUDIT_HISTORY, else per user: ~/.local/share/cmaudit/history.sqlite3, %LOCALAPPDATA%\\cmaudit\\..."""
    override = os.environ.get(HISTORY_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("cmaudit", appauthor=False)) / DEFAULT_FILE_NAME


def host_keys(results: RunResults) -> list[str]:
    """The key of each host of a run, in order: unique per run and independent of row order (run_keys)."""
    return result_keys(results)


def inventory_key_for(results: RunResults) -> str:
    """The inventory path as recorded, else one bucket for everything."""
    return results.meta.inventory_path or "(no inventory)"


def audit_for(results: RunResults) -> str:
    """The audit a run belongs to: the name it was given, else the one its inventory path gives."""
    return results.meta.audit or audit_name_for(results.meta.inventory_path)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """The database's schema version, refused unless one this cmaudit can read or migrate from."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise HistoryError(path, f"history schema version {version} is newer than this cmaudit "
                                 f"understands ({SCHEMA_VERSION}); upgrade cmaudit")
    if version < 0:
        raise HistoryError(path, f"history schema version {version} is not one cmaudit writes (0 to "
                                 f"{SCHEMA_VERSION}): not a cmaudit history, or a damaged one; move it away "
                                 "or point --history elsewhere")
    if version == 0:  # cmaudit sets the version with its first tables: tables at 0 are another program's
        foreign = [str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 4")]
        # Outside a transaction the two reads are two snapshots: a cmaudit creating this history between them
        # leaves its tables and its version, which a second look at the version shows.
        version = int(conn.execute("PRAGMA user_version").fetchone()[0]) if foreign else 0
        if version:
            return _schema_version(conn, path)
        if foreign:
            raise HistoryError(path, f"not a cmaudit history: it holds tables cmaudit did not write "
                                     f"({', '.join(name[:40] for name in foreign[:3])}"
                                     f"{', ...' if len(foreign) > 3 else ''}); move it away or point --history "
                                     "elsewhere")
    return version


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to SCHEMA_VERSION, then check it holds every table and column cmaudit uses."""
    version = _schema_version(conn, path)
    if version < SCHEMA_VERSION:
        with _transaction(conn):
            # Re-read under the write lock: a concurrent process may have migrated meanwhile.
            version = _schema_version(conn, path)
            try:
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for step in MIGRATIONS[target - 1]:
                        if isinstance(step, str):
                            conn.execute(step)
                        else:
                            step(conn)
                    conn.execute(f"PRAGMA user_version = {target:d}")
            except sqlite3.Error as exc:
                raise HistoryError(path, f"cannot migrate the history from schema version {version} to "
                                         f"{SCHEMA_VERSION} ({exc}): it holds tables cmaudit did not write; move it "
                                         "away or point --history elsewhere") from None
    _check_schema(conn, path)


@functools.cache
def _expected_columns() -> dict[str, frozenset[str]]:
    """Every table the migrations create, with its columns: built once from the migrations themselves."""
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        for steps in MIGRATIONS:
            for step in steps:
                if isinstance(step, str):
                    conn.execute(step)
                else:
                    step(conn)
        return _columns(conn)


def _columns(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
    tables = [str(r[0]) for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {t: frozenset(str(c[1]) for c in conn.execute(f"PRAGMA table_info({_quoted(t)})")) for t in tables}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """A database at the current version holds every table and column cmaudit reads and writes."""
    found = _columns(conn)
    for table, columns in sorted(_expected_columns().items()):
        missing = sorted(columns - found.get(table, frozenset()))
        if missing:
            what = f"has no table {table}" if table not in found else f"table {table} has no column {missing[0]}"
            raise HistoryError(path, f"not a cmaudit history at schema version {SCHEMA_VERSION}: it {what}; move it "
                                     "away or point --history elsewhere")


def check_migration(conn: sqlite3.Connection, path: Path) -> None:
    """Whether the database behind `conn` (opened read-only) can be migrated and used, without changing it:
    its schema alone is copied into memory and migrated there. HistoryError says why not."""
    version = _schema_version(conn, path)
    statements = [str(r[0]) for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        " ORDER BY type = 'table' DESC, rowid")]
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as copy:
        try:
            for statement in statements:
                copy.execute(statement)
        except sqlite3.Error as exc:
            raise HistoryError(path, f"its schema cannot be read ({exc})") from None
        copy.execute(f"PRAGMA user_version = {version:d}")
        _migrate(copy, path)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue instead of deadlocking."""
    _begin_immediate(conn)
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL, IOERR): keep the cause
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _begin_immediate(conn: sqlite3.Connection) -> None:
    """Wait up to BUSY_TIMEOUT_MS for the write lock, in slices a Ctrl-C interrupts within a fraction of a second."""
    give_up = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() >= give_up:
                raise
        time.sleep(0.05)  # interruptible: KeyboardInterrupt arrives here, not after the whole wait


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch a new database to WAL (persistent once set).

    Switching needs an exclusive lock and SQLite reports "locked" at once, without its busy handler,
    when another process is creating the same file: retry a bounded number of times with backoff.
    """
    for attempt in range(_WAL_ATTEMPTS):
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(min(0.02 * 2**attempt, 1.0))


@contextmanager
def open_history(db_path: Path | str, *, create: bool = True) -> Iterator[sqlite3.Connection]:
    """Open (and create/migrate) the history database; sqlite errors become one-line HistoryErrors."""
    path = Path(db_path)
    if not create and not path.is_file():
        raise HistoryError(path, "no history database here (run a scan first, or pass --history PATH)")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, nothing implicit.
        conn = sqlite3.connect(path, timeout=_BUSY_SLICE_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise HistoryError(path, f"cannot open history database: {exc}") from exc
    with closing(conn):
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_SLICE_MS:d}")
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn, path)
            yield conn
        except sqlite3.Error as exc:
            raise HistoryError(path, f"history database error: {exc}") from exc


def _name_length(name: str) -> int:
    """A file name's length as the file system counts it: UTF-16 units on Windows, encoded bytes elsewhere."""
    return len(name.encode("utf-16-le")) // 2 if os.name == "nt" else len(os.fsencode(name))


def prepare_database(db_path: Path | str) -> None:
    """Pre-flight: an existing history is opened, migrated and checked before any host is contacted, so a run
    never learns only at its end that it cannot be recorded. A missing one is left for the run to create."""
    path = Path(db_path)
    if _name_length(path.name) > MAX_NAME:  # else refused only after the hosts, when the run is recorded
        raise HistoryError(shown_path(str(path)), f"the history file's name is longer than {MAX_NAME} characters, "
                                                  "which no common file system takes; point --history elsewhere")
    if not os.path.lexists(path):
        return
    if not path.is_file():
        raise HistoryError(path, "the history database is not a file")
    with open_history(path, create=False):
        pass


def why_not_a_baseline(results: RunResults) -> str | None:
    """Why a run can never be the one a later run is compared with (nor a point of the trend); None when it can.

    The first rule that applies, in this order: (applies?, why) rows.
    """
    m = results.meta
    rules = (
        (m.finished is None, "unfinished"),
        (m.interrupted, "interrupted before every host was checked"),
        (m.partial, "partial: only some of the inventory's hosts were chosen"),
        (all(h.verdict is Verdict.ERROR for h in results.hosts), "no host could be checked"),
    )
    return next((why for applies, why in rules if applies), None)


def _insert_run(conn: sqlite3.Connection, results: RunResults, audit: str, output_dir: str | None) -> int:
    m = results.meta
    complete = why_not_a_baseline(results) is None  # the column's name predates the rule: "may be a baseline"
    cur = conn.execute(
        "INSERT INTO runs (run_uid, inventory_key, audit, started, finished, complete, host_count, output_dir,"
        " recorded_at, meta_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (m.run_id, inventory_key_for(results), audit, m.started, m.finished, int(complete), len(results.hosts),
         output_dir, _now(), json.dumps(meta_to_dict(m), sort_keys=True)),
    )
    assert cur.lastrowid is not None
    return int(cur.lastrowid)


def _insert_hosts(conn: sqlite3.Connection, run_id: int, results: RunResults, keys: Sequence[str]) -> None:
    conn.executemany(
        "INSERT INTO host_results (run_id, host_key, position, host, address, port, verdict, error_category,"
        " build, site_code, result_json, waived) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (run_id, key, pos, h.host, h.address, h.port, h.verdict.value,
             None if h.error is None else h.error.category.value, h.facts.build,
             h.site_code or h.facts.site_code, json.dumps(host_to_dict(h), sort_keys=True), int(h.waived))
            for pos, (key, h) in enumerate(zip(keys, results.hosts, strict=True))
        ),
    )


def _insert_evidence(conn: sqlite3.Connection, run_id: int, results: RunResults, keys: Sequence[str]) -> None:
    conn.executemany(
        "INSERT INTO evidence_files (run_id, host_key, path, sha256, size, truncated, saved_as)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (run_id, key, lf.path, lf.sha256, lf.size, int(lf.truncated), lf.saved_as)
            for key, h in zip(keys, results.hosts, strict=True)
            for lf in h.facts.logs
        ),
    )


def record_run(db_path: Path | str, results: RunResults, audit: str | None = None, *,
               output_dir: Path | str | None = None) -> int:
    """Record one run in a single transaction and return its history id.

    Recording the same run (same run_id) again is a no-op that returns the existing id, so a retried
    post-processing step cannot duplicate a week.
    """
    key = audit if audit is not None else audit_for(results)
    keys = host_keys(results)
    with open_history(db_path) as conn, _transaction(conn):
        row = conn.execute("SELECT id FROM runs WHERE run_uid = ?", (results.meta.run_id,)).fetchone()
        if row is not None:
            return int(row[0])
        run_id = _insert_run(conn, results, key, None if output_dir is None else str(output_dir))
        _insert_hosts(conn, run_id, results, keys)
        _insert_evidence(conn, run_id, results, keys)
        return run_id


def _run_summaries(conn: sqlite3.Connection, where: str, params: Sequence[object], limit: int | None
                   ) -> list[RunSummary]:
    sql = ("SELECT id, run_uid, inventory_key, audit, started, finished, complete, host_count, output_dir FROM runs "
           f"{where} ORDER BY id DESC")
    if limit is not None:
        sql += f" LIMIT {int(limit):d}"
    rows = conn.execute(sql, tuple(params)).fetchall()
    out: list[RunSummary] = []
    for r in rows:
        counts: dict[Verdict, int] = {}
        waived: dict[Verdict, int] = {}
        for verdict, n, n_waived in conn.execute(
                "SELECT verdict, COUNT(*), SUM(waived = 1) FROM host_results WHERE run_id = ? GROUP BY verdict",
                (r[0],)):
            try:
                counts[Verdict(verdict)] = _stored_int(n)
            except ValueError:
                continue  # a verdict a later cmaudit added; not ours to count
            waived[Verdict(verdict)] = _stored_int(n_waived or 0)
        out.append(RunSummary(id=int(r[0]), run_uid=r[1], inventory_key=r[2], audit=r[3], started=r[4], finished=r[5],
                              complete=bool(r[6]), host_count=_stored_int(r[7]), output_dir=r[8], counts=counts,
                              waived=sum(waived.values()),
                              waived_unchecked=sum(n for v, n in waived.items() if v.is_incomplete)))
    return out


def list_runs(db_path: Path | str, *, limit: int | None = None, audit: str | None = None) -> list[RunSummary]:
    """Recorded runs, newest first (optionally one audit's only)."""
    with open_history(db_path, create=False) as conn:
        if audit is None:
            return _run_summaries(conn, "", (), limit)
        return _run_summaries(conn, "WHERE audit = ?", (audit,), limit)


def load_run(db_path: Path | str, run_id: int) -> RunResults:
    """A recorded run as the same records the scan produced (hosts in their original order)."""
    with open_history(db_path, create=False) as conn:
        return _load_run(conn, db_path, run_id)


def _stored_json(db_path: Path | str, text: object, what: str) -> Any:
    """A JSON record as stored by record_run; anything else (an edited or damaged row) is a HistoryError."""
    if not isinstance(text, str) or len(text) > MAX_ROW_JSON:
        raise HistoryError(db_path, f"{what} is not a record cmaudit wrote")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise HistoryError(db_path, f"{what} is not valid JSON") from None


def _stored_int(value: object) -> int:
    """A count column as stored; a damaged one (text, 1e400) counts as 0 rather than ending the listing."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _load_run(conn: sqlite3.Connection, db_path: Path | str, run_id: int) -> RunResults:
    row = (conn.execute("SELECT meta_json FROM runs WHERE id = ?", (run_id,)).fetchone()
           if 0 < run_id <= MAX_RUN_ID else None)  # SQLite cannot even compare with a larger integer
    if row is None:
        raise HistoryError(db_path, f"no run with id {run_id} in the history")
    hosts = [_stored_json(db_path, r[0], f"run {run_id}: a host record") for r in conn.execute(
        "SELECT result_json FROM host_results WHERE run_id = ? ORDER BY position", (run_id,))]
    doc = {"schema": "cmaudit-results", "schema_version": RESULTS_SCHEMA_VERSION,
           "meta": _stored_json(db_path, row[0], f"run {run_id}: its metadata"), "hosts": hosts}
    try:
        return results_from_dict(doc)
    except ResultsFormatError as exc:
        raise HistoryError(db_path, f"run {run_id} cannot be read back: {exc}") from exc


def last_rejected_passwords(db_path: Path | str, audit: str) -> tuple[RejectedPassword, ...]:
    """The accounts the audit's latest recorded run stopped short for (a rejected or unanswered password); () when
    there is no such run or the history cannot say (a scan never stops for this: it only starts more carefully)."""
    if not os.path.isfile(db_path):
        return ()
    try:
        with open_history(db_path, create=False) as conn:
            row = conn.execute("SELECT meta_json FROM runs WHERE audit = ? ORDER BY id DESC LIMIT 1",
                               (audit,)).fetchone()
        return () if row is None else rejected_passwords_from_meta(_stored_json(db_path, row[0], "a run's metadata"))
    except (HistoryError, ResultsFormatError, sqlite3.Error):
        return ()


def previous_complete_run(db_path: Path | str, run_id: int) -> int | None:
    """The latest complete run of the same inventory recorded before `run_id`."""
    with open_history(db_path, create=False) as conn:
        return _previous_complete(conn, run_id)


def _previous_complete(conn: sqlite3.Connection, run_id: int) -> int | None:
    row = conn.execute(
        "SELECT p.id FROM runs p JOIN runs r ON r.id = ? WHERE p.audit = r.audit"
        " AND p.id < r.id AND p.complete = 1 ORDER BY p.id DESC LIMIT 1", (run_id,)).fetchone()
    return None if row is None else int(row[0])


@dataclass(frozen=True, slots=True)
class HostStreaks:
    """Per host key, facts only the history knows: since when a finding is open, how long unchecked."""

    first_seen: dict[str, str]  # host key -> start of the current run of findings (ISO UTC)
    unchecked_runs: dict[str, int]  # host key -> consecutive runs ending now with ERROR/UNKNOWN
    last_checked: dict[str, str]  # host key -> start of the last run that judged it (if any)
    last_build: dict[str, tuple[str, str]]  # host key -> (build, run start) of the last earlier run that saw one
    last_site: dict[str, tuple[str, str]] = field(default_factory=dict)  # host key -> (site code, run start), alike


def host_streaks(db_path: Path | str, run_id: int) -> HostStreaks:
    """Walk the inventory's runs backwards from `run_id` to date open findings and unchecked hosts.

    Runs where a host could not be checked do not end a finding's streak: an unreachable host has not
    been fixed, we just could not look.
    """
    first_seen: dict[str, str] = {}
    unchecked: dict[str, int] = {}
    last_checked: dict[str, str] = {}
    last_build: dict[str, tuple[str, str]] = {}
    last_site: dict[str, tuple[str, str]] = {}
    with open_history(db_path, create=False) as conn:
        rows = conn.execute(
            "SELECT h.host_key, h.verdict, r.started, h.build, r.id, h.site_code FROM host_results h"
            " JOIN runs r ON r.id = h.run_id"
            " WHERE r.audit = (SELECT audit FROM runs WHERE id = ?) AND r.id <= ?"
            " ORDER BY r.id DESC", (run_id, run_id)).fetchall()
        current = {k for (k,) in conn.execute("SELECT host_key FROM host_results WHERE run_id = ?", (run_id,))}
    finding_open: dict[str, bool] = {}
    unchecked_open: dict[str, bool] = {}
    for key, verdict_text, started, build, row_run, site in rows:
        if key not in current:
            continue
        if build and row_run != run_id:
            last_build.setdefault(key, (build, started))
        if site and isinstance(site, str) and row_run != run_id:
            last_site.setdefault(key, (site, started))
        try:
            verdict = Verdict(verdict_text)
        except ValueError:
            continue
        if verdict.is_incomplete:
            if unchecked_open.get(key, True):
                unchecked[key] = unchecked.get(key, 0) + 1
            continue
        unchecked_open[key] = False
        last_checked.setdefault(key, started)
        if finding_open.get(key, True) and verdict.is_finding:
            first_seen[key] = started
            finding_open[key] = True
        else:
            finding_open[key] = False
    return HostStreaks(first_seen=first_seen, unchecked_runs=unchecked, last_checked=last_checked,
                       last_build=last_build, last_site=last_site)


def host_timeline(db_path: Path | str, host: str, *, limit: int | None = None, audit: str | None = None
                  ) -> list[HostEntry]:
    """One host's verdict in each run it appears in (of one audit, if given), newest first (matched by stable key
    or name)."""
    key = stable_key(host)
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # `name`, `name:port`, and `name@address:port` (a name two hosts of a run share)
    params: list[object] = [key, escaped + ":%", escaped + "@%"]
    sql = ("SELECT r.id, r.started, r.complete, h.host, h.address, h.verdict, h.error_category, h.build,"
           " h.result_json, r.audit, h.port FROM host_results h JOIN runs r ON r.id = h.run_id"
           " WHERE (h.host_key = ? OR h.host_key LIKE ? ESCAPE '\\' OR h.host_key LIKE ? ESCAPE '\\')")
    if audit is not None:
        sql += " AND r.audit = ?"
        params.append(audit)
    sql += " ORDER BY r.id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit):d}"
    with open_history(db_path, create=False) as conn:
        rows = conn.execute(sql, params).fetchall()
    out: list[HostEntry] = []
    for r in rows:
        try:
            verdict = Verdict(r[5])
        except ValueError:
            continue  # a verdict a later cmaudit added, as in _run_summaries
        try:
            h = host_from_dict(_stored_json(db_path, r[8], f"run {r[0]}: host {r[3]!s:.60}"))
        except (ResultsFormatError, KeyError, TypeError, ValueError) as exc:
            raise HistoryError(db_path, f"run {r[0]}: a host record cannot be read back: {exc}") from None
        reason = h.error.message if h.error else (h.reasons[0] if h.reasons else "")
        out.append(HostEntry(run_id=int(r[0]), started=r[1], complete=bool(r[2]), host=r[3], address=r[4],
                             verdict=verdict, error_category=r[6], build=r[7], reason=reason, audit=str(r[9]),
                             port=_stored_int(r[10])))
    return out


def recent_counts(db_path: Path | str, audit: str, *, limit: int = 12, until: int | None = None
                  ) -> list[RunSummary]:
    """The last `limit` runs of one audit, oldest first: the trend chart's data."""
    with open_history(db_path, create=False) as conn:
        if until is None:
            runs = _run_summaries(conn, "WHERE audit = ?", (audit,), limit)
        else:  # complete runs only (a partial or interrupted run is no point of a trend), and `until` itself
            runs = _run_summaries(conn, "WHERE audit = ? AND id <= ? AND (complete = 1 OR id = ?)",
                                  (audit, until, until), limit)
    return list(reversed(runs))


def delete_runs(db_path: Path | str, run_ids: Sequence[int], *, audit: str | None = None) -> list[RunSummary]:
    """Delete runs (and their hosts and evidence rows) in one transaction; returns what was deleted. With `audit`,
    a run of another audit is refused (HistoryError) and nothing is deleted."""
    if not run_ids:
        return []
    with open_history(db_path, create=False) as conn:
        marks = ",".join("?" * len(run_ids))
        with _transaction(conn):
            gone = _run_summaries(conn, f"WHERE id IN ({marks})", tuple(run_ids), None)
            other = next((r for r in gone if audit is not None and r.audit != audit), None)
            if other is not None:
                raise HistoryError(db_path, f"run #{other.id} is a run of the audit {other.audit[:60]!r}, not "
                                            f"{str(audit)[:60]!r}: nothing deleted (`cmaudit history` lists the runs)")
            conn.execute(f"DELETE FROM evidence_files WHERE run_id IN ({marks})", tuple(run_ids))
            conn.execute(f"DELETE FROM host_results WHERE run_id IN ({marks})", tuple(run_ids))
            conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", tuple(run_ids))
        return gone


def check_integrity(db_path: Path | str) -> list[str]:
    """SQLite's own integrity and foreign-key checks; an empty list means consistent."""
    problems: list[str] = []
    with open_history(db_path, create=False) as conn:
        problems += [str(r[0]) for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key: {tuple(r)}" for r in conn.execute("PRAGMA foreign_key_check")]
    return problems


def probe_history(db_path: Path | str) -> tuple[bool, str, str]:
    """(ok, detail, hint) for `cmaudit doctor`: can a scan record its run here? Read-only: an existing
    database is opened read-only and its migration tried on a copy of its schema, a missing one is not created."""
    path = Path(db_path)
    if _name_length(path.name) > MAX_NAME:
        return False, f"{shown_path(str(path))}: the file name is longer than {MAX_NAME} characters", \
            "point --history (or history in cmaudit.toml) at a shorter name"
    if path.exists():
        if not path.is_file():
            return False, f"{path} is not a file", "point --history (or history in cmaudit.toml) at a file"
        try:
            with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)) as conn:
                check_migration(conn, path)
                runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] if "runs" in _columns(conn) else 0
        except HistoryError as exc:
            hint = "upgrade cmaudit" if "newer" in exc.message else \
                "move the file away (a new history starts) or point --history elsewhere"
            return False, f"{path}: {exc.message}", hint
        except sqlite3.Error as exc:
            return False, f"{path} cannot be read as a cmaudit history: {exc}", \
                "move the file away (a new history starts) or point --history elsewhere"
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
        detail = f"{path}: {runs} run(s) recorded"
        if not writable:
            return False, f"{detail}, but it (or its folder, for the WAL journal) is not writable", \
                "give the account running the scan write access to the file and its folder"
        return True, f"{detail}, writable", ""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return True, f"{path} does not exist yet; the first scan creates it ({parent} is writable)", ""
    return False, f"{path} cannot be created: {parent} is not a writable folder", \
        "create the folder for the account running the scan, or point --history elsewhere"
