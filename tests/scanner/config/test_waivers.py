"""Waivers: the file is checked line by line, matching hosts keep their verdict but need no action, expiry
ends a waiver, and the changes since the last run say when a risk was accepted or its acceptance ended."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from reports.console import exit_status, summary_text
from scanner.config.waivers import WaiverFileError, apply_waivers, as_of, load_waivers, unmatched
from scanner.history.changes import compare
from scanner.model.records import RunResults, Verdict
from tests.support.weekly_runs import A, E, N, run

GOOD = '''# accepted risks of the weekly audit
[[waiver]]
host = "SMS0*"
reason = "site retired in January, no SMS 2003 clients left"
owner = "j.doe"
expires = 2027-01-31

[[waiver]]
host = "sms04"
verdicts = ["ERROR"]
reason = "powered off until the move"
owner = "a.admin"
expires = 2026-11-01
'''


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_gives_its_waivers_with_lines(tmp_path):
    """Each [[waiver]] is read with its defaults and the file:line it came from."""
    path = _write(tmp_path, GOOD)
    first, second = load_waivers(path)
    assert (first.host, first.owner, first.expires, first.verdicts) == ("SMS0*", "j.doe", "2027-01-31",
                                                                        ("AFFECTED", "AT_RISK"))
    assert first.source == f"{path}:2" and second.source == f"{path}:8"
    assert second.verdicts == ("ERROR",)


@pytest.mark.parametrize(("old", "new", "line", "words"), [
    pytest.param("expires = 2027-01-31\n", "", 2, "`expires` is required", id="no-expiry"),
    pytest.param("expires = 2027-01-31", 'expires = "2027-01-31"', 6, "must be a date", id="quoted-date"),
    pytest.param("expires = 2027-01-31", "expires = 2027-01-31T10:00:00", 6, "must be a date", id="datetime"),
    pytest.param('verdicts = ["ERROR"]', 'verdicts = ["NOT_AFFECTED"]', 10, "cannot be waived", id="ok-verdict"),
    pytest.param('verdicts = ["ERROR"]', 'verdicts = ["AFECTED"]', 10, "cannot be waived", id="typo-verdict"),
    pytest.param('owner = "a.admin"', 'ownr = "a.admin"', 12, "unknown key `ownr`", id="unknown-key"),
    pytest.param('reason = "powered off until the move"\n', "", 8, "`reason` is required", id="no-reason"),
    pytest.param('host = "sms04"', 'host = ""', 9, "`host` must be a non-empty string", id="empty-host"),
    pytest.param('owner = "j.doe"', 'owner = "j.doe', 5, "not valid TOML", id="bad-toml"),
    pytest.param("# accepted", "expire = 2027-01-01\n# accepted", 1, "unknown key `expire`", id="top-level"),
])
def test_a_bad_file_is_one_line_naming_file_and_line(tmp_path, old, new, line, words):
    """Every problem in a waivers file is one line with the file and the line of the offending waiver or key."""
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(WaiverFileError) as info:
        load_waivers(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and words in message and "\n" not in message


def test_missing_file_is_a_usage_error(tmp_path):
    """A waivers path that does not exist is a one-line error naming it."""
    with pytest.raises(WaiverFileError, match="waivers.toml: cannot read"):
        load_waivers(tmp_path / "waivers.toml")


def _week(verdicts: dict[str, Verdict], week: int = 2) -> RunResults:
    return run(week, verdicts)


def test_waived_host_keeps_its_verdict_but_needs_no_action(tmp_path):
    """A matching waiver in force is attached; the host keeps AFFECTED and no longer sets exit bit 1."""
    waivers = as_of(load_waivers(_write(tmp_path, GOOD)), date(2026, 11, 30))
    results = _week({"sms01": A, "sms04": E, "sms10": A})
    hosts = {h.host: h for h in apply_waivers(results.hosts, waivers)}
    assert hosts["sms01"].verdict is Verdict.AFFECTED and hosts["sms01"].waived and not hosts["sms01"].needs_action
    assert hosts["sms10"].waiver is None and hosts["sms10"].needs_action  # "SMS0*" does not match sms10
    assert hosts["sms04"].waiver is not None and hosts["sms04"].waiver.expired  # expired on 2026-11-01
    assert hosts["sms04"].needs_action
    waived = replace(results, hosts=tuple(hosts.values()))
    assert exit_status(waived) == 3  # sms10 still affected, sms04's waiver expired
    only_waived = replace(results, hosts=(hosts["sms01"],))
    assert exit_status(only_waived) == 0
    text = summary_text(replace(waived, meta=replace(waived.meta, waivers=waivers)))
    assert "Waived (1)" in text and "Expired waivers (1)" in text and "sms04  expired 2026-11-01" in text


def test_a_waiver_holds_through_its_expiry_day(tmp_path):
    """`expires` is the last day a waiver holds; it is expired the day after."""
    (waiver, _) = load_waivers(_write(tmp_path, GOOD))
    assert not as_of([waiver], date(2027, 1, 31))[0].expired
    assert as_of([waiver], date(2027, 2, 1))[0].expired


def test_a_waiver_covers_only_its_verdicts(tmp_path):
    """The default waiver (AFFECTED, AT_RISK) does not hide an ERROR of the same host."""
    waivers = as_of(load_waivers(_write(tmp_path, GOOD)), date(2026, 10, 1))
    (host,) = apply_waivers(_week({"sms02": E}).hosts, waivers)
    assert host.waiver is None and host.needs_action


def test_waiving_and_a_waiver_ending_are_changes(tmp_path):
    """The run that waives a finding lists it as waived; the run after expiry lists the waiver as ended."""
    (waiver, _) = load_waivers(_write(tmp_path, GOOD))
    week1 = run(1, {"sms01": A, "sms02": N})
    week2 = run(2, {"sms01": A, "sms02": N})
    week2 = replace(week2, hosts=apply_waivers(week2.hosts, as_of([waiver], date(2026, 11, 9))))
    found = compare(week1, week2)
    assert [c.host for c in found.waived] == ["sms01"] and not found.still_open and found.changed
    assert found.annotation_for(week2.hosts[0]).change == "waived"
    week3 = run(3, {"sms01": A, "sms02": N})
    week3 = replace(week3, hosts=apply_waivers(week3.hosts, as_of([waiver], date(2026, 11, 16))))
    assert not compare(week2, week3).changed  # still waived: nothing new
    week4 = replace(week3, hosts=apply_waivers(week3.hosts, as_of([waiver], date(2027, 2, 1))))
    ended = compare(week3, week4)
    assert [c.host for c in ended.waiver_ended] == ["sms01"] and ended.changed
    assert "expired 2027-01-31" in ended.waiver_ended[0].detail


def test_a_run_without_waivers_does_not_say_the_waiver_was_removed(tmp_path):
    """A run given no waivers file after a run that waived a finding says it read no waivers file, never that the
    waiver is "no longer in the waivers file"; a run that read a file without the waiver says the latter."""
    (waiver, _) = load_waivers(_write(tmp_path, GOOD))
    week1 = run(1, {"sms01": A, "sms02": N})
    week1 = replace(week1, hosts=apply_waivers(week1.hosts, as_of([waiver], date(2026, 11, 9))))
    without = compare(week1, run(2, {"sms01": A, "sms02": N}))
    (ended,) = without.waiver_ended
    assert "no longer in the waivers file" not in ended.detail and "read no waivers file" in ended.detail
    week2 = run(2, {"sms01": A, "sms02": N})
    with_file = replace(week2, meta=replace(week2.meta, waiver_file=str(tmp_path / "waivers.toml")))
    assert "no longer in the waivers file" in compare(week1, with_file).waiver_ended[0].detail


def test_config_file_names_the_waivers_relative_to_itself(tmp_path):
    """`waivers = "waivers.toml"` in cmaudit.toml is the file beside the config."""
    from scanner.config.cmaudit_toml import load_config

    config = tmp_path / "etc" / "cmaudit.toml"
    config.parent.mkdir()
    config.write_text('waivers = "waivers.toml"\n', encoding="utf-8")
    assert load_config(config).value_for_dest("waivers") == config.parent / "waivers.toml"


def test_a_run_of_some_hosts_removes_no_other_host():
    """A --hosts run compared with the full previous run lists nobody as removed."""
    week1 = run(1, {"sms01": A, "sms02": A, "sms03": N})
    week2 = run(2, {"sms02": N})
    partial = replace(week2, meta=replace(week2.meta, partial=True, selection=("--hosts sms02",)))
    assert [c.host for c in compare(week1, week2).removed] == ["sms01", "sms03"]
    found = compare(week1, partial)
    assert not found.removed and [c.host for c in found.fixed] == ["sms02"]


def test_a_waiver_naming_no_host_is_found(tmp_path):
    """A pattern that names no host of the inventory (a typo) is reported; one that matches, or has expired, is not."""
    waivers = as_of(load_waivers(_write(tmp_path, GOOD)), date(2026, 10, 1))
    assert unmatched(waivers, ["other01", "other02"]) == waivers
    assert unmatched(waivers, [w.host.replace("*", "x").replace("?", "x") for w in waivers]) == ()
    assert unmatched(as_of(waivers, date(2099, 1, 1)), ["other01"]) == ()


def test_a_single_waiver_table_is_refused_at_its_line(tmp_path):
    """`[waiver]` (one table) instead of `[[waiver]]` is refused naming the line it is on."""
    path = tmp_path / "w.toml"
    path.write_text('# accepted risks\n\n[waiver]\nhost = "CM004"\nreason = "r"\nowner = "o"\nexpires = 2027-01-31\n',
                    encoding="utf-8")
    with pytest.raises(WaiverFileError, match=r":3: `waiver` must be written as \[\[waiver\]\] tables"):
        load_waivers(path)
