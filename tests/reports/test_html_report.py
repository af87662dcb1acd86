"""report.html is one self-contained, escaped page with a strict CSP (browser behaviour: test_html_browser.py)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from pathlib import Path

import pytest
from jinja2 import ChoiceLoader, DictLoader

import reports
from reports import write_reports
from reports.html_report import Section, render_html
from scanner.model.records import RunResults
from tests.support.samples import XSS_IMG, XSS_SCRIPT, meta, mixed_run

TEMPLATES = Path(reports.__file__).parent / "templates"


def _csp(html: str) -> str:
    m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert m, "CSP meta tag missing"
    return m.group(1).replace("&#39;", "'")


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_csp_allows_exactly_our_inline_style_and_script():
    """The CSP forbids everything but the page's own inline CSS and JS, pinned by hash."""
    html = render_html(mixed_run())
    csp = _csp(html)
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(styles) == len(scripts) == 1
    assert f"style-src {_sha(styles[0])}" in csp
    assert f"script-src {_sha(scripts[0])}" in csp
    assert " style=" not in html and " on" + "click=" not in html  # attributes the CSP would block


def test_server_text_is_escaped():
    """Markup in a log line appears escaped in the page source, never as a tag."""
    html = render_html(mixed_run())
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned = 1; alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html
    assert XSS_SCRIPT and XSS_IMG  # the samples really carry the payloads


def test_template_never_marks_values_safe():
    """No template bypasses autoescaping."""
    for path in TEMPLATES.glob("*.j2"):
        text = path.read_text(encoding="utf-8")
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, path.name


def test_page_references_nothing_external():
    """The page loads nothing: no src/href to another file or site except the KB link to click."""
    html = render_html(mixed_run())
    assert not re.search(r"\ssrc=\"", html.replace('src=x', ''))
    hrefs = set(re.findall(r'href="([^"]*)"', html))
    assert hrefs == {"https://support.microsoft.com/kb/951376"}
    assert "<link" not in html and "@import" not in html and "url(" not in html


@pytest.mark.parametrize("url", [
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("data:text/html,x", id="data"),
    pytest.param("https://x\" onmouseover=\"alert(1)", id="attribute-break"),
])
def test_unsafe_kb_url_is_not_linked(url):
    """A results file cannot turn the KB link into script."""
    results = dataclasses.replace(mixed_run(), meta=meta(kb_url=url, advisory_kb="KB-x"))
    html = render_html(results)
    assert "href=" not in html and "javascript:" not in html


def test_banners_only_when_the_run_says_so():
    """Insecure and interrupted runs carry a loud banner; a normal run has none."""
    plain = render_html(mixed_run())
    assert 'id="banner-insecure"' not in plain and 'id="banner-interrupted"' not in plain
    loud = render_html(RunResults(meta=meta(insecure=True, interrupted=True), hosts=mixed_run().hosts))
    assert 'id="banner-insecure"' in loud and 'id="banner-interrupted"' in loud


def test_only_options_a_reader_can_act_on_are_shown():
    """The appendix shows user options as typed on the command line; internal settings and secrets never."""
    options = {"password": "hunter2", "concurrency": 8, "grace": 3.0, "backoff_base": 0.5, "interactive": False,
               "password_env": "CMAUDIT_PASSWORD", "insecure": True, "timeout": 60, "username": None}
    html = render_html(RunResults(meta=meta(options=options), hosts=()))
    shown = html.split('id="options">', 1)[1].split("</dd>", 1)[0]
    assert "--concurrency 8" in shown and "--timeout 60" in shown and "--insecure<" in shown
    for hidden in ("hunter2", "password", "grace", "backoff", "interactive", "CMAUDIT_PASSWORD", "username"):
        assert hidden not in shown
    assert "hunter2" not in html and "CMAUDIT_PASSWORD" not in html


def test_extra_sections_render_after_the_summary(monkeypatch, tmp_path):
    """Later features (since last run, trends) add an escaped section after the summary, before the hosts."""
    from reports import html_report

    env = html_report._environment()
    extra = DictLoader({"_since.html.j2": '<section id="since">{{ ctx.title }}</section>'})
    assert env.loader is not None
    monkeypatch.setattr(env, "loader", ChoiceLoader([env.loader, extra]))
    html = render_html(mixed_run(), sections=[Section("_since.html.j2", {"title": "<b>Since</b>"})])
    assert '<section id="since">&lt;b&gt;Since&lt;/b&gt;</section>' in html
    assert html.index('id="summary"') < html.index('id="since"') < html.index('id="hosts"')
    paths = write_reports(mixed_run(), tmp_path, html_sections=[Section("_since.html.j2", {"title": "x"})])
    assert '<section id="since">x</section>' in paths["html"].read_text(encoding="utf-8")


