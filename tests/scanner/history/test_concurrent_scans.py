"""Two scheduled scans that overlap, recording into one history database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.history import database as history
from scanner.model.records import Verdict
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password

pytestmark = pytest.mark.network


def test_two_scans_at_once_share_one_history(tmp_path: Path) -> None:
    """Both overlapping `cmaudit scan` processes finish, both runs are recorded whole, the database is sound."""
    password = new_password()
    db = tmp_path / "history.sqlite3"
    env = {**os.environ, "CMAUDIT_PASSWORD": password}
    with Fleet(hosts=6, password=password, machine_factory=healthy_machine, profiles=["h"] * 6) as fleet:
        inventory = fleet.write_inventory(tmp_path / "fleet.csv")
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "scanner", "scan", str(inventory), "--username", fleet.username,
                 "--history", str(db), "-o", str(tmp_path / f"run{i}"), "--quiet", "--timeout", "20"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for i in range(2)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [1, 1], [err for _out, err in outputs]  # 1: findings, complete
    assert all("history not updated" not in err for _out, err in outputs)
    runs = history.list_runs(db)
    assert len(runs) == 2 and all(r.complete and r.host_count == 6 for r in runs)
    assert runs[0].counts == runs[1].counts and sum(runs[0].counts.values()) == 6
    assert Verdict.ERROR not in runs[0].counts
    assert history.check_integrity(db) == []
