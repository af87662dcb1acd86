"""report.html in a real headless Chromium: counts, sorting, filtering, expanding, and no script injection."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field, replace

import pytest

from reports import write_reports
from reports.overview import VERDICT_LABELS
from scanner.model.records import ErrorCategory, HostFailure, RunResults, Verdict
from tests.support.printing import as_printed, misaligned_cells, pdf_pages, split_values
from tests.support.samples import affected, bulk_run, meta, mixed_run, simple, waived_run

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
    """The headline figures and every verdict's filter count agree with results.json; a verdict no host has
    gets no button."""
    opened = open_report(mixed_run())
    doc = json.loads((tmp_path / "run0" / "results.json").read_text(encoding="utf-8"))
    counts = Counter(h["verdict"] for h in doc["hosts"])
    page = opened.page
    expect(page.locator("#count-total")).to_have_text(str(len(doc["hosts"])))
    for verdict in Verdict:
        count = page.locator(f'[data-count="{verdict.value}"]')
        if counts.get(verdict.value):
            expect(count).to_have_text(str(counts[verdict.value]))
        else:
            assert count.count() == 0
    figures = {key: page.locator(f'[data-figure-count="{key}"]').inner_text()
               for key in ("ok", "action", "unchecked", "waived")}
    assert figures == {"ok": "4", "action": "3", "unchecked": "2", "waived": "0"}
    percents = [int(t.rstrip("%")) for t in page.locator("#headline .pct").all_text_contents()]
    assert sum(percents) == 100, percents  # 4, 3 and 2 of 9 are 44.4, 33.3 and 22.2: rounded, they would add to 99
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
    page.locator("#q").fill("")
    expect(page.locator("#shown")).to_have_text("9 of 9 hosts")  # else "1 of 9" below could be PR3's, not yet redrawn
    page.locator("#q").fill("no answer within")  # an error message, inside the collapsed details
    expect(page.locator("#shown")).to_have_text("1 of 9 hosts")
    assert _visible_hosts(page) == ["sms-c04"]
    page.get_by_role("button", name="Could not check 2", exact=True).click()
    page.locator("#q").fill("")
    expect(page.locator("#shown")).to_have_text("2 of 9 hosts")
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


def test_print_shows_the_findings_and_leaves_the_host_table_out(open_report):
    """Printed, the summary, the findings with their advice and hosts, and the tables by site and build come out,
    without buttons or the host table; "print their details" adds the hosts to act on, expanded, and "print every
    shown host" all the others."""
    page = open_report(waived_run()).page
    page.emulate_media(media="print")
    expect(page.locator("#controls")).to_be_hidden()
    expect(page.locator("#hosts")).to_be_hidden()
    expect(page.locator("#finding-ERROR-timeout .todo")).to_be_visible()
    expect(page.locator('#finding-ERROR-timeout tr[data-host="sms-c04"]')).to_be_visible()
    expect(page.locator("#by-site")).to_be_visible()
    expect(page.locator("#print-note")).to_be_visible()
    expect(page.locator("#appendix")).to_be_hidden()
    small = page.pdf(format="A4")
    assert small[:5] == b"%PDF-"
    page.emulate_media(media="screen")
    page.locator("#print-details").check()
    page.emulate_media(media="print")
    expect(page.locator('details[data-host="sms-c04"] .error')).to_be_visible()
    expect(page.locator('details[data-host="sms-b03"]')).to_be_hidden()  # NOT_AFFECTED
    expect(page.locator('details[data-host="sms-w10"]')).to_be_hidden()  # waived
    detailed = page.pdf(format="A4")
    page.emulate_media(media="screen")
    page.locator("#print-all").check()
    page.emulate_media(media="print")
    expect(page.locator('details[data-host="sms-b03"]')).to_be_visible()
    expect(page.locator("#print-note")).to_be_hidden()
    pages = [_pages(pdf) for pdf in (small, detailed, page.pdf(format="A4"))]
    assert pages[0] <= 3 and pages[0] < pages[1] < pages[2], pages


def test_printed_page_has_no_expand_arrows_or_split_addresses(open_report):
    """On A4 paper with every host printed there are no expand or sort arrows, no value (address, build, date, log
    line) is broken across lines, no word is split, and table headers keep their own cells."""
    page = open_report(waived_run()).page
    page.locator("#print-all").check()
    as_printed(page)
    arrows = page.evaluate(r"""() => [...document.querySelectorAll('summary .c-host, #head button')]
        .filter(e => e.offsetParent !== null)
        .map(e => getComputedStyle(e, '::before').content + getComputedStyle(e, '::after').content)
        .filter(c => /[\u2195\u25B2\u25BC\u25B8\u25BE]/.test(c))""")
    assert arrows == []
    assert split_values(page) == []
    assert misaligned_cells(page) == []
    heads = page.locator("#head button").evaluate_all("bs => bs.map(b => b.getBoundingClientRect())")
    assert all(a["right"] <= b["left"] + 0.5 for a, b in zip(heads, heads[1:], strict=False) if b["top"] == a["top"])


