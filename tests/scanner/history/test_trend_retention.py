"""The trend chart (inline SVG) and --keep-runs retention."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from reports import trend
from scanner.history import database as history
from scanner.history import run_folder
from scanner.model.records import Verdict, results_to_dict
from scanner.publish import retention
from tests.support.weekly_runs import INVENTORY, run

SVG = "{http://www.w3.org/2000/svg}"


def test_trend_chart_has_one_point_and_bar_per_run(tmp_path):
    """The chart shows each recorded run's % compliant and its hosts to act on, in the run's order."""
    db = tmp_path / "h.sqlite3"
    for week in (1, 2, 3):
        history.record_run(db, run(week), INVENTORY)
    svg = trend.trend_svg(history.trend_points(history.recent_counts(db, INVENTORY, limit=12)))
    root = ET.fromstring(str(svg))
    runs = root.findall(f"{SVG}g")
    assert [r.get("data-run") for r in runs] == ["#1", "#2", "#3"]
    week2 = runs[1]  # 2 AFFECTED, 1 ERROR, 2 NOT_AFFECTED
    assert (week2.get("data-compliant"), week2.get("data-action"), week2.get("data-unchecked")) == ("40", "2", "1")
    assert [int(r.get("data-count", "")) for r in week2.findall(f"{SVG}rect")] == [2, 1]
    assert week2.find(f"{SVG}circle") is not None


def test_trend_counts_waived_hosts_apart():
    """A run's waived findings are not counted as needing action in the trend, as in the report's headline."""
    point = trend.TrendPoint("#1", "2026-11-02T06:00:00Z", {Verdict.AFFECTED: 3, Verdict.NOT_AFFECTED: 1}, waived=1)
    assert point.figures() == (25, 2, 0)


def test_trend_chart_is_inert_and_escaped():
    """The SVG carries no script, style or external reference, and labels are escaped."""
    points = [trend.TrendPoint(label='<script>alert(1)</script>', started='"><img src=x onerror=alert(1)>',
                               counts={Verdict.AFFECTED: 1})]
    text = str(trend.trend_svg(points))
    ET.fromstring(text)  # well-formed: nothing broke out of an attribute or element
    lowered = text.lower()
    assert "<script" not in lowered and "<img" not in lowered and "style=" not in lowered
    assert "href" not in lowered and "http://" not in lowered.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_trend_chart_without_runs_says_so():
    """Before any run is recorded the chart area says there is nothing yet."""
    assert "No earlier runs" in str(trend.trend_svg([]))


def _recorded_run(db, tmp_path, week, inventory=INVENTORY, *, marker_run_id=None):
    """A run recorded in the history whose folder cmaudit created and listed its files in (as a scan does)."""
    results = run(week, inventory=inventory, run_id=f"{inventory}-w{week}")
    folder = tmp_path / f"{inventory.strip('/').replace('/', '_')}-w{week}"
    folder.mkdir()
    owner = marker_run_id or results.meta.run_id
    run_folder.start_run(folder, owner, created=True)
    (folder / "evidence" / "sms01").mkdir(parents=True)
    (folder / "evidence" / "sms01" / "wsyncmgr.log.gz").write_bytes(b"\x1f\x8b")
    (folder / "results.json").write_text(json.dumps(results_to_dict(results)))
    run_folder.record_files(folder, owner, ["results.json", "evidence/sms01/wsyncmgr.log.gz"])
    return history.record_run(db, results, inventory, output_dir=folder), folder


def test_keep_runs_prunes_old_runs_and_their_folders(tmp_path):
    """--keep-runs 2 keeps the newest two runs of the inventory and deletes older runs' folders."""
    db = tmp_path / "h.sqlite3"
    recorded = [_recorded_run(db, tmp_path, week) for week in (1, 2, 3, 4)]
    other_id, other_folder = _recorded_run(db, tmp_path, 1, "/etc/cmaudit/zone-b.csv")
    result = retention.prune(db, 2, audit=INVENTORY)
    assert sorted(result.deleted_runs) == [recorded[0][0], recorded[1][0]]
    assert sorted(result.removed_folders) == sorted([recorded[0][1], recorded[1][1]])
    assert not recorded[0][1].exists() and not recorded[1][1].exists()
    assert recorded[2][1].exists() and recorded[3][1].exists() and other_folder.exists()
    assert sorted(r.id for r in history.list_runs(db)) == sorted([recorded[2][0], recorded[3][0], other_id])
    assert result.problems == ()
    assert history.check_integrity(db) == []


def test_folder_of_another_run_is_never_deleted(tmp_path):
    """A run folder whose marker does not list the pruned run keeps everything in it, and the reason is given."""
    db = tmp_path / "h.sqlite3"
    old_id, old_folder = _recorded_run(db, tmp_path, 1, marker_run_id="someone-else")
    _recorded_run(db, tmp_path, 2)
    result = retention.prune(db, 1, audit=INVENTORY)
    assert result.deleted_runs == (old_id,) and result.removed_folders == ()
    assert (old_folder / "results.json").exists() and "does not list this run" in result.problems[0]


def test_protected_run_is_never_pruned(tmp_path):
    """The run just recorded survives pruning even if an overlapping run recorded newer ones."""
    db = tmp_path / "h.sqlite3"
    ids = [_recorded_run(db, tmp_path, week)[0] for week in (1, 2, 3)]
    result = retention.prune(db, 1, audit=INVENTORY, protect=[ids[0]])
    assert sorted(result.deleted_runs) == [ids[1]]
