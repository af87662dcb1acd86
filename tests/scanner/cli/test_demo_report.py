"""The demo end to end: `cmaudit demo` scans a simulated fleet, and its report.html works in a browser."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from scanner.model.records import Verdict

pytestmark = [pytest.mark.browser, pytest.mark.network]
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def test_demo_report_matches_its_results_and_is_saved_as_a_screenshot(demo_run, browser) -> None:
    """The demo run's report shows "Since last run" and the counts of its results.json; a screenshot is kept."""
    run = demo_run.root
    assert demo_run.status == 0, demo_run.stderr
    assert f"html: {run / 'report.html'}" in demo_run.stdout
    doc = json.loads((run / "results.json").read_text(encoding="utf-8"))
    counts = Counter(h["verdict"] for h in doc["hosts"])
    assert len(doc["hosts"]) >= 20 and counts[Verdict.AFFECTED.value] > 0

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        requests: list[str] = []
        context.on("request", lambda req: requests.append(req.url))
        page.goto((run / "report.html").as_uri())
        expect(page.locator("#count-total")).to_have_text(str(len(doc["hosts"])))
        for verdict in Verdict:
            expect(page.locator(f'[data-count="{verdict.value}"]')).to_have_text(str(counts.get(verdict.value, 0)))
        expect(page.get_by_text("Since last run").first).to_be_visible()
        page.locator("details.host summary").first.click()  # the first host needing action, expanded
        expect(page.locator("details.host[open] .evidence, details.host[open] table").first).to_be_visible()
        shot = run / "report-screenshot.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert requests == [(run / "report.html").as_uri()]  # nothing fetched but the file itself
