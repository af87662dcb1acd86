"""Runs are compared only when they are one fleet's: a comparison that may not be is said, a run that checked no
host is never the baseline, and a partial first run says it is no baseline."""

from __future__ import annotations

from dataclasses import replace

from reports.changes_text import render_text
from scanner.history import database as history
from scanner.model.records import RunResults, Verdict
from scanner.publish import followup
from tests.support.weekly_runs import A, E, N, run

FLEET_A = {"sms01": A, "sms02": N, "sms03": N, "sms04": N}
FLEET_B = {"web01": N, "web02": N, "web03": A, "sms01": A}


def _record(db, results: RunResults):
    follow = followup.prepare(results, history_path=db, output_dir=None)
    assert follow.changes is not None, follow.messages
    return follow.changes


def test_two_inventories_of_one_name_are_not_compared_silently(tmp_path):
    """Two hosts.csv in two folders default to one audit: the second run says it read another file and shares
    few hosts, and suggests --audit NAME (in the text the console and the mail show)."""
    db = tmp_path / "h.sqlite3"
    dc1, dc2 = str(tmp_path / "dc1" / "hosts.csv"), str(tmp_path / "dc2" / "hosts.csv")  # absolute here, C:\ or /
    _record(db, run(1, FLEET_A, inventory=dc1))
    found = _record(db, run(2, FLEET_B, inventory=dc2))
    assert found.previous_run == "#1"
    assert dc1 in found.caution and dc2 in found.caution
    assert "share 1 of 4 hosts" in found.caution and "--audit NAME" in found.caution
    text = render_text(found)
    assert "Warning: compared with run #1 of audit 'hosts'" in text and dc2 in text


def test_one_inventory_that_lost_most_hosts_is_said(tmp_path):
    """The same file, but fewer than half the hosts in common: the comparison says so."""
    db = tmp_path / "h.sqlite3"
    _record(db, run(1, FLEET_A))
    found = _record(db, run(2, {"sms01": A, "new1": N, "new2": N, "new3": N}))
    assert "share 1 of 4 hosts" in found.caution and "it read" not in found.caution


def test_one_fleet_week_after_week_has_no_warning(tmp_path):
    """The usual weekly run (a host fixed, one added, one removed) and a partial run of it carry no warning."""
    db = tmp_path / "h.sqlite3"
    _record(db, run(1))
    assert _record(db, run(2)).caution == ""
    one = run(3, {"sms01": A})
    assert _record(db, replace(one, meta=replace(one.meta, partial=True))).caution == ""
    assert "Warning" not in render_text(_record(db, run(4)))


def test_a_run_that_checked_no_host_is_recorded_but_never_the_baseline(tmp_path):
    """A week where every host was ERROR (a wrong password) is in the history, but the next good week compares
    with the week before it, not with it, and the trend leaves it out."""
    db = tmp_path / "h.sqlite3"
    _record(db, run(1, FLEET_A))
    bad = _record(db, run(2, dict.fromkeys(FLEET_A, E)))
    assert [c.host for c in bad.newly_unreachable] == sorted(FLEET_A)
    good = _record(db, run(3, FLEET_A))
    assert good.previous_run == "#1" and good.new_findings == () and not good.changed
    assert [r.complete for r in history.list_runs(db)] == [True, False, True]
    assert [r.id for r in history.recent_counts(db, "fleet", until=3)] == [1, 3]
    assert history.why_not_a_baseline(run(2, dict.fromkeys(FLEET_A, E))) == "no host could be checked"
    assert history.why_not_a_baseline(run(2, {"sms01": Verdict.UNKNOWN, "sms02": E})) is None


def test_a_partial_first_run_says_it_is_no_baseline(tmp_path):
    """The first run of an audit, of some hosts only: the text says what happened, not "is the baseline"."""
    db = tmp_path / "h.sqlite3"
    some = run(1, {"sms01": A})
    found = _record(db, replace(some, meta=replace(some.meta, partial=True)))
    text = render_text(found)
    assert "is the baseline" not in text
    assert "run #1 is no baseline either (partial: only some of the inventory's hosts were chosen)" in text
    assert "the next complete run will be" in text
