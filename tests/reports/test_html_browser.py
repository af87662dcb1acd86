"""report.html in a real headless Chromium: counts, sorting, filtering, expanding, and no script injection."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field

import pytest

from reports import write_reports
from reports.html_report import VERDICT_LABELS
from scanner.model.records import Verdict
from tests.support.samples import bulk_run, mixed_run, waived_run

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


@dataclass
class Opened:
    """A page showing a report, and everything it tried to do."""

    page: object
    url: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def open_report(browser, tmp_path):
    contexts = []

    def _open(results, *, javascript: bool = True, viewport=(1400, 900)) -> Opened:
        paths = write_reports(results, tmp_path / f"run{len(contexts)}")
        context = browser.new_context(java_script_enabled=javascript,
                                      viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        page = context.new_page()
        url = paths["html"].as_uri()
        opened = Opened(page, url)
        context.on("request", lambda req: opened.requests.append(req.url))
        page.on("dialog", lambda d: (opened.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda exc: opened.errors.append(str(exc)))
        page.on("console", lambda msg: opened.errors.append(msg.text) if msg.type in ("error", "warning") else None)
        page.goto(url)
        return opened

    yield _open
    for context in contexts:
        context.close()


def _visible_hosts(page) -> list[str]:
    return page.locator("details.host:not([hidden]) .c-host").all_text_contents()


def test_summary_counts_match_results_json(open_report, tmp_path):
    """Every count in the summary band is the number of hosts with that verdict in results.json."""
    opened = open_report(mixed_run())
    doc = json.loads((tmp_path / "run0" / "results.json").read_text(encoding="utf-8"))
    counts = Counter(h["verdict"] for h in doc["hosts"])
    page = opened.page
    expect(page.locator("#count-total")).to_have_text(str(len(doc["hosts"])))
    for verdict in Verdict:
        expect(page.locator(f'[data-count="{verdict.value}"]')).to_have_text(str(counts.get(verdict.value, 0)))
    expect(page.locator("#count-action")).to_have_text("5")
    assert page.locator(".chart svg rect").count() == len(Verdict)
    assert opened.errors == []  # includes CSP violations: our hashed style and script are allowed


def test_hosts_needing_action_come_first(open_report):
    """Without any click the table starts with the hosts to act on."""
    verdicts = open_report(mixed_run()).page.locator("details.host").evaluate_all(
        "rows => rows.map(r => r.dataset.verdict)")
    assert verdicts[:4] == ["AFFECTED", "AFFECTED", "AT_RISK", "ERROR"]
    assert verdicts[-1] == "NOT_APPLICABLE"


def test_clicking_a_header_sorts_and_clicking_again_reverses(open_report):
    """Clicking "Host" sorts by name; a second click sorts the other way."""
    page = open_report(mixed_run()).page
    names = sorted((h.host for h in mixed_run().hosts), key=str.casefold)
    header = page.locator('#head button[data-sort="host"]')
    header.click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    assert _visible_hosts(page) == names
    header.click()
    expect(header).to_have_attribute("aria-sort", "descending")
    assert _visible_hosts(page) == names[::-1]
    page.locator('#head button[data-sort="rank"]').click()
    assert _visible_hosts(page)[:2] == ["SMS-A01", "sms-a02"]
    evtime = page.locator('#head button[data-sort="evtime"]')
    evtime.click()
    assert _visible_hosts(page)[:3] == ["SMS-A01", "sms-a02", "sms-r01"]
    evtime.click()  # newest first; hosts without evidence stay at the end either way
    assert _visible_hosts(page)[:3] == ["sms-r01", "SMS-A01", "sms-a02"]


def test_verdict_buttons_and_search_filter_the_table(open_report):
    """Clicking a verdict shows only those hosts; typing narrows further, including by log text."""
    page = open_report(mixed_run()).page
    page.get_by_role("button", name=f"{VERDICT_LABELS[Verdict.AFFECTED]} 2", exact=True).click()
    expect(page.locator("#shown")).to_have_text("2 of 9 hosts")
    assert _visible_hosts(page) == ["SMS-A01", "sms-a02"]
    page.locator("#q").fill("PR3")
    expect(page.locator("#shown")).to_have_text("1 of 9 hosts")
    assert _visible_hosts(page) == ["sms-a02"]
    page.get_by_role("button", name="All 9", exact=True).click()
    page.locator("#q").fill("no answer within")  # an error message, inside the collapsed details
    expect(page.locator("#shown")).to_have_text("1 of 9 hosts")
    assert _visible_hosts(page) == ["sms-c04"]
    page.get_by_role("button", name="To act on 5", exact=True).click()
    page.locator("#q").fill("")
    expect(page.locator("#shown")).to_have_text("5 of 9 hosts")
    page.locator("#q").fill("nothing-like-this")
    expect(page.locator("#empty")).to_be_visible()


def test_a_host_expands_to_its_evidence(open_report):
    """Clicking a host shows its failing log line with file, line number and time, and the KB link."""
    page = open_report(mixed_run()).page
    host = page.locator('details.host[data-host="SMS-A01"]')
    failure = host.locator("tr.ev-failure")
    expect(failure).to_be_hidden()
    host.locator("summary").click()
    expect(failure).to_be_visible()
    expect(failure).to_contain_text("1207")
    expect(failure).to_contain_text("2026-11-20 02:13:12.004Z")
    expect(failure).to_contain_text("wsyncmgr.log")
    expect(failure).to_contain_text("Error 0x80004005")
    expect(host.get_by_role("link", name="KB 951376")).to_have_attribute("href", "https://support.microsoft.com/kb/951376")
    expect(host).to_contain_text("e3e3e3e3")  # the log's SHA-256


def test_markup_in_log_lines_is_shown_as_text_and_never_runs(open_report):
    """A log line with <script> or <img onerror> appears literally and executes nothing."""
    opened = open_report(mixed_run())
    page = opened.page
    page.locator("#expand").click()
    expect(page.locator('details[data-host="sms-a02"] tr.ev-failure .logtext')).to_have_text(
        "Error 0x80004005 <script>window.__pwned = 1; alert(1)</script>")
    expect(page.locator('details[data-host="sms-r01"] .logtext')).to_contain_text('<img src=x onerror="window.__pwned')
    assert page.locator("#rows img, #rows script").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert opened.dialogs == []


def test_page_makes_no_network_request_and_has_a_csp(open_report):
    """Opening and using the report requests nothing but the file itself, and the CSP is in place."""
    opened = open_report(mixed_run())
    page = opened.page
    page.locator('#head button[data-sort="build"]').click()
    page.locator("#expand").click()
    page.locator("#q").fill("sms")
    expect(page.locator("#shown")).to_have_text("9 of 9 hosts")
    assert opened.requests == [opened.url]
    csp = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert csp.startswith("default-src 'none'") and "'sha256-" in csp


def test_print_shows_the_summary_page_then_only_hosts_to_act_on(open_report):
    """Printed, the summary is a page of its own and only the hosts to act on follow, each with what to do;
    "print their details" expands them, "print every shown host" adds the others. No buttons are printed."""
    page = open_report(waived_run()).page
    page.emulate_media(media="print")
    expect(page.locator("#controls")).to_be_hidden()
    expect(page.locator('details[data-host="sms-c04"] .c-remedy')).to_be_visible()
    expect(page.locator('details[data-host="sms-c04"] .error')).to_be_hidden()
    expect(page.locator('details[data-host="sms-b03"]')).to_be_hidden()  # NOT_AFFECTED
    expect(page.locator('details[data-host="sms-w10"]')).to_be_hidden()  # waived
    expect(page.locator("#print-note")).to_be_visible()
    assert page.locator("#summary").evaluate("e => getComputedStyle(e).breakAfter") == "page"
    expect(page.locator("#appendix")).to_be_hidden()
    small = page.pdf(format="A4")
    assert small[:5] == b"%PDF-"
    page.emulate_media(media="screen")
    page.locator("#print-details").check()
    page.emulate_media(media="print")
    expect(page.locator('details[data-host="sms-c04"] .error')).to_be_visible()
    detailed = page.pdf(format="A4")
    page.emulate_media(media="screen")
    page.locator("#print-all").check()
    page.emulate_media(media="print")
    expect(page.locator('details[data-host="sms-b03"]')).to_be_visible()
    expect(page.locator("#print-note")).to_be_hidden()
    pages = [_pages(pdf) for pdf in (small, detailed, page.pdf(format="A4"))]
    assert pages[0] == 2 and pages[0] < pages[1] < pages[2], pages  # the summary page, then one of hosts


def _pages(pdf: bytes) -> int:
    import re

    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def test_summary_comes_first_with_the_four_headline_figures(open_report):
    """The title names advisory, scope and date; the summary opens the page with % compliant, needing action,
    waived and could not check, which add up to every host."""
    page = open_report(waived_run()).page
    expect(page.locator("h1")).to_have_text("ConfigMgr 2007 audit for advisory 954474 - 11 site servers - 2026-11-25")
    assert page.title() == page.locator("h1").inner_text()
    assert page.locator("main > section").evaluate_all("els => els.map(e => e.id)") == ["summary", "hosts"]
    figures = {key: page.locator(f'[data-figure-count="{key}"]').inner_text()
               for key in ("ok", "action", "waived", "unchecked")}
    assert figures == {"ok": "4", "action": "4", "waived": "1", "unchecked": "2"}
    expect(page.locator('[data-figure="ok"] .pct')).to_have_text("36%")
    expect(page.locator("#expired-waivers")).to_contain_text("sms-x09")
    expect(page.locator("#scope")).to_contain_text("2026-11-25 01:00:00 UTC")  # to the second, no milliseconds


def test_waived_host_has_its_badge_chip_and_no_action(open_report):
    """A waived host shows WAIVED with owner and date, its own chip finds it, and "To act on" leaves it out."""
    page = open_report(waived_run()).page
    row = page.locator('details.host[data-host="sms-w10"]')
    expect(row.locator(".badge.waived")).to_be_visible()
    expect(row.locator(".c-remedy")).to_contain_text("until 2027-01-31 by j.doe")
    page.get_by_role("button", name="Waived 1", exact=True).click()
    assert _visible_hosts(page) == ["sms-w10"]
    page.get_by_role("button", name="To act on 6", exact=True).click()
    assert "sms-w10" not in _visible_hosts(page) and "sms-x09" in _visible_hosts(page)
    expect(page.locator('details.host[data-host="sms-x09"] .badge.waiver-expired')).to_be_visible()
    page.get_by_role("button", name="Could not check 2", exact=True).click()
    assert _visible_hosts(page) == ["sms-c04", "sms-d05"]


def test_hosts_to_act_on_show_what_to_do_without_expanding(open_report):
    """Each host to act on shows its own remediation under its row: the KB for AFFECTED, the log for AT_RISK,
    the category's advice for an ERROR; the expanded ERROR host repeats it as its hint."""
    page = open_report(waived_run()).page
    remedy = {name: page.locator(f'details.host[data-host="{name}"] .c-remedy') for name in
              ("SMS-A01", "sms-r01", "sms-c04", "sms-d05")}
    for locator in remedy.values():
        expect(locator).to_be_visible()
    expect(remedy["SMS-A01"]).to_contain_text("KB 951376")
    expect(remedy["sms-r01"]).to_contain_text("Wsyncmgr.log")
    expect(remedy["sms-c04"]).to_contain_text("--rescan-failed")
    assert page.locator('details.host[data-host="sms-b03"] .c-remedy').count() == 0
    host = page.locator('details.host[data-host="sms-c04"]')
    host.locator("summary").click()
    expect(host.locator(".remedy h3")).to_have_text("What to do (hint)")
    expect(remedy["sms-c04"]).to_be_hidden()  # expanded, the hint shows once: in the body, not also in the row


