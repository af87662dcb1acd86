"""Shared helpers for the end-to-end scan tests: a healthy simulated site server and a scan call."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanner.cli.scan_console import run_scan
from scanner.scan.settings import ScanSettings
from simulator.filesystem import FileSystem
from simulator.registry import Registry, RegType
from simulator.vm import VirtualMachine
from simulator.windows import WINDOWS_VERSIONS
from tests.support.scans import Scan, new_password

__all__ = ["HEALTHY_LOG", "Scan", "healthy_machine", "new_password", "scan"]

HEALTHY_LOG = (
    "Wakeup for a polling cycle  $$<SMS_WSUS_SYNC_MANAGER><06-10-2008 02:13:11.522+480><thread=5976 (0x1758)>\r\n"
    "Performing legacy sync  $$<SMS_WSUS_SYNC_MANAGER><06-10-2008 02:13:12.001+480><thread=5976 (0x1758)>\r\n"
)


def healthy_machine(profile: str, hostname: str) -> VirtualMachine:
    """A 2008 site server (SP1) with a short, harmless wsyncmgr.log: every fault test's baseline."""
    reg = Registry()
    root = r"HKLM\SOFTWARE\Microsoft\SMS"
    reg.set_value(root + r"\Setup", "Full Version", RegType.REG_SZ, "4.00.6221.1000")
    reg.set_value(root + r"\Setup", "Installation Directory", RegType.REG_SZ,
                  r"C:\Program Files\Microsoft Configuration Manager")
    reg.set_value(root + r"\Setup", "Type", RegType.REG_DWORD, 1)
    reg.set_value(root + r"\Identification", "Site Code", RegType.REG_SZ, "P01")
    fs = FileSystem(datetime(2008, 6, 10, tzinfo=UTC))
    fs.add_file(r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log", HEALTHY_LOG.encode())
    return VirtualMachine(hostname, WINDOWS_VERSIONS["2008"], False, reg, fs)


def scan(fleet: Any, tmp_path: Path, password: str, **overrides: Any) -> Scan:
    """Scan `fleet` the way `cmaudit scan` does (per-host deadline roomy enough for a loaded box); output captured."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    inventory = fleet.write_inventory(tmp_path / "hosts.csv")
    on_runner = overrides.pop("on_runner", None)
    on_host_done = overrides.pop("on_host_done", None)
    settings: dict[str, Any] = dict(inventory=inventory, output=tmp_path / "run", username=fleet.username,
                                    timeout=20.0, retries=2, concurrency=16, backoff_base=0.05, grace=0.5,
                                    connect_timeout=2.0, operation_timeout=2, ca_file=fleet.ca_file)
    settings.update(overrides)
    out, err = io.StringIO(), io.StringIO()
    outcome = run_scan(ScanSettings(**settings), environ={"CMAUDIT_PASSWORD": password}, out=out, err=err,
                       on_runner=on_runner, on_host_done=on_host_done, install_signal_handlers=False)
    return Scan(outcome, out.getvalue(), err.getvalue())
