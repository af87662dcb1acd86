"""`cmaudit check` on logs written from the rules for what an expert review of issue 21 found: no NOT_AFFECTED
on RTM/SP1 without the evidence for it, and reasons that say what each line says."""

from __future__ import annotations

import json
import re

import pytest

from scanner.cli.main import main
from tests.paths import DATA

CORPUS = DATA / "logs"
RTM, SP1, SP2 = "4.00.5931.0000", "4.00.6221.1000", "4.00.6487.2000"


def check(capsys, case: str, *extra: str) -> tuple[int, dict]:
    files = [str(p) for p in sorted((CORPUS / case).iterdir())]
    code = main(["check", "--json", *extra, *files])
    return code, json.loads(capsys.readouterr().out)


def said(doc: dict, *fragments: str) -> bool:
    """Every fragment appears in one of the reasons."""
    return all(any(f in r for r in doc["reasons"]) for f in fragments)


def roles(doc: dict) -> list[str]:
    return [e["role"] for e in doc["evidence"]]


@pytest.mark.parametrize(("build", "verdict"), [pytest.param(SP1, "AT_RISK", id="sp1"),
                                                pytest.param(None, "UNKNOWN", id="unknown-build"),
                                                pytest.param(SP2, "NOT_AFFECTED", id="sp2")])
def test_a_lone_6710_does_not_clear_a_host(capsys, build, verdict):
    """Rule 8: a 6710 (meaning not publicly confirmed) with no Security updates summary is no success."""
    _, doc = check(capsys, "status-only-success", *(["--full-version", build] if build else []))
    assert doc["verdict"] == verdict, doc["reasons"]
    assert said(doc, "STATMSG 6710 (no public source confirms its meaning)", "no Security updates summary")
    if verdict == "UNKNOWN":
        assert "shows only a STATMSG 6710" in doc["reasons"][0]
    if verdict == "NOT_AFFECTED":
        assert said(doc, "The build has the fix, and the build decides")


def test_one_wrong_gmtdate_is_said_and_moves_nothing(capsys):
    """Rule 5: a single STATMSG whose GMTDATE is two days off its file neither moves the success past 10 June
    nor goes unsaid; the attempt ran on 9 June, before the cutoff."""
    code, doc = check(capsys, "gmtdate-one-line-off", "--full-version", SP1)
    assert doc["verdict"] == "AT_RISK" and code == 1, doc["reasons"]
    assert said(doc, "succeeded at 2008-06-09", "before it")
    assert not said(doc, "2008-06-11 2") or said(doc, "says GMTDATE 2008-06-11")
    assert said(doc, "1 STATMSG line(s) carry a GMTDATE that disagrees with the file's other",
                "+48 h 00 min", "GMTDATE is not trusted there")
    assert "clock" in roles(doc)
    assert all(not (e["time"] or "").startswith("2008-06-11") for e in doc["evidence"])


def test_a_file_wide_gmtdate_correction_still_applies(capsys):
    """Rule 5: where every STATMSG line agrees, GMTDATE corrects the whole file (and no line is called odd)."""
    _, doc = check(capsys, "gmtdate-against-bias", "--full-version", SP1)
    assert said(doc, "GMTDATE is trusted, and that file's times are corrected by it")
    assert not said(doc, "disagrees with the file's other")


@pytest.mark.parametrize("case", [pytest.param("error-line-ru-utf16", id="russian-utf16"),
                                  pytest.param("error-line-ru-cp1251", id="russian-cp1251"),
                                  pytest.param("error-line-ja-utf16", id="japanese-utf16"),
                                  pytest.param("failed-hr-then-summary", id="failed-hr")])
def test_error_lines_in_any_script_are_failures(capsys, case):
    """Rule 3: an error line (Ошибка, エラー, "Failed ... hr=") then updates processed and no status is a failure."""
    code, doc = check(capsys, case, "--full-version", SP1)
    assert doc["verdict"] == "AT_RISK" and code == 1, doc["reasons"]
    assert said(doc, "failed for another reason", "0x80070005")
    assert "other-error" in roles(doc)


@pytest.mark.parametrize("case", [pytest.param("cmtrace-warning-typed-error", id="cmtrace-type-2-says-error"),
                                  pytest.param("warning-failed-then-summary", id="warning-says-failed")])
def test_a_warning_stays_a_warning(capsys, case):
    """Rule 3: a CMTrace type 2 entry whose text starts "Error 0x..." (its type wins), or a line that says Warning
    before "failed", is no error line."""
    _, doc = check(capsys, case, "--full-version", SP1)
    assert doc["verdict"] == "NOT_AFFECTED", doc["reasons"]
    assert "other-error" not in roles(doc)


def test_a_status_line_outside_any_attempt_decides_nothing(capsys):
    """Rule 4: a 6711 after the last attempt ended, with no start before it, is named and decides nothing."""
    _, doc = check(capsys, "stray-failed-status", "--full-version", SP1)
    assert doc["verdict"] == "NOT_AFFECTED", doc["reasons"]
    assert said(doc, "The STATMSG 6711 (no public source confirms its meaning)",
                "lies outside any legacy sync attempt", "it decides nothing")
    assert not said(doc, "failed for another reason")
    assert "outside-attempt" in roles(doc)


@pytest.mark.parametrize(("build", "verdict"), [pytest.param(SP1, "AT_RISK", id="sp1"),
                                                pytest.param(None, "AT_RISK", id="unknown-build"),
                                                pytest.param(SP2, "NOT_AFFECTED", id="sp2")])
