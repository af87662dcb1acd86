"""`--rescan-failed` judges by the waivers file as it reads today, and trusts nothing a results file says unchecked."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from scanner.cli.main import main
from simulator.fleet import Fleet
from tests.support.scans import new_password

pytestmark = pytest.mark.network

PROFILES = ["sp1-affected", "sp1-affected", "sp1-healthy"]  # host 2 is off the network: ERROR, rescanned


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    password = new_password()
    with Fleet(profiles=PROFILES, password=password) as running:
        running.password = password  # type: ignore[attr-defined]
        running.stop_host(2)
        yield running


@pytest.fixture
def workdir(tmp_path: Path, fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CMAUDIT_PASSWORD", fleet.password)  # type: ignore[attr-defined]
    monkeypatch.setenv("CMAUDIT_HISTORY", str(tmp_path / "history.sqlite3"))
    fleet.write_inventory(tmp_path / "fleet.csv")
    return tmp_path


def cmaudit(fleet: Fleet, *argv: str) -> int:
    try:
        return main(["scan", "fleet.csv", "--username", fleet.username, "--quiet", "--retries", "0",
                     "--timeout", "20", *argv])
    except SystemExit as exc:
        return int(exc.code)  # type: ignore[arg-type]


def requests(fleet: Fleet) -> int:
    return sum(h.counters.requests for h in fleet.hosts)


def _waiver(host: str) -> str:
    return f'[[waiver]]\nhost = "{host}"\nreason = "site retired"\nowner = "j.doe"\nexpires = 2999-12-31\n'


def test_a_withdrawn_waiver_no_longer_waives_in_a_rescan(fleet: Fleet, workdir: Path) -> None:
    """The owner removes the waiver from the file after the run: the rescan's findings need action again (exit 3),
    and the history does not record them as waived."""
    waivers = workdir / "waivers.toml"
    waivers.write_text(_waiver(fleet.hosts[0].name) + _waiver(fleet.hosts[1].name), encoding="utf-8")
    assert cmaudit(fleet, "-o", "first", "--waivers", "waivers.toml") == 2  # both findings waived, host 2 down
    waivers.write_text("# every waiver withdrawn\n", encoding="utf-8")
    assert cmaudit(fleet, "-o", "again", "--rescan-failed", "first/results.json") == 3
    doc = json.loads((workdir / "again" / "results.json").read_text(encoding="utf-8"))
    assert [h["waiver"] for h in doc["hosts"]] == [None, None, None]
    assert doc["meta"]["waivers"] == {"file": str(waivers), "entries": []}
    assert doc["meta"]["inventory"]["path"] == str(workdir / "fleet.csv")  # absolute, though given relative
    with closing(sqlite3.connect(workdir / "history.sqlite3")) as conn:
        assert conn.execute("SELECT waived FROM host_results WHERE run_id = 2").fetchall() == [(0,), (0,), (0,)]


def test_a_rescan_whose_waivers_file_is_gone_stops_before_any_host(fleet: Fleet, workdir: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The waivers file the earlier run read is gone: exit 64, one line saying which file, no host contacted."""
    waivers = workdir / "waivers.toml"
    waivers.write_text(_waiver(fleet.hosts[0].name), encoding="utf-8")
    assert cmaudit(fleet, "-o", "first", "--waivers", "waivers.toml") in (2, 3)
    waivers.unlink()
    capsys.readouterr()
    before = requests(fleet)
    assert cmaudit(fleet, "-o", "again", "--rescan-failed", "first/results.json") == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(waivers) in err and "--waivers" in err, err
    assert requests(fleet) == before and not (workdir / "again").exists()
    waivers.write_text("", encoding="utf-8")  # an empty file: no waiver at all, and the rescan runs
    assert cmaudit(fleet, "-o", "again", "--rescan-failed", "first/results.json") == 3


def _set(doc: dict[str, Any], *path: object, value: object) -> None:
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