def test_run_options_are_in_a_collapsed_appendix(open_report):
    """The run's options are out of the way until the appendix is opened, and show as command-line options."""
    page = open_report(mixed_run()).page
    options = page.locator("#options")
    expect(options).to_be_hidden()
    page.locator("#appendix > summary").click()
    expect(options).to_be_visible()
    expect(options).to_contain_text("--concurrency 32")


def test_report_works_without_javascript(open_report):
    """With scripts disabled the hosts are still listed and expand on click."""
    page = open_report(mixed_run(), javascript=False).page
    expect(page.locator("#controls")).to_be_hidden()
    host = page.locator('details.host[data-host="sms-c04"]')
    host.locator("summary").click()
    expect(host.locator(".error")).to_contain_text("no answer within 60 s")


def test_five_thousand_hosts_stay_usable(open_report):
    """At 5,000 hosts the page loads, filters and sorts correctly."""
    results = bulk_run(5000)
    page = open_report(results).page
    expect(page.locator("#count-total")).to_have_text("5000")
    affected = sum(1 for h in results.hosts if h.verdict is Verdict.AFFECTED)
    page.locator('.chip[data-filter="AFFECTED"]').click()
    expect(page.locator("#shown")).to_have_text(f"{affected} of 5000 hosts")
    page.locator("#q").fill("sms04")
    page.locator("#q").press("Enter")
    expected = sum(1 for h in results.hosts if h.verdict is Verdict.AFFECTED and h.host.startswith("sms04"))
    expect(page.locator("#shown")).to_have_text(f"{expected} of 5000 hosts")
    page.locator('#head button[data-sort="host"]').click()
    page.locator('#head button[data-sort="host"]').click()
    assert _visible_hosts(page)[0] == max(h.host for h in results.hosts
                                          if h.verdict is Verdict.AFFECTED and h.host.startswith("sms04"))


def test_screenshot_of_a_mixed_run(open_report, tmp_path):
    """A screenshot of a realistic report is saved with the run for people to look at."""
    page = open_report(mixed_run()).page
    page.locator('details.host[data-host="SMS-A01"] summary').click()
    shot = tmp_path / "run0" / "report-screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    copy_to = os.environ.get("CMAUDIT_SCREENSHOT_DIR")  # e.g. a CI artifact folder
    if copy_to:
        shutil.copyfile(shot, os.path.join(copy_to, "report-screenshot.png"))
