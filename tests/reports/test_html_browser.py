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
from tests.support.samples import bulk_run, mixed_run

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
    page.get_by_role("button", name="Needs action 5", exact=True).click()
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


def test_print_shows_every_shown_host_expanded_and_hides_controls(open_report):
    """Printed to PDF, the report shows each host's details and no buttons."""
    page = open_report(mixed_run()).page
    page.emulate_media(media="print")
    expect(page.locator("#controls")).to_be_hidden()
    expect(page.locator('details[data-host="sms-c04"] .error')).to_be_visible()
    assert page.pdf()[:5] == b"%PDF-"


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
