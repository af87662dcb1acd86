"""Evidence folder and file names are ones Windows can create: never a device name such as CON or NUL."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from scanner.scan.evidence import evidence_file_name, host_dir_name
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password
from tests.support.scans import scan, write_inventory

# Windows' reserved device names (Naming Files, Paths, and Namespaces): also reserved with any extension.
DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def is_device(name: str) -> bool:
    return name.split(".", 1)[0].rstrip(" ").upper() in DEVICES


@pytest.mark.parametrize("host", ["CON", "con", "nul.example", "Aux.corp.example", "COM1", "com9", "LPT1",
                                  "lpt0.example", "prn", "NUL@127.0.0.1:5985"])
def test_device_names_get_another_evidence_folder(host):
    """A host named like a Windows device gets an evidence folder Windows can create, distinct per host."""
    folder = host_dir_name(host)
    assert not is_device(folder) and folder != host_dir_name(host.swapcase() + "x")


@pytest.mark.parametrize("remote", [r"C:\SMS\Logs\NUL", r"D:\logs\con.log", r"C:\Logs\COM1.lo_"])
def test_log_named_like_a_device_is_kept_under_another_name(remote):
    """A log whose file name is a device name (a hostile or odd TraceFilename) is saved under a file name
    Windows writes to disk, not to the device."""
    assert not is_device(evidence_file_name(remote))


def test_ordinary_names_are_kept():
    """Names that are no device keep their plain form (CONSOLE, NULL and COM10 are ordinary names)."""
    assert [host_dir_name(n) for n in ("sms01", "console", "NULL.example", "COM10")] == \
        ["sms01", "console", "NULL.example", "COM10"]
    assert evidence_file_name(r"C:\Logs\wsyncmgr.lo_") == "wsyncmgr.lo_.gz"


@pytest.mark.network
def test_scan_of_hosts_named_like_devices_keeps_their_evidence(tmp_path: Path):
    """Hosts called CON, nul.example and com1 are scanned and their logs kept as evidence, on Windows too
    (there a folder named CON cannot be made, and files under nul.example went to the null device)."""
    password = new_password()
    names = ["CON", "nul.example", "com1"]
    with Fleet(hosts=3, password=password, machine_factory=healthy_machine, profiles=["h"] * 3) as fleet:
        rows = [{**row, "host": name} for row, name in zip(fleet.inventory_rows(), names, strict=True)]
        inventory = write_inventory(tmp_path / "hosts.csv", rows)
        result = scan(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": password}, username=fleet.username)
    doc = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert [h["host"] for h in doc["hosts"]] == names
    assert all(h.error is None for h in result.outcome.results.hosts)
    for host in doc["hosts"]:
        (log,) = host["facts"]["logs"]
        saved = tmp_path / "run" / log["saved_as"]
        assert not is_device(Path(log["saved_as"]).parent.name)
        assert hashlib.sha256(gzip.decompress(saved.read_bytes())).hexdigest() == log["sha256"]
