"""The run folder: retention deletes only what cmaudit wrote, -o is checked, nothing is written through a link."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.cli.main import main
from scanner.model.host import stable_key
from scanner.model.records import ErrorCategory, Verdict
from scanner.scan.evidence import host_dir_name
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    password = new_password()
    with Fleet(hosts=2, password=password, machine_factory=healthy_machine, profiles=["h"] * 2) as running:
        running.password = password  # type: ignore[attr-defined]
        yield running


@pytest.fixture
def workdir(tmp_path: Path, fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding small.csv (the fleet's inventory), with the password and a history set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CMAUDIT_PASSWORD", fleet.password)  # type: ignore[attr-defined]
    monkeypatch.setenv("CMAUDIT_HISTORY", str(tmp_path / "state" / "history.sqlite3"))
    fleet.write_inventory(tmp_path / "small.csv")
    return tmp_path


def cmaudit(fleet: Fleet, *argv: str) -> int:
    """`cmaudit scan small.csv ARGV...` in this process; argparse refusals come back as their exit status."""
    try:
        return main(["scan", "small.csv", "--username", fleet.username, "--quiet", "--timeout", "20", *argv])
    except SystemExit as exc:
        return int(exc.code)  # type: ignore[arg-type]


def requests(fleet: Fleet) -> int:
    return sum(h.counters.requests for h in fleet.hosts)


def test_keep_runs_never_deletes_a_folder_that_held_other_files(fleet: Fleet, workdir: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`-o share` (holding budget.xlsx), then `-o run2 --keep-runs 1`: share/ and budget.xlsx survive, with why."""
    (workdir / "share").mkdir()
    (workdir / "share" / "budget.xlsx").write_bytes(b"numbers")
    assert cmaudit(fleet, "-o", "share") in (0, 1)
    assert cmaudit(fleet, "-o", "run2", "--keep-runs", "1") in (0, 1)
    assert (workdir / "share" / "budget.xlsx").read_bytes() == b"numbers"
    assert (workdir / "share" / "results.json").is_file() and (workdir / "run2" / "results.json").is_file()
    err = capsys.readouterr().err
    assert "share: it existed before cmaudit wrote into it; nothing deleted" in err


