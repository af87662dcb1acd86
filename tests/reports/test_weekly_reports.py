"""The reports of a recorded run: CSV first_seen/change columns, the HTML "Since last run" section and trend."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from reports import weekly
from scanner.model.records import ErrorCategory, HostFailure, Verdict
from scanner.publish import followup
from tests.support.weekly_runs import host, run


@pytest.fixture
def week3(tmp_path):
    """Three weeks recorded; week 3's follow-up (changes + trend) and its reports written."""
    db = tmp_path / "h.sqlite3"
    for week in (1, 2):
        followup.prepare(run(week), history_path=db, output_dir=None)
    follow = followup.prepare(run(3), history_path=db, output_dir=None)
    paths = weekly.write_weekly_reports(run(3), tmp_path / "w3", follow.changes, follow.trend,
                                        trend_runs=follow.trend_runs)
    return follow, paths


@pytest.fixture
def week2(tmp_path):
    db = tmp_path / "h.sqlite3"
    followup.prepare(run(1), history_path=db, output_dir=None)
    follow = followup.prepare(run(2), history_path=db, output_dir=None)
    paths = weekly.write_weekly_reports(run(2), tmp_path / "w2", follow.changes, follow.trend,
                                        trend_runs=follow.trend_runs)
    return follow, paths


