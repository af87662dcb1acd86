"""The demo end to end: `cmaudit demo` scans a simulated fleet, and its report.html works in a browser."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter

import pytest

from scanner.cli.main import main
from scanner.model.records import Verdict
from scanner.model.remediation import ERROR_REMEDIATION
from tests.support.printing import as_printed, misaligned_cells, pdf_pages, split_values

pytestmark = [pytest.mark.browser, pytest.mark.network]
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def test_demo_report_matches_its_results_and_is_saved_as_a_screenshot(demo_run, browser) -> None:
    """The demo's report opens with the summary and the findings (the AFFECTED advice once, its hosts under it),
    then "Since last run" and the tables by site (every site code) and by build; it shows a waived host and an
    ERROR host with its last known build and what to do; screenshots at 1400 and 800 px and the printed PDF (every host
    ticked) are kept with the run."""
    run = demo_run.root
    assert demo_run.status == 0, demo_run.stderr
    assert f"html: {run / 'report.html'}" in demo_run.stdout
    doc = json.loads((run / "results.json").read_text(encoding="utf-8"))
    counts = Counter(h["verdict"] for h in doc["hosts"])
    assert len(doc["hosts"]) >= 20 and counts[Verdict.AFFECTED.value] > 0
    waived = [h for h in doc["hosts"] if h["waiver"] and not h["waiver"]["expired"]]
    assert len(waived) == 1 and waived[0]["verdict"] == "AFFECTED" and waived[0]["needs_action"] is False
    # the host taken off the network between the scans (another fails every time, by a fault)
    offline = next(h for h in doc["hosts"] if h["error"] and h["error"]["category"] == "unreachable"
                   and offline_build(run, h["host"]))
    affected_advice = doc["meta"]["advisory"]["verdict_remediation"]["AFFECTED"]
    sites = {(h["facts"].get("site_code") or h.get("site_code") or "unknown") for h in doc["hosts"]}

    shots = {}
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        requests: list[str] = []
        context.on("request", lambda req: requests.append(req.url))
        page.goto((run / "report.html").as_uri())
        expect(page.locator("#count-total")).to_have_text(str(len(doc["hosts"])))
        for verdict in Verdict:
            if counts.get(verdict.value):
                expect(page.locator(f'[data-count="{verdict.value}"]')).to_have_text(str(counts[verdict.value]))
        ids = page.locator("main > section").evaluate_all("els => els.map(e => e.id)")
        assert ids == ["summary", "findings", "since-last-run", "breakdown", "hosts"]
        expect(page.locator("h1")).to_contain_text(f"advisory 954474 - {len(doc['hosts'])} site servers - ")
        assert page.locator("body").inner_text().count(affected_advice) == 1
        affected = [h["host"] for h in doc["hosts"] if h["verdict"] == "AFFECTED" and h["needs_action"]]
        assert sorted(page.locator("#finding-AFFECTED tr[data-host]").evaluate_all(
            "rs => rs.map(r => r.dataset.host)")) == sorted(affected)
        assert set(page.locator("#by-site tbody tr").evaluate_all("rs => rs.map(r => r.dataset.key)")) == sites
        expect(page.locator('[data-figure-count="waived"]')).to_have_text("1")
        expect(page.locator("#expired-waivers")).to_be_visible()
        expect(page.locator('#change-tiles [data-change="newly-unreachable"]')).to_contain_text("newly unreachable")
        expect(page.locator('ul[data-change="waived"] .since-host')).to_have_text([waived[0]["host"]])  # as the tables
        waived_row = page.locator(f'details.host[data-host="{waived[0]["host"]}"]')
        expect(waived_row.locator(".badge.waived")).to_be_visible()
        error_row = page.locator(f'details.host[data-host="{offline["host"]}"]')
        expect(error_row.locator(".c-build.last-known")).to_have_text(str(offline_build(run, offline["host"])))
        expect(page.locator("#last-known-note")).to_be_visible()  # the "*" is explained on the page
        shots[1400] = run / "report-screenshot.png"
        page.screenshot(path=str(shots[1400]), full_page=True)
        error_row.locator("summary").click()
        expect(error_row.locator(".remedy h3")).to_have_text("What to do (hint)")
        hint = offline["error"].get("hint") or ERROR_REMEDIATION[offline["error"]["category"]]
        expect(error_row.locator(".remedy p")).to_have_text(hint.replace("RESULTS.json", str(run / "results.json")))
    finally:
        context.close()
    assert requests == [(run / "report.html").as_uri()]  # nothing fetched but the file itself
    context = browser.new_context(viewport={"width": 800, "height": 1000})
    try:
        narrow = context.new_page()
        narrow.goto((run / "report.html").as_uri())
        assert narrow.evaluate("document.documentElement.scrollWidth") <= 800  # no horizontal scrolling
        assert split_values(narrow) == []  # no date, address or log line broken in two
        shots[800] = run / "report-screenshot-800.png"
        narrow.screenshot(path=str(shots[800]), full_page=True)
    finally:
        context.close()
    for shot in shots.values():
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # printed on A4 as opened: the summary, the findings, the changes and the tables, in at most 4 pages; with
    # "print every shown host" the host table too, its columns kept; no address, build or date broken in two
    context = browser.new_context()
    try:
        printed = context.new_page()
        printed.goto((run / "report.html").as_uri())
        as_printed(printed)
        assert split_values(printed) == []
        assert len(pdf_pages(printed.pdf(format="A4"))) <= 4
        printed.emulate_media(media="screen")
        printed.locator("#print-all").check()
        as_printed(printed)
        assert split_values(printed) == [] and misaligned_cells(printed) == []
        pdf = printed.pdf(format="A4")
        (run / "report-printed.pdf").write_bytes(pdf)
        pages = pdf_pages(pdf)
        assert len(pages) <= 6
        text = "\n".join(pages)
        for host in doc["hosts"]:
            assert f'{host["address"]}:{host["port"]}' in text, host["host"]
            assert (host["facts"].get("build") or "") in text, host["host"]
    finally:
        context.close()
    copy_to = os.environ.get("CMAUDIT_SCREENSHOT_DIR")  # e.g. a CI artifact folder
    if copy_to:
        shutil.copyfile(shots[1400], os.path.join(copy_to, "demo-report-screenshot.png"))
        shutil.copyfile(shots[800], os.path.join(copy_to, "demo-report-screenshot-800.png"))
        shutil.copyfile(run / "report-printed.pdf", os.path.join(copy_to, "demo-report-printed.pdf"))


def offline_build(run, host: str) -> str | None:
    """The build the baseline scan saw for a host the second scan could not reach."""
    baseline = json.loads((run / "baseline" / "results.json").read_text(encoding="utf-8"))
    return next(h["facts"]["build"] for h in baseline["hosts"] if h["host"] == host)


def test_demo_runs_are_in_the_history_and_the_next_step_is_printed(demo_run, capsys) -> None:
    """The demo's two runs are in a history of its own (never the one $CMAUDIT_HISTORY names for real audits),
    under their own audit, and the demo ends by saying how to list them and scan one's own inventory."""
    assert not os.path.lexists(demo_run.production_history.parent)
    assert main(["history", "--history", str(demo_run.history)]) == 0
    out = capsys.readouterr().out
    audit = f"demo-{demo_run.root.name}"
    assert [line.split()[0] for line in out.splitlines() if audit in line] == ["#2", "#1"]
    tail = demo_run.stdout.rsplit("cmaudit demo: fleet stopped", 1)[1]
    assert "Next steps:" in tail and "cmaudit scan hosts.csv --username" in tail
    assert "cmaudit doctor hosts.csv --username" in tail  # before the first scan: what would stop it, per host
    assert "export CMAUDIT_PASSWORD" in tail and f"cmaudit history --history {demo_run.history}" in tail
    for name in ("results.jsonl", "report.junit.xml", "report.csv", "waivers.toml"):
        assert (demo_run.root / name).is_file(), name