def test_empty_output_folder_is_a_usage_error(fleet: Fleet, workdir: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`-o ""` is refused (exit 64) before anything is written or any host contacted; the inventory stays."""
    before = requests(fleet)
    assert cmaudit(fleet, "-o", "") == 64
    assert "empty folder name" in capsys.readouterr().err
    assert sorted(p.name for p in workdir.iterdir()) == ["small.csv"]
    assert requests(fleet) == before


def test_keep_runs_never_deletes_an_ancestor_of_the_current_run(fleet: Fleet, workdir: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`-o audits`, then `-o audits/2026-w49 --keep-runs 1`: the new run keeps its results, the old ones stay."""
    assert cmaudit(fleet, "-o", "audits") in (0, 1)
    assert cmaudit(fleet, "-o", "audits/2026-w49", "--keep-runs", "1") in (0, 1)
    new = workdir / "audits" / "2026-w49"
    assert all((new / name).is_file() for name in ("results.json", "report.csv", "report.html"))
    assert (workdir / "audits" / "results.json").is_file()
    assert "it holds the current run's folder" in capsys.readouterr().err


def test_keep_runs_deletes_only_the_files_the_run_wrote(fleet: Fleet, workdir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A folder cmaudit created loses the old run's files but keeps a file an admin added; a clean one goes whole."""
    assert cmaudit(fleet, "-o", "runs/w1") in (0, 1)
    assert cmaudit(fleet, "-o", "runs/w2") in (0, 1)
    (workdir / "runs" / "w1" / "notes.txt").write_text("ticket 4711")
    assert cmaudit(fleet, "-o", "runs/w3", "--keep-runs", "1") in (0, 1)
    assert sorted(p.name for p in (workdir / "runs" / "w1").iterdir()) == [".cmaudit-run.json", "notes.txt"]
    assert not (workdir / "runs" / "w2").exists()
    assert "holds files cmaudit did not write (notes.txt)" in capsys.readouterr().err


def test_earlier_runs_folder_is_refused_unless_forced(fleet: Fleet, workdir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """-o naming an earlier run's folder is a usage error that contacts no host; --force writes into it."""
    assert cmaudit(fleet, "-o", "run1") in (0, 1)
    first = json.loads((workdir / "run1" / "results.json").read_text(encoding="utf-8"))["meta"]["run_id"]
    before = requests(fleet)
    assert cmaudit(fleet, "-o", "run1") == 64
    assert "holds an earlier run's results" in capsys.readouterr().err
    assert requests(fleet) == before
    assert cmaudit(fleet, "-o", "run1", "--force") in (0, 1)
    again = json.loads((workdir / "run1" / "results.json").read_text(encoding="utf-8"))["meta"]["run_id"]
    assert again != first


@pytest.mark.parametrize("host_folder", [pytest.param(False, id="evidence-folder"),
                                         pytest.param(True, id="host-folder")])
def test_evidence_never_follows_a_planted_link(fleet: Fleet, workdir: Path, host_folder: bool) -> None:
    """A symbolic link planted in the output folder is never written through: that host is ERROR/local instead."""
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    first = fleet.hosts[0]
    planted = f"evidence/{host_dir_name(stable_key(first.name, first.port))}" if host_folder else "evidence"
    link = workdir / "out" / planted
    link.parent.mkdir(parents=True)
    try:  # Windows needs a privilege (or developer mode) for links; wine reports success and makes none
        link.symlink_to(elsewhere, target_is_directory=True)
    except (OSError, NotImplementedError):
        pass
    if not link.is_symlink():
        pytest.skip("this system cannot make symbolic links")
    cmaudit(fleet, "-o", "out")
    assert list(elsewhere.iterdir()) == []
    doc = json.loads((workdir / "out" / "results.json").read_text(encoding="utf-8"))
    hurt = [h for h in doc["hosts"] if h["verdict"] == Verdict.ERROR.value]
    assert hurt and all(h["error"]["category"] == ErrorCategory.LOCAL.value and "symbolic link" in h["error"]["message"]
                        for h in hurt)


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_reports_and_evidence_honour_the_umask(fleet: Fleet, workdir: Path) -> None:
    """Under `umask 077` every file of the run is private to its owner (no 0644 report on a shared box)."""
    old = os.umask(0o077)
    try:
        assert cmaudit(fleet, "-o", "private") in (0, 1)
    finally:
        os.umask(old)
    files = [p for p in (workdir / "private").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"results.json", "report.csv", "report.html", "wsyncmgr.log.gz"}
    loose = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files if p.stat().st_mode & 0o077}
    assert loose == {}


def _as_unwritable(tmp_path: Path, target: Path, how: str) -> list[str] | None:
    """A command prefix that runs cmaudit where `target` cannot be written: a read-only mount or a full disk."""
    if how == "full":
        return []  # the child sets RLIMIT_FSIZE=0: every write of data fails as on a full disk (EFBIG)
    if os.geteuid() != 0:
        target.chmod(0o555)
        return []
    probe = tmp_path / "mount-probe"
    probe.mkdir()
    import shutil
    import subprocess

    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-m", "mount", "-t", "tmpfs", "-o", "ro", "none", str(probe)],
                                         capture_output=True).returncode != 0:
        return None
    return [unshare, "-m", "sh", "-c", f'mount --bind -o ro "{target}" "{target}" && exec "$@"', "sh"]


@pytest.mark.skipif(os.name == "nt", reason="makes a folder unwritable the POSIX way (a read-only mount, a mode, "
                                            "RLIMIT_FSIZE); the check itself is the same code on Windows")
@pytest.mark.parametrize("how, what", [("read-only", "output"), ("read-only", "history"), ("full", "output")])
def test_unwritable_output_or_history_stops_before_any_host(fleet: Fleet, tmp_path: Path, how: str, what: str) -> None:
    """A read-only or full output folder (or history) is one error line and exit 64, with no host contacted."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    inventory = fleet.write_inventory(tmp_path / "small.csv")
    out, state = tmp_path / "out", tmp_path / "state"
    out.mkdir()
    state.mkdir()
    target = out if what == "output" else state
    prefix = _as_unwritable(tmp_path, target, how)
    if prefix is None:
        pytest.skip("running as root without mount namespaces: no way to make a folder read-only")

    def limit() -> None:
        if how == "full":
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    before = requests(fleet)
    env: dict[str, Any] = {**os.environ, "CMAUDIT_PASSWORD": fleet.password}  # type: ignore[attr-defined]
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "scanner", "scan", str(inventory), "-o", str(out), "--username",
         fleet.username, "--quiet", "--history", str(state / "history.sqlite3")],
        cwd=repo, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        preexec_fn=limit)
    assert proc.returncode == 64, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no host was contacted" in lines[0] and str(target) in lines[0], proc.stderr
    assert requests(fleet) == before


def test_one_name_at_two_addresses_keeps_two_evidence_folders(fleet: Fleet, workdir: Path) -> None:
    """The same host name at two addresses (here 127.0.0.1 and localhost) keeps each host's evidence apart."""
    first = fleet.hosts[0]
    (workdir / "shared.csv").write_text(
        "host,port,address\n"
        f"sms01,{first.port},127.0.0.1\n"
        f"sms01,{first.port},localhost\n", encoding="utf-8")
    assert main(["scan", "shared.csv", "--username", fleet.username, "--quiet", "-o", "out"]) in (0, 1)
    doc = json.loads((workdir / "out" / "results.json").read_text(encoding="utf-8"))
    saved = [h["facts"]["logs"][0]["saved_as"] for h in doc["hosts"]]
    assert len(set(saved)) == 2 and all((workdir / "out" / s).is_file() for s in saved)


def test_an_unusable_log_file_stops_the_run_before_its_folder_exists(fleet: Fleet, workdir: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A --log-file that cannot be written is one error line and exit 64 before any host and before the run folder
    is made, so the same `-o` works once the path is fixed (not "holds an earlier run's results")."""
    (workdir / "not-a-folder").write_text("a file where the log's folder should be")
    before = requests(fleet)
    assert cmaudit(fleet, "-o", "run1", "--log-file", "not-a-folder/audit.log") == 64
    err = capsys.readouterr().err
    assert "not-a-folder" in err and len(err.strip().splitlines()) == 1
    assert not (workdir / "run1").exists() and requests(fleet) == before
    assert cmaudit(fleet, "-o", "run1", "--log-file", "logs/audit.log") in (0, 1)
    assert (workdir / "logs" / "audit.log").read_text(encoding="utf-8").count("host-done") == len(fleet.hosts)