def test_empty_run_renders():
    """A run with no hosts still gives a readable page."""
    html = render_html(RunResults(meta=meta(), hosts=()))
    assert 'id="count-total">0<' in html


ALL_FILES = ["report.csv", "report.html", "report.junit.xml", "results.json", "results.jsonl"]


def test_write_reports_writes_every_format(tmp_path):
    """write_reports puts results.json(l), report.csv, report.html and report.junit.xml in the folder."""
    out = tmp_path / "run" / "nested"
    paths = write_reports(mixed_run(), out)
    assert {k: p.name for k, p in paths.items()} == {"json": "results.json", "csv": "report.csv",
                                                     "html": "report.html", "jsonl": "results.jsonl",
                                                     "junit": "report.junit.xml"}
    assert sorted(p.name for p in out.iterdir()) == ALL_FILES


def test_one_unwritable_report_does_not_stop_the_others(tmp_path, capsys):
    """If report.csv cannot be replaced (e.g. held open), results.json and report.html are still written."""
    from reports import ReportWriteError
    from scanner.cli.main import main

    (tmp_path / "report.csv").mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(ReportWriteError) as caught:
        write_reports(mixed_run(), tmp_path)
    assert set(caught.value.written) == {"json", "jsonl", "html", "junit"} and set(caught.value.failed) == {"csv"}
    assert "report.csv" in str(caught.value)
    assert (tmp_path / "results.json").stat().st_size > 0 and (tmp_path / "report.html").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ALL_FILES
    assert main(["report", str(tmp_path / "results.json"), "-o", str(tmp_path)]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "report.csv" in err


def test_long_evidence_lists_are_capped_in_the_page():
    """A host with hundreds of evidence lines shows the first 50 and says how many more results.json has."""
    from scanner.model.records import Evidence
    from tests.support.samples import affected

    many = tuple(Evidence("wsyncmgr.log", i, None, f"line {i}", "other") for i in range(1, 61))
    host = dataclasses.replace(affected("sms01"), evidence=many)
    html = render_html(RunResults(meta=meta(), hosts=(host,)))
    assert html.count('<tr class="ev ev-other">') == 50
    assert "10 more evidence lines in results.json." in html


def test_error_hosts_show_what_to_do_and_the_code_page():
    """An ERROR host's panel shows its hint (escaped) under the error; a host scanned in code page 437 says so,
    and Setup\\Type is shown raw."""
    from scanner.model.records import ErrorCategory, HostFacts, HostFailure, RunResults, Verdict
    from tests.support.samples import meta, simple

    denied = simple("sms01", Verdict.ERROR, "", error=HostFailure(ErrorCategory.ACCESS, "denied",
                                                                  "Set <b>LocalAccountTokenFilterPolicy</b>=1."))
    old = dataclasses.replace(simple("sms02", Verdict.NOT_AFFECTED, "healthy"),
                              facts=HostFacts(build="4.00.6221.1000", codepage=437, site_type="1"))
    html = render_html(RunResults(meta=meta(), hosts=(denied, old)))
    assert "What to do:</b> Set &lt;b&gt;LocalAccountTokenFilterPolicy&lt;/b&gt;=1." in html
    assert "code page 437 (the host refused UTF-8" in html and "Setup\\Type 1 (raw" in html


def test_host_table_badges_use_the_words_of_the_findings():
    """The host table says "Not affected" and "At risk", as the findings do, never NOT_AFFECTED or AT_RISK."""
    html = render_html(mixed_run())
    rows = html.split('id="rows"')[1].split('id="empty"')[0]
    assert '<b class="badge v-NOT_AFFECTED">Not affected</b>' in rows
    assert '<b class="badge v-AT_RISK">At risk</b>' in rows
    assert ">NOT_AFFECTED<" not in rows and ">AT_RISK<" not in rows and ">WAIVED<" not in html


def test_ipv6_addresses_are_written_with_brackets():
    """An IPv6 address shows as [2001:db8::7301]:5986 in the tables and https://[2001:db8::7301]:5986 where it was
    contacted, so the port cannot be read as part of the address."""
    from scanner.model.records import ErrorCategory, HostFailure, Verdict
    from tests.support.samples import simple

    host = dataclasses.replace(simple("sms-v6", Verdict.ERROR, "", error=HostFailure(ErrorCategory.TIMEOUT, "late"),
                                      port=5986), address="2001:db8::7301")
    html = render_html(RunResults(meta=meta(), hosts=(host,)))
    assert "https://[2001:db8::7301]:5986" in html
    assert html.count("2001:<wbr>db8:<wbr>:<wbr>7301]:<wbr>5986") + html.count("[2001:db8::7301]:5986") >= 3
    assert "2001:db8::7301:5986" not in html.replace("<wbr>", "")
