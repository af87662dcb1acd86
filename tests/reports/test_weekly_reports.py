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


def _page(tmp_path, previous, current, name="r"):
    """report.html of `current`, compared with `previous` in a fresh history."""
    db = tmp_path / f"{name}.sqlite3"
    followup.prepare(previous, history_path=db, output_dir=None)
    follow = followup.prepare(current, history_path=db, output_dir=None)
    paths = weekly.write_weekly_reports(current, tmp_path / name, follow.changes, follow.trend)
    return follow, paths["html"].read_text(encoding="utf-8")


def _row(html, name):
    """The host table's summary row of one host."""
    return html.split(f'data-host="{name}" data-address=')[1].split("</summary>")[0]


def test_an_error_host_says_when_it_was_last_checked_and_a_new_finding_is_this_weeks(tmp_path):
    """An unreachable host's Since cell reads "last checked <date>", not a bare date under "first seen"; a finding
    found less than a week ago is "this week", never "0 wk"."""
    _follow, html = _page(tmp_path, run(1), run(2))
    unreachable, regressed = _row(html, "sms04"), _row(html, "sms03")
    assert "last checked" in unreachable and 'data-label="first seen"' not in unreachable
    assert ">this week<" in regressed and "0 wk" not in html
    since = html.split('id="findings"')[1].split('data-host="sms03"')[1].split("</tr>")[0]
    assert '<span class="nowrap">(this week)</span>' in since


def test_an_unreachable_host_counts_under_its_last_known_site(tmp_path):
    """A host that could not be checked, whose inventory names no site, is counted under the site the history last
    saw for it (in italics with "*", as its last known build), not under "unknown"."""
    def siteless(week: int, verdict: Verdict):
        h = host("sms09", verdict)
        return replace(h, site_code=None, facts=replace(h.facts, site_code=None if verdict is Verdict.ERROR else "S09"))

    previous = replace(run(1, {}), hosts=(siteless(1, Verdict.NOT_AFFECTED),))
    current = replace(run(2, {}), hosts=(siteless(2, Verdict.ERROR),))
    _follow, html = _page(tmp_path, previous, current)
    by_site = html.split('id="by-site"')[1].split("</table>")[0]
    assert 'data-key="S09"' in by_site and 'data-key="unknown"' not in by_site
    assert 'class="c-site last-known"' in _row(html, "sms09") and ">S09<" in _row(html, "sms09")
    assert 'id="last-known-note"' in html


def test_change_kinds_are_named_alike_in_the_console_the_tiles_and_the_lists(tmp_path):
    """A newly waived host is "Newly waived" on the console, in the summary's tile, in the page's list and in its
    Change cell; every kind of change has one heading on the console and the page."""
    from reports.changes_text import render_text
    from scanner.model.records import Waiver

    waiver = Waiver("sms01", "retired", "j.doe", "2999-01-01")
    current = replace(run(2), hosts=tuple(replace(h, waiver=waiver) if h.host == "sms01" else h for h in run(2).hosts))
    follow, html = _page(tmp_path, run(1), current)
    console = render_text(follow.changes)
    assert "  Newly waived (1):" in console
    assert '<span class="tile" data-change="waived"><b>1</b> newly waived</span>' in html
    assert "<h3>Newly waived (1)</h3>" in html
    assert '<span class="c-change" data-label="change">newly waived</span>' in _row(html, "sms01")
    for group in weekly.groups(follow.changes):
        if group.total and group.key not in ("still-open", "not-checked"):
            assert f"  {group.title} ({group.total}):" in console, group.title


def test_lists_of_changes_name_hosts_as_the_tables_do(tmp_path):
    """A host on a non-default port is listed by its inventory name in "Since last run" (as in every table); only two
    hosts sharing one name get their ports to tell them apart."""
    from reports.changes_text import render_text

    def at(h, port):
        return replace(h, port=port)

    previous = replace(run(1, {}), hosts=(at(host("CM007", Verdict.NOT_AFFECTED), 42279),
                                         at(host("twin", Verdict.NOT_AFFECTED, address="10.9.9.1"), 5001),
                                         at(host("twin", Verdict.NOT_AFFECTED, address="10.9.9.2"), 5002)))
    current = replace(run(2, {}), hosts=(at(host("CM007", Verdict.ERROR), 42279),
                                        at(host("twin", Verdict.ERROR, address="10.9.9.1"), 5001),
                                        at(host("twin", Verdict.NOT_AFFECTED, address="10.9.9.2"), 5002)))
    follow, html = _page(tmp_path, previous, current)
    console = render_text(follow.changes)
    assert "    CM007  NOT_AFFECTED -> ERROR" in console and "CM007:42279" not in console
    assert "    twin:5001  NOT_AFFECTED -> ERROR" in console
    assert '<span class="since-host">CM007</span>' in html and "CM007:42279" not in html