WAIVER = ("meta", "waivers", "entries", 0)
TAMPERED: list[object] = [
    pytest.param((*WAIVER, "expires"), "never", "expires", id="waiver-expires-never"),
    pytest.param((*WAIVER, "expires"), "9999-99-99", "expires", id="waiver-expires-no-such-day"),
    pytest.param((*WAIVER, "verdicts"), ["AFFECTED", "NOT_AFFECTED"], "verdicts", id="waiver-of-a-fine-verdict"),
    pytest.param((*WAIVER, "owner"), "", "owner", id="waiver-without-owner"),
    pytest.param((*WAIVER, "reason"), "x" * 5000, "reason", id="waiver-reason-too-long"),
    pytest.param(("hosts", 0, "waiver", "expires"), "never", "expires", id="host-waiver-expires-never"),
    pytest.param(("meta", "audit"), "a" * 5000 + "\n\u202e", "meta.audit", id="audit-name-long-with-controls"),
    pytest.param(("meta", "audit"), "   ", "meta.audit", id="audit-name-blank"),
    pytest.param(("meta", "waivers", "file"), "w" * 100_000, "100,000 characters", id="waivers-path-too-long"),
    pytest.param(("meta", "waivers", "file"), "waivers\x00.toml", "not there any more", id="waivers-path-with-nul"),
    pytest.param(("hosts", 0, "port"), "@digits@", "5,000 digits", id="port-of-5000-digits"),
]


@pytest.mark.parametrize(("where", "value", "said"), TAMPERED)
def test_a_tampered_results_file_is_refused_before_any_host(fleet: Fleet, workdir: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            where: tuple[object, ...], value: object,
                                                            said: str) -> None:
    """A results file whose waivers or audit name the original input would refuse: exit 64, one line naming the
    file and the field, no host contacted, nothing recorded."""
    (workdir / "waivers.toml").write_text(_waiver(fleet.hosts[0].name), encoding="utf-8")
    assert cmaudit(fleet, "-o", "first", "--waivers", "waivers.toml") in (2, 3)
    results = workdir / "first" / "results.json"
    doc = json.loads(results.read_text(encoding="utf-8"))
    _set(doc, *where, value=value)
    results.write_text(json.dumps(doc).replace('"@digits@"', "9" * 5000), encoding="utf-8")
    capsys.readouterr()
    before = requests(fleet)
    assert cmaudit(fleet, "-o", "again", "--rescan-failed", str(results)) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(results) in err and said in err, err
    assert requests(fleet) == before and not (workdir / "again").exists()


@pytest.mark.parametrize("recorded", [pytest.param("i" * 100_000, id="too-long"),
                                      pytest.param("gone.csv", id="gone")])
def test_a_rescan_without_inventory_whose_recorded_inventory_cannot_be_found_is_one_line(
        fleet: Fleet, workdir: Path, capsys: pytest.CaptureFixture[str], recorded: str) -> None:
    """`--rescan-failed` without INVENTORY whose results file names an inventory that is not there (or a path no
    file system takes): exit 64, one bounded line asking for INVENTORY, no host contacted."""
    assert cmaudit(fleet, "-o", "first") in (2, 3)
    results = workdir / "first" / "results.json"
    doc = json.loads(results.read_text(encoding="utf-8"))
    doc["meta"]["inventory"]["path"] = recorded
    results.write_text(json.dumps(doc), encoding="utf-8")
    capsys.readouterr()
    before = requests(fleet)
    status = main(["scan", "--rescan-failed", str(results), "-o", "again", "--quiet", "--username", fleet.username])
    err = capsys.readouterr().err
    assert status == 64 and err.count("\n") == 1 and "give INVENTORY" in err and len(err) < 1000, err
    assert requests(fleet) == before and not (workdir / "again").exists()


def _audit_of_runs(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return [str(r[0]) for r in conn.execute("SELECT audit FROM runs ORDER BY id")]


@pytest.mark.parametrize("make_name", [pytest.param(lambda: "x" * 150, id="long-file-name"),
                                       pytest.param(lambda: "odd\u202ename", id="format-character")])
def test_a_default_audit_name_from_any_file_name_reads_back(fleet: Fleet, workdir: Path,
                                                            make_name: Callable[[], str]) -> None:
    """The audit name made from an odd inventory file name is a valid one, so its own results file reads back."""
    name = make_name()
    (workdir / f"{name}.csv").write_bytes((workdir / "fleet.csv").read_bytes())
    status = main(["scan", f"{name}.csv", "--username", fleet.username, "--quiet", "--retries", "0", "-o", "first"])
    assert status in (2, 3)
    assert main(["report", "first/results.json", "-o", "rebuilt"]) in (0, 1, 2, 3)
    (audit,) = _audit_of_runs(workdir / "history.sqlite3")
    assert audit.isprintable() and 0 < len(audit) <= 100
