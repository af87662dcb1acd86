"""What changed since the last run: three synthetic weekly runs with known changes between them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reports.changes_text import render_text
from scanner.history import changes
from scanner.history import database as history
from scanner.model.records import ErrorCategory, HostFailure, Verdict
from tests.support.weekly_runs import INVENTORY, host, run


@pytest.fixture
def three_weeks(tmp_path):
    """A history with weeks 1..3 recorded; returns (db path, [run ids])."""
    db = tmp_path / "h.sqlite3"
    ids = [history.record_run(db, run(week), INVENTORY) for week in (1, 2, 3)]
    return db, ids


def _hosts(items):
    return [c.host for c in items]


def test_week_two_against_week_one(three_weeks):
    """A fixed host, a newly failing host, a down host, a removed and an added host are each reported."""
    db, ids = three_weeks
    c = changes.changes_since_last(db, ids[1])
    assert c.previous_run == f"#{ids[0]}" and not c.is_baseline and c.changed
    assert _hosts(c.fixed) == ["sms02"]
    assert (c.fixed[0].before, c.fixed[0].after) == (Verdict.AFFECTED, Verdict.NOT_AFFECTED)
    assert _hosts(c.regressed) == ["sms03"]
    assert _hosts(c.new_findings) == []
    assert _hosts(c.still_open) == ["sms01"]
    assert (c.still_open[0].first_seen, c.still_open[0].age_weeks) == ("2026-11-02T02:00:00Z", 1)
    assert _hosts(c.newly_unreachable) == ["sms04"]
    assert "timeout" in c.newly_unreachable[0].detail
    assert _hosts(c.removed) == ["sms05"] and _hosts(c.added) == ["sms06"]
    assert c.not_checked == ()


def test_week_three_ages_open_findings_and_counts_unchecked_runs(three_weeks):
    """A week later the open findings are older, nothing is 'new' and the down host has 2 unchecked runs."""
    db, ids = three_weeks
    c = changes.changes_since_last(db, ids[2])
    assert not c.changed
    assert [(o.host, (o.first_seen or "")[:10], o.age_weeks) for o in c.still_open] == [
        ("sms01", "2026-11-02", 2), ("sms03", "2026-11-09", 1)]
    assert [(n.host, n.runs, n.last_checked) for n in c.not_checked] == [("sms04", 2, "2026-11-02T02:00:00Z")]
    assert c.newly_unreachable == ()
    note = c.annotation_for(host("sms01", Verdict.AFFECTED))
    assert (note.change, note.first_seen) == ("still-open", "2026-11-02T02:00:00Z")


def test_first_run_is_a_baseline(three_weeks):
    """The first run of an inventory has nothing to compare with and says so."""
    db, ids = three_weeks
    c = changes.changes_since_last(db, ids[0])
    assert c.is_baseline and not c.changed
    assert "baseline" in render_text(c)


def test_interrupted_run_is_skipped_as_previous(tmp_path):
    """A run interrupted half way is not what the next week is compared with."""
    db = tmp_path / "h.sqlite3"
    first = history.record_run(db, run(1), INVENTORY)
    history.record_run(db, run(2, {"sms01": Verdict.ERROR}, interrupted=True), INVENTORY)
    third = history.record_run(db, run(3), INVENTORY)
    assert changes.changes_since_last(db, third).previous_run == f"#{first}"


def test_other_inventory_is_not_the_previous_run(tmp_path):
    """Runs of another inventory (another network zone) are never compared with this one."""
    db = tmp_path / "h.sqlite3"
    history.record_run(db, run(1), INVENTORY)
    history.record_run(db, run(2, run_id="zone-b"), "/etc/cmaudit/zone-b.csv")
    third = history.record_run(db, run(3), INVENTORY)
    c = changes.changes_since_last(db, third)
    assert c.previous_started == "2026-11-02T02:00:00Z"


def test_finding_open_across_an_unchecked_week_keeps_its_first_seen(tmp_path):
    """A finding that could not be checked for a week is still open, not new, when seen again."""
    db = tmp_path / "h.sqlite3"
    history.record_run(db, run(1, {"sms01": Verdict.AFFECTED}), INVENTORY)
    history.record_run(db, run(2, {"sms01": Verdict.ERROR}), INVENTORY)
    third = history.record_run(db, run(3, {"sms01": Verdict.AFFECTED}), INVENTORY)
    c = changes.changes_since_last(db, third)
    assert c.new_findings == ()
    assert [(o.host, o.first_seen, o.age_weeks) for o in c.still_open] == [("sms01", "2026-11-02T02:00:00Z", 2)]


def test_console_text_lists_every_change(three_weeks):
    """The console block names each host under the right heading, with the open finding's age."""
    db, ids = three_weeks
    text = render_text(changes.changes_since_last(db, ids[1]))
    assert text.splitlines()[0].startswith(f"Since last run (run #{ids[0]}, 2026-11-02 02:00 UTC)")
    expected = [
        "Regressed (1):", "    sms03  NOT_AFFECTED -> AFFECTED  (legacy sync failed)",
        "Newly unreachable (1):", "    sms04  NOT_AFFECTED -> ERROR  (timeout: no answer within 60 s)",
        "Fixed (1):", "    sms02  AFFECTED -> NOT_AFFECTED",
        "Still open (1):", "    sms01  AFFECTED since 2026-11-02, 1 week",
        "Hosts added (1):", "    sms06  NOT_AFFECTED",
        "Hosts removed (1):", "    sms05  (was NOT_AFFECTED)",
    ]
    lines = [line[2:] if line.startswith("  ") and not line.startswith("    ") else line for line in text.splitlines()]
    positions = [lines.index(e) for e in expected]
    assert positions == sorted(positions)
    text3 = render_text(changes.changes_since_last(db, ids[2]))
    assert "no change." in text3 and "sms04  2 runs, last checked 2026-11-02" in text3


def test_server_text_cannot_inject_terminal_escapes():
    """An error message from a hostile server is shown on one line without control characters."""
    bad = replace(host("sms09", Verdict.ERROR), error=HostFailure(ErrorCategory.PROTOCOL,
                                                                "bad\x1b[2J\r\nreply\x07" + "x" * 500))
    prev = run(1, {"sms09": Verdict.NOT_AFFECTED})
    cur = replace(run(2, {}), hosts=(bad,))
    text = render_text(changes.compare(prev, cur))
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    line = next(x for x in text.splitlines() if "sms09" in x)
    assert "bad [2J reply" in line and len(line) < 250


def test_compare_two_result_sets_without_history():
    """Two results files compare on their own: open findings date from the earlier run at least."""
    c = changes.compare(run(1), run(2))
    assert _hosts(c.fixed) == ["sms02"] and _hosts(c.regressed) == ["sms03"]
    assert [(o.host, o.first_seen) for o in c.still_open] == [("sms01", "2026-11-02T02:00:00Z")]
    assert (c.annotations["sms06"].change, c.annotations["sms06"].first_seen) == ("added", None)
    assert (c.annotations["sms04"].change, c.annotations["sms04"].first_seen) == ("newly-unreachable", None)
    assert c.annotations["sms04"].last_build == "4.00.6221.1000"  # unreachable now: the build it had before


def test_every_verdict_pair_has_a_row_in_the_change_table():
    """Each (previous, current) verdict pair a host can show has exactly one rule, so none is classified by accident."""
    kinds = {changes._kind(v) for v in Verdict}
    assert set(changes.VERDICT_CHANGES) == {(before, now) for before in kinds | {changes.ABSENT} for now in kinds}
