"""Read-only proof: a full scan of a mixed fleet runs nothing on the site servers that could write."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.fleet import Fleet
from simulator.profiles import PROFILE_NAMES
from tests.support.scans import is_read_only, new_password, scan, write_inventory

pytestmark = pytest.mark.network


@pytest.mark.parametrize("line", [
    pytest.param('reg add "HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup" /v X /d 1', id="reg-add"),
    pytest.param('reg delete "HKLM\\SOFTWARE\\Microsoft\\SMS" /f', id="reg-delete"),
    pytest.param('reg query "HKLM\\SOFTWARE" & reg save HKLM\\SAM c:\\sam', id="reg-save-after-query"),
    pytest.param('type "C:\\a.log" > "C:\\b.log"', id="redirect"),
    pytest.param('type C:\\a.log >> C:\\b.log', id="append"),
    pytest.param('echo x & del C:\\a.log', id="del"),
    pytest.param('echo x && copy a b', id="and-and"),
    pytest.param('reg query "HKLM\\SOFTWARE" | find "x"', id="pipe"),
    pytest.param('type %TEMP%\\x', id="variable"),
    pytest.param('mkdir C:\\x', id="mkdir"),
    pytest.param('echo x & move a b', id="move"),
    pytest.param('cmd /c del x', id="nested-cmd"),
    pytest.param('type "C:\\a.log" 2>&1 || del C:\\a.log', id="or-else-writes"),
    pytest.param('type "C:\\a.log" 2> "C:\\err.txt"', id="stderr-to-file"),
    pytest.param('reg query "HKLM\\X" 2>&1 > C:\\out.txt', id="merged-to-file"),
    pytest.param('dir "C:\\PkgSource" > "C:\\listing.txt"', id="dir-to-file"),
    pytest.param('dir /s "C:\\" 2>&1 || rd /s /q C:\\x', id="dir-or-else-removes"),
])
def test_checker_refuses_writing_commands(line: str) -> None:
    """The allowlist rejects every command that writes or could, so the fleet proof below can fail."""
    assert not is_read_only(line)


@pytest.mark.parametrize("line", [
    pytest.param('echo ==cmaudit:0a1b:nsetup== & reg query "HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup"', id="registry"),
    pytest.param('echo ==m:lo_== & type "C:\\SMS & Co\\Logs\\wsyncmgr.lo_" & echo ==m:end==', id="quoted-amp"),
    pytest.param('echo ==m:nsetup== & reg query "HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup" 2>&1 '
                 '|| echo ==m:nsetup.failed==', id="checked-registry"),
    pytest.param('echo ==m:log== & type "C:\\L\\wsyncmgr.log" 2>&1 || echo ==m:log.failed==', id="checked-type"),
    pytest.param('echo ==m:itmu0== & dir "C:\\Program Files\\Microsoft Updates Inventory Tool\\PkgSource" 2>&1 '
                 '|| echo ==m:itmu0.failed==', id="checked-dir"),
])
def test_checker_accepts_reads(line: str) -> None:
    """The allowlist accepts the shapes a scan sends, including a quoted path with `&`."""
    assert is_read_only(line)


def test_mixed_fleet_scan_runs_only_read_only_commands(tmp_path: Path) -> None:
    """Every command line each simulated host recorded during a scan of every profile is read-only."""
    password = new_password()
    profiles = list(PROFILE_NAMES) + ["sp1-affected", "rolled-log", "x64-wow6432"]
    with Fleet(profiles=profiles, password=password) as fleet:
        inventory = write_inventory(tmp_path / "hosts.csv", fleet.inventory_rows())
        result = scan(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": password}, ca_file=fleet.ca_file)
        recorded = {h.profile + f"#{h.index}": h.commands for h in fleet.hosts}
    assert all(h.error is None for h in result.outcome.results.hosts), [h.error for h in result.outcome.results.hosts]
    lines = [line for commands in recorded.values() for line in commands]
    assert all(recorded.values()), "a host ran no command: the proof would be empty for it"
    offending = [line for line in lines if not is_read_only(line)]
    assert not offending, offending[:3]
    assert any(line.lower().count("type ") for line in lines)  # the log reads are part of the proof