def _csv_rows(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"), newline="")))


def test_csv_has_first_seen_and_change_columns(week2):
    """report.csv's first_seen (a date), change, age and last known build are filled from the history."""
    _follow, paths = week2
    rows = _csv_rows(paths["csv"])
    assert list(rows[0])[25:29] == ["first_seen", "change", "age_weeks", "last_known_build"]
    by_host = {r["host"]: (r["change"], r["first_seen"], r["age_weeks"]) for r in rows}
    assert by_host == {
        "sms01": ("still-open", "2026-11-02", "1"),
        "sms02": ("fixed", "", ""),
        "sms03": ("regressed", "2026-11-09", "0"),
        "sms04": ("newly-unreachable", "", ""),
        "sms06": ("added", "", ""),
    }
    last_known = {r["host"]: r["last_known_build"] for r in rows}
    assert last_known["sms04"] == "4.00.6221.1000" and last_known["sms01"] == ""


def test_csv_without_history_keeps_the_columns_empty(tmp_path):
    """With --no-history the columns are still there (fixed layout), just empty."""
    paths = weekly.write_weekly_reports(run(1), tmp_path / "r", None, None)
    rows = _csv_rows(paths["csv"])
    assert all(r["first_seen"] == "" and r["change"] == "" for r in rows)


def test_html_summary_then_since_last_run_then_hosts(week2):
    """report.html opens with the summary, then the "Since last run" section, then the hosts."""
    _follow, paths = week2
    html = paths["html"].read_text(encoding="utf-8")
    assert html.index('id="summary"') < html.index('id="since-last-run"') < html.index('id="hosts"')
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="trend"') == 1


def test_html_section_escapes_server_text(tmp_path):
    """A hostile error message in the changes shows as text in the section, never as markup."""
    db = tmp_path / "h.sqlite3"
    followup.prepare(run(1, {"sms01": Verdict.NOT_AFFECTED}), history_path=db, output_dir=None)
    bad = replace(host("sms01", Verdict.ERROR),
                  error=HostFailure(ErrorCategory.PROTOCOL, '<img src=x onerror="alert(1)"><script>alert(2)</script>'))
    follow = followup.prepare(replace(run(2, {}), hosts=(bad,)), history_path=db, output_dir=None)
    paths = weekly.write_weekly_reports(replace(run(2, {}), hosts=(bad,)), tmp_path / "r", follow.changes,
                                        follow.trend)
    section = paths["html"].read_text(encoding="utf-8").split('id="since-last-run"')[1].split("</section>")[0]
    assert "<img" not in section and "<script>" not in section and "&lt;img src=x" in section


@pytest.mark.browser
def test_since_last_run_in_a_browser(browser, week3):
    """In Chromium the summary shows a tile for each kind of change that happened (none for what did not), the
    section lists the hosts behind them and the trend, and the page loads nothing and breaks no CSP."""
    follow, paths = week3
    context = browser.new_context()
    try:
        page = context.new_page()
        requests, problems = [], []
        context.on("request", lambda req: requests.append(req.url))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(paths["html"].as_uri())
        sections = page.locator("main > section").evaluate_all("els => els.map(e => e.id)")
        assert sections == ["summary", "findings", "since-last-run", "breakdown", "hosts"]
        tiles = dict(zip(page.locator("#change-tiles .tile").evaluate_all("els => els.map(e => e.dataset.change)"),
                         page.locator("#change-tiles .tile b").all_text_contents(), strict=True))
        changes = follow.changes
        kinds = (("new", changes.new_findings), ("regressed", changes.regressed), ("fixed", changes.fixed),
                 ("added", changes.added), ("newly-unreachable", changes.newly_unreachable))
        expected = {key: str(len(hosts)) for key, hosts in kinds if hosts}
        assert tiles == expected and "0" not in tiles.values()
        first = page.locator("#since-last-run")
        assert "Compared with run #2 of 2026-11-09 02:00:00 UTC" in first.locator("#since-previous").inner_text()
        expect_open = len(changes.still_open)
        assert f"Still open: {expect_open} findings" in first.locator("#still-open").inner_text()
        not_checked = first.locator('ul[data-change="not-checked"] li').all_text_contents()
        assert len(not_checked) == 1 and "sms04" in not_checked[0] and "2 runs in a row" in not_checked[0]
        bars = first.locator("svg.trend g.trend-run")
        assert bars.count() == 3 and follow.trend_runs == 3
        assert first.locator("svg.trend").bounding_box()["height"] > 100
        unchecked = page.locator('details.host[data-host="sms04"]')
        assert unchecked.locator(".c-age").inner_text() == "2 runs"  # an ERROR host keeps its history columns
        assert unchecked.locator(".c-change").inner_text() == "still unchecked"
        page.screenshot(path=str(paths["html"].with_name("since-last-run.png")), full_page=False)
        assert [u for u in requests if not u.startswith("file://")] == []
        assert problems == []
    finally:
        context.close()


def test_long_groups_are_capped_but_counted():
    """With hundreds of open findings the section lists the first 50 and says how many more there are."""
    from scanner.history import changes

    many = {f"sms{i:03d}": Verdict.AFFECTED for i in range(60)}
    c = changes.compare(run(1, many), run(2, many))
    (still_open,) = [g for g in weekly.groups(c) if g.key == "still-open"]
    assert (len(still_open.rows), still_open.total, still_open.more) == (50, 60, 10)


def test_trend_labels_runs_by_date_even_on_one_day():
    """Every trend bar is labelled by its date; runs sharing a day get their time under it, never `#1 #2`."""
    from reports.trend import TrendPoint, axis_labels, trend_svg

    weekly_points = [TrendPoint(f"#{i}", f"2026-11-{2 + 7 * i:02d}T06:00:00Z", {Verdict.AFFECTED: 1})
                     for i in range(3)]
    assert axis_labels(weekly_points) == [("11-02",), ("11-09",), ("11-16",)]
    same_day = [TrendPoint("#1", "2026-11-29T09:35:01Z", {Verdict.AFFECTED: 1}),
                TrendPoint("#2", "2026-11-29T09:35:38Z", {Verdict.AFFECTED: 2})]
    assert axis_labels(same_day) == [("11-29", "09:35:01"), ("11-29", "09:35:38")]
    svg = str(trend_svg(same_day))
    assert "#1<" not in svg and ">09:35:38<" in svg and ">11-29<" in svg
    across_years = [TrendPoint("#1", "2026-12-28T06:00:00Z", {}), TrendPoint("#2", "2027-01-04T06:00:00Z", {})]
    assert axis_labels(across_years) == [("2026-12-28",), ("2027-01-04",)]
