"""Judging runs inside the host's deadline: past it, or once the run stops, it is abandoned and the process ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scanner.advisory.engine import evaluate
from scanner.model.errors import HostTimeout
from scanner.model.host import Host
from scanner.model.records import HostFacts
from scanner.model.snapshot import LogBlob, Snapshot
from scanner.scan.advisory_file import load_advisory
from scanner.scan.host_job import ScanContext, ScanJob
from scanner.winrm.collect import Collected, CollectOptions
from scanner.winrm.session import SessionOptions
from simulator.filesystem import FileSystem
from simulator.fleet import Fleet
from simulator.registry import Registry, RegType
from simulator.vm import VirtualMachine
from simulator.windows import WINDOWS_VERSIONS
from tests.paths import REPO
from tests.support.fleet import new_password

SLOW_TO_JUDGE = b"a $$<C><not a time><thread=1>\r\n" * 400_000  # every line a candidate: seconds of parsing
LOG = r"C:\SMS\Logs\wsyncmgr.log"


@pytest.mark.parametrize("how", ["deadline-passed", "run-stopped"])
def test_judging_is_abandoned_with_the_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """A host whose deadline has passed (or whose run is stopping) gets no verdict: judging gives up at once."""
    host = Host(name="sms01", address="127.0.0.1", port=5985, scheme="http", auth="ntlm")
    context = ScanContext(session=SessionOptions(), collect=CollectOptions(), run_dir=tmp_path,
                          advisory=load_advisory(), evaluate=evaluate)
    collected = Collected(HostFacts(build="4.00.6221.1000"),
                          Snapshot(build="4.00.6221.1000", setup_key_found=True, logs=(LogBlob(LOG, SLOW_TO_JUDGE),)))
    monkeypatch.setattr(ScanJob, "_collect", lambda self: collected)
    deadline = time.monotonic() + (0.0 if how == "deadline-passed" else 3600.0)
    job = ScanJob(host, deadline, context)
    if how == "run-stopped":
        job.abort()
    started = time.monotonic()
    with pytest.raises(HostTimeout, match="judging the logs did not finish"):
        job.run()
    assert time.monotonic() - started < 10.0


def _long_line_machine(profile: str, hostname: str) -> VirtualMachine:
    """An SP1 site server whose wsyncmgr.log is 2,100 lines of 16 KB without a single timestamp (33.6 MB)."""
    reg = Registry()
    reg.set_value(r"HKLM\SOFTWARE\Microsoft\SMS\Setup", "Full Version", RegType.REG_SZ, "4.00.6221.1000")
    reg.set_value(r"HKLM\SOFTWARE\Microsoft\SMS\Setup", "Installation Directory", RegType.REG_SZ, r"C:\SMS")
    fs = FileSystem(datetime(2008, 6, 10, tzinfo=UTC))
    filler = b"x" * (16 * 1024 - 30)
    fs.add_file(LOG, b"".join(b"Synchronizing update %d " % i + filler + b"\r\n" for i in range(2_100)))
    return VirtualMachine(hostname, WINDOWS_VERSIONS["2008"], False, reg, fs)


@pytest.mark.network
def test_a_long_line_log_does_not_keep_the_scan_running(tmp_path: Path) -> None:
    """`scan --timeout 20` of a host serving 33.6 MB of timestamp-less lines ends with the host (ran 75 s before)."""
    password = new_password()
    with Fleet(profiles=["long-lines"], password=password, machine_factory=_long_line_machine) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "scanner", "scan", str(inventory), "-o", str(tmp_path / "run"), "--username",
             fleet.username, "--timeout", "20", "--quiet", "--no-history"],
            cwd=REPO, env={**os.environ, "CMAUDIT_PASSWORD": password}, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=300)
        wall = time.monotonic() - started
    assert proc.returncode in (1, 2, 3), proc.stderr
    (host,) = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))["hosts"]
    assert wall < host["seconds"] + 15.0, (wall, host["seconds"])  # interpreter start and reports, no more
    assert host["seconds"] <= 20.0 + 2.0
