"""`--log-file`: the audit trail of what a scan contacted and when."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.cli.main import main
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password, scan

pytestmark = pytest.mark.network


def test_log_file_records_every_host_contacted_without_secrets(tmp_path: Path) -> None:
    """Each host gets a host-done line with its address, attempts and verdict or error; no password."""
    password = new_password()
    log = tmp_path / "audit" / "cmaudit.log"
    log.parent.mkdir()
    log.write_text("2026-11-18T01:00:00.000Z run-end interrupted=False\n", encoding="utf-8")  # older run
    with Fleet(hosts=3, password=password, faults="1=refuse", machine_factory=healthy_machine,
               profiles=["h"] * 3) as fleet:
        ports = [h.port for h in fleet.hosts]
        scan(fleet, tmp_path, password, log_file=log, retries=0)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("2026-11-18T01:00:00.000Z")  # appended, not overwritten
    assert lines[1].split()[1] == "run-start" and lines[-1].split()[1] == "run-end"
    done = [line for line in lines if " host-done " in line]
    assert sorted(int(line.split("address=127.0.0.1:")[1].split()[0]) for line in done) == sorted(ports)
    refused = next(line for line in done if f"127.0.0.1:{ports[1]}" in line)
    assert "verdict=ERROR" in refused and "error=unreachable" in refused and "attempts=1" in refused
    assert all("requests=" in line and "started=" in line for line in done)
    assert password not in log.read_text(encoding="utf-8")


def test_unwritable_log_file_is_bad_usage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A --log-file that cannot be opened stops the scan before any host is contacted, exit 64."""
    inventory = tmp_path / "hosts.txt"
    inventory.write_text("127.0.0.1:1\n", encoding="utf-8")
    (tmp_path / "log-is-a-folder").mkdir()
    monkeypatch.setenv("CMAUDIT_PASSWORD", "x")
    status = main(["scan", str(inventory), "--no-history", "-o", str(tmp_path / "run"),
                   "--log-file", str(tmp_path / "log-is-a-folder")])
    assert status == 64
    err = capsys.readouterr().err
    assert "log-is-a-folder" in err and "--log-file" in err and len(err.strip().splitlines()) == 1


def test_secret_at_the_length_cut_is_masked_whole(tmp_path: Path) -> None:
    """A password that straddles the value length limit leaves not even its first characters in the log."""
    from scanner.scan.audit_log import MAX_VALUE, AuditLog

    password = new_password()
    log = AuditLog(tmp_path / "audit.log", (password,))
    log.event("host-done", detail="x" * (MAX_VALUE - 5) + password)
    log.close()
    assert password[:5] not in (tmp_path / "audit.log").read_text(encoding="utf-8")