def test_printed_host_table_keeps_its_columns_on_a4(open_report):
    """"Print every shown host" prints a table whose cells stay under their headers (the narrow-screen cards are for
    screens only), and every host's address and build come out whole in the PDF's text."""
    results = waived_run()
    page = open_report(results).page
    page.locator("#print-all").check()
    as_printed(page)
    assert page.locator('[data-label]').evaluate_all(
        "els => els.filter(e => getComputedStyle(e, '::before').content.includes(':'))") == []
    assert misaligned_cells(page) == []
    text = "\n".join(pdf_pages(page.pdf(format="A4")))
    for host in results.hosts:
        if host.address[0].isdigit():  # a name may wrap between its parts; an IPv4 address never does
            assert re.search(rf"(?<![\w.]){re.escape(host.address)}:{host.port}\b", text), host.address
        if host.facts.build:
            assert host.facts.build in text, host.host


def test_long_host_names_stay_told_apart(open_report):
    """Site servers named alike (sccm-primary-site-server-01.emea.corp.example, -02, ...) each show the part that
    tells them apart at 1400 px, 800 px and on paper: the short name is never cut, only the domain may be."""
    hosts = tuple(replace(simple(f"sccm-primary-site-server-{i:02d}.emea.corp.example", verdict, "x"),
                          address=f"10.20.30.{i}")
                  for i, verdict in enumerate((Verdict.AFFECTED,) * 3 + (Verdict.NOT_AFFECTED,) * 3, start=1))
    page = open_report(RunResults(meta=meta(), hosts=hosts), viewport=(1400, 900)).page
    clipped = r"""() => [...document.querySelectorAll('.c-host .short')].filter(e => e.getClientRects().length)
        .filter(e => { const cell = e.closest('.c-host').getBoundingClientRect();
                       return [...e.getClientRects()].some(r => r.right > cell.right + 1 || r.left < cell.left - 1); })
        .map(e => e.textContent)"""
    for layout in ("1400", "800", "print"):
        if layout == "800":
            page.set_viewport_size({"width": 800, "height": 900})
        if layout == "print":
            page.locator("#print-all").check()
            as_printed(page)
        assert page.evaluate(clipped) == [], layout
        shown = page.locator("details.host .c-host .short").all_inner_texts()
        assert sorted(t.replace("\n", "") for t in shown) == [f"sccm-primary-site-server-{i:02d}" for i in range(1, 7)]


def test_values_are_never_split_at_800_pixels(open_report):
    """At 800 px, with every host expanded, no date, time, address, build or log file name is broken across two
    lines ("2008-" / "06-24", "wsyncm" / "gr.log")."""
    page = open_report(waived_run(), viewport=(800, 900)).page
    page.locator("#expand").click()
    assert split_values(page) == []


@pytest.mark.parametrize("affected_hosts", [6, 7, 9, 15, 18])
def test_a_finding_heading_is_never_the_last_line_of_a_page(open_report, affected_hosts):
    """Printed, each finding's heading stands on the same page as its first host, wherever the pages fall (more or
    fewer affected hosts move the page breaks through the blocks of every ERROR category)."""
    hosts = [affected(f"sms-a{i:02d}") for i in range(affected_hosts)]
    for n, category in enumerate(ErrorCategory):
        hosts += [simple(f"sms-{category.value}-{i}", Verdict.ERROR, "", error=HostFailure(category, f"failed {i}"))
                  for i in range(1 + n % 4)]
    page = open_report(RunResults(meta=meta(), hosts=tuple(hosts))).page
    blocks = page.locator("#findings .finding").evaluate_all(
        "fs => fs.map(f => [f.querySelector('h3').innerText, f.querySelector('tr[data-host]').dataset.host])")
    pages = [re.sub(r"\s+", " ", text) for text in pdf_pages(page.pdf(format="A4"))]
    for heading, first_host in blocks:
        heading = re.sub(r"\s+", " ", heading).strip()
        on = [i for i, text in enumerate(pages) if heading in text]
        assert on, heading
        assert first_host in pages[on[0]], (heading, first_host)


def _pages(pdf: bytes) -> int:
    import re

    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def test_summary_comes_first_with_the_four_headline_figures(open_report):
    """The title names advisory, scope and date; the summary opens the page with % compliant, needing action,
    waived and could not check, which add up to every host."""
    page = open_report(waived_run()).page
    expect(page.locator("h1")).to_have_text("ConfigMgr 2007 audit for advisory 954474 - 11 site servers - 2026-11-25")
    assert page.title() == page.locator("h1").inner_text()
    assert page.locator("main > section").evaluate_all("els => els.map(e => e.id)") == [
        "summary", "findings", "breakdown", "hosts"]
    figures = {key: page.locator(f'[data-figure-count="{key}"]').inner_text()
               for key in ("ok", "action", "waived", "unchecked")}
    assert figures == {"ok": "4", "action": "4", "waived": "1", "unchecked": "2"}
    expect(page.locator('[data-figure="ok"] .pct')).to_have_text("36%")  # 36.4, 36.4, 18.2, 9.1: 36+36+19+9
    expect(page.locator("#expired-waivers")).to_contain_text("sms-x09")
    expect(page.locator("#scope")).to_contain_text("2026-11-25 01:00:00 UTC")  # to the second, no milliseconds