def test_a_later_attempt_cut_by_a_crash_is_named(capsys, build, verdict):
    """Rules 4 and 5: a success, then a later attempt whose advisory error line a crash cut short: the success is
    never "the last attempt", and the later attempt, its error line and the NUL run are named."""
    _, doc = check(capsys, "crash-in-later-attempt", *(["--full-version", build] if build else []))
    assert doc["verdict"] == verdict, doc["reasons"]
    assert said(doc, "A later legacy sync attempt started", "Error 0x80004005, unexpected D",
                "a run of 4,096 NUL bytes: a crash cut the log there")
    assert said(doc, "the last legacy sync attempt with an outcome succeeded")
    assert not said(doc, "The last legacy sync attempt succeeded")
    assert {"later-start", "later-error"} <= set(roles(doc))


def test_an_error_line_a_6710_outweighs_is_named(capsys):
    """Rules 3 and 8: an error line, updates processed and a 6710: the reasons name the error line and say that the
    verdict leans on the 6710, whose meaning no public source confirms."""
    _, doc = check(capsys, "error-then-6710", "--full-version", SP1)
    assert doc["verdict"] == "NOT_AFFECTED", doc["reasons"]
    assert said(doc, 'Its error line "Error 0x80070005, failed to open catalog"',
                "is outweighed only by the STATMSG 6710 (no public source confirms its meaning)")
    assert "other-error" in roles(doc)


def test_the_cutoff_is_compared_with_the_attempts_start(capsys):
    """Rule 1: an attempt that started at 23:59 UTC on 9 June and succeeded on 10 June processed the old catalog."""
    _, doc = check(capsys, "success-straddling-cutoff", "--full-version", SP1)
    assert doc["verdict"] == "AT_RISK", doc["reasons"]
    assert said(doc, "started at 2008-06-09 23:59", "succeeded at 2008-06-10 00:00")


def test_an_attempt_whose_start_rolled_away_keeps_its_summary(capsys):
    """Rule 4: a log that starts inside an attempt: its summary before the 6710 is found, not called missing."""
    _, doc = check(capsys, "summary-before-rolled-start", "--full-version", SP1)
    assert doc["verdict"] == "NOT_AFFECTED", doc["reasons"]
    assert said(doc, "(its start is not in the logs) succeeded")
    assert not said(doc, "no Security updates summary")
    assert {"summary", "sync-done"} <= set(roles(doc))


def test_a_status_id_later_on_the_line_is_no_update_id(capsys):
    """Rule 4: "... CreateUpdateNode (status ID 6711)" names no update."""
    _, doc = check(capsys, "failure-id-after-status-text", "--full-version", SP1)
    assert doc["verdict"] == "AFFECTED"
    assert not said(doc, "for update")


def test_a_line_dated_years_later_is_no_activity(capsys):
    """Rule 2: one line dated 2030 after the only cycle does not show that the log ran on after it."""
    _, doc = check(capsys, "one-cycle-then-future-line", "--full-version", SP1)
    assert doc["verdict"] == "AT_RISK", doc["reasons"]
    assert said(doc, "Legacy sync not observed", "shows a clock, not activity")


def test_an_error_outside_any_attempt_cites_the_previous_status_line(capsys):
    """Rule 4: the attempt before a stray error line ended at its STATMSG line, not at its summary."""
    _, doc = check(capsys, "stray-error-outside-attempt", "--full-version", SP1)
    lines = (CORPUS / "stray-error-outside-attempt" / "wsyncmgr.log").read_text(encoding="utf-8").splitlines()
    last_6710 = max(i for i, line in enumerate(lines, 1) if "ID=6710" in line)
    assert said(doc, "(the attempt before it ended at", f"(wsyncmgr.log:{last_6710}))")


def test_a_fixed_build_with_no_log_says_the_build_decides(capsys):
    """SP2 whose log holds nothing: the build decides, and the reason says so."""
    _, doc = check(capsys, "empty", "--full-version", SP2)
    assert doc["verdict"] == "NOT_AFFECTED"
    assert said(doc, "The build has the fix, and the build decides")
    assert not said(doc, "no legacy sync attempt with an outcome in the logs")


@pytest.mark.parametrize(("case", "build", "fragment"), [
    pytest.param("success-before-cutoff", SP1, "catalog from after 10 June 2008", id="pre-june"),
    pytest.param("ends-after-first-cycle", SP1, "after the next sync cycle", id="not-observed"),
    pytest.param("server-affected", SP1, "Install the update from KB 951376", id="affected"),
])
def test_check_prints_the_remediation_for_the_verdict_and_case(capsys, case, build, fragment):
    """`check` prints what to do for this verdict and case, not the advisory's general fix for every finding."""
    files = [str(p) for p in sorted((CORPUS / case).iterdir())]
    main(["check", "--full-version", build, *files])
    out = capsys.readouterr().out
    remediation = out[out.index("remediation: "):]
    assert fragment in remediation
    if case != "server-affected":
        assert "Install the update from Microsoft Knowledge Base article 951376" not in remediation
    _, doc = check(capsys, case, "--full-version", build)
    assert fragment in doc["remediation"]


def test_facts_print_without_a_line_number(capsys):
    """A fact that is not a log line (the build) prints as name, role and text: no `:0` and no empty time."""
    main(["check", "--full-version", SP1, str(CORPUS / "server-affected" / "wsyncmgr.log")])
    out = capsys.readouterr().out
    assert "Full Version:0" not in out
    assert re.search(r"^  Full Version  \[build\]  4\.00\.6221\.1000", out, re.M)