def test_waived_host_has_its_badge_chip_and_no_action(open_report):
    """A waived host shows WAIVED, is listed under the accepted risks with owner and date (not under a finding),
    comes after every host needing action, and its own chip finds it."""
    page = open_report(waived_run()).page
    row = page.locator('details.host[data-host="sms-w10"]')
    expect(row.locator(".badge.waived")).to_be_visible()
    expect(page.locator('#finding-waived tr[data-host="sms-w10"]')).to_contain_text("2027-01-31")
    expect(page.locator('#finding-waived tr[data-host="sms-w10"]')).to_contain_text("j.doe")
    assert page.locator('#finding-AFFECTED tr[data-host="sms-w10"]').count() == 0
    expect(page.locator('#finding-AFFECTED tr[data-host="sms-x09"]')).to_be_visible()  # its waiver expired
    order = page.locator("details.host").evaluate_all("rows => rows.map(r => [r.dataset.host, r.dataset.action])")
    assert order.index(["sms-w10", "0"]) > max(i for i, (_host, action) in enumerate(order) if action == "1")
    page.get_by_role("button", name="Waived 1", exact=True).click()
    assert _visible_hosts(page) == ["sms-w10"]
    page.get_by_role("button", name="Needing action 4", exact=True).click()
    assert "sms-w10" not in _visible_hosts(page) and "sms-x09" in _visible_hosts(page)
    expect(page.locator('details.host[data-host="sms-x09"] .badge.waiver-expired')).to_be_visible()
    page.get_by_role("button", name="Could not check 2", exact=True).click()
    assert _visible_hosts(page) == ["sms-c04", "sms-d05"]


def test_each_finding_says_what_to_do_once_with_its_hosts(open_report):
    """The AFFECTED advice appears once on the page, in its finding, with every affected host under it; an
    ERROR category has its own block with its advice; the expanded host repeats it as its hint."""
    page = open_report(waived_run()).page
    visible = page.locator("body").inner_text()
    advice = "Install the update from KB 951376 on the site server, then check Wsyncmgr.log for 6710."
    assert visible.count(advice) == 1
    block = page.locator("#finding-AFFECTED")
    expect(block.locator(".todo")).to_contain_text(advice)
    assert block.locator("tr[data-host]").evaluate_all("rs => rs.map(r => r.dataset.host)") == [
        "SMS-A01", "sms-a02", "sms-x09"]
    expect(page.locator("#finding-AT_RISK .todo")).to_contain_text("Wsyncmgr.log")
    timeout = page.locator("#finding-ERROR-timeout")
    expect(timeout.locator("h3")).to_contain_text("No answer in time")
    expect(timeout.locator(".todo")).to_contain_text("--rescan-failed")
    assert page.locator('#findings tr[data-host="sms-b03"]').count() == 0  # NOT_AFFECTED: nothing to do
    host = page.locator('details.host[data-host="sms-c04"]')
    host.locator("summary").click()
    expect(host.locator(".remedy h3")).to_have_text("What to do (hint)")


def test_hints_name_the_results_file_beside_the_report(open_report, tmp_path):
    """A hint that says to scan again names the real results.json of this run, not a placeholder."""
    page = open_report(mixed_run()).page
    expect(page.locator("#finding-ERROR-timeout .todo")).to_contain_text(
        f"--rescan-failed {tmp_path / 'run0' / 'results.json'}")
    assert "RESULTS.json" not in page.locator("body").inner_text()


def test_by_site_and_by_build_list_every_site_and_build(open_report):
    """The tables by site and by build have a row for every site code and build of the run, the most to act
    on first, with hosts, needing action and could not check."""
    results = waived_run()
    page = open_report(results).page
    sites = page.locator("#by-site tbody tr").evaluate_all("rs => rs.map(r => r.dataset.key)")
    expected = {h.facts.site_code or h.site_code for h in results.hosts}
    assert set(sites) == {s or "unknown" for s in expected} and len(sites) == len(expected)
    pr4 = page.locator('#by-site tr[data-key="PR4"] td').all_text_contents()
    assert pr4 == ["2", "1", "0", "1", "0%"]  # sms-x09 needing action, sms-w10 waived
    action = page.locator("#by-site tbody tr").evaluate_all("rs => rs.map(r => Number(r.cells[2].innerText))")
    assert action == sorted(action, reverse=True) and sites[-1] == "PR2"  # PR2: 4 hosts, none to act on
    builds = page.locator("#by-build tbody tr").evaluate_all("rs => rs.map(r => r.dataset.key)")
    assert builds[0] == "4.00.6221.1000" and "unknown" in builds


def test_no_horizontal_scrolling_at_800_pixels(open_report):
    """At 800 px wide the page needs no horizontal scrolling, also with a host expanded."""
    page = open_report(waived_run(), viewport=(800, 900)).page
    page.locator("#expand").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 800


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
