"""`cmaudit check` on logs written from the rules of issue 21: each outcome, and the lines it used."""

from __future__ import annotations

import json

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


@pytest.mark.parametrize(("build", "verdict"), [pytest.param(SP1, "AT_RISK", id="sp1"),
                                                pytest.param(None, "UNKNOWN", id="unknown-build"),
                                                pytest.param(SP2, "NOT_AFFECTED", id="sp2")])
def test_a_success_before_the_june_catalog_proves_nothing(capsys, build, verdict):
    """Rule 1: legacy syncs that succeeded only in May 2008 do not clear an RTM/SP1 site."""
    code, doc = check(capsys, "success-before-cutoff", *(["--full-version", build] if build else []))
    assert doc["verdict"] == verdict, doc["reasons"]
    if verdict != "NOT_AFFECTED":
        assert said(doc, "Legacy sync has not yet processed a catalog from after 10 June 2008")
        assert "from before 10 June 2008" in doc["reasons"][0] if verdict == "UNKNOWN" else code == 1
    assert {"sync-start", "summary", "sync-done"} <= {e["role"] for e in doc["evidence"]}


@pytest.mark.parametrize(("date", "verdict"), [pytest.param("2008-05-13", "AT_RISK", id="may-catalog"),
                                               pytest.param("2008-06-11", "NOT_AFFECTED", id="june-catalog")])
def test_a_success_on_a_catalog_older_than_june_proves_nothing(capsys, date, verdict):
    """Rule 1: the catalog's own date (given with --catalog-date) is evidence; an old one clears nothing."""
    _, doc = check(capsys, "one-cycle-then-quiet", "--full-version", SP1)
    assert doc["verdict"] == "NOT_AFFECTED"  # no legacy sync there: the catalog's date does not matter
    _, doc = check(capsys, "warning-then-success", "--full-version", SP1, "--catalog-date", date)
    assert doc["verdict"] == verdict, doc["reasons"]
    assert any(e["role"] == "catalog" and date in e["text"] for e in doc["evidence"])
    if verdict == "AT_RISK":
        assert said(doc, "has not refreshed it", date)


@pytest.mark.parametrize(("case", "build", "verdict", "fragment"), [
    pytest.param("ends-after-first-cycle", SP1, "AT_RISK", "may be a scan taken just before it", id="ends-at-cycle"),
    pytest.param("ends-after-first-cycle", None, "UNKNOWN", "may be a scan taken just before it",
                 id="ends-at-cycle-unknown-build"),
    pytest.param("one-cycle-then-quiet", SP1, "NOT_AFFECTED", "was not followed by one while the logs ran on",
                 id="activity-after-the-cycle"),
    pytest.param("server-no-legacy", SP1, "NOT_AFFECTED", "were not followed by one", id="two-cycles"),
])
def test_not_in_use_needs_more_than_one_cycle_at_the_end(capsys, case, build, verdict, fragment):
    """Rule 2: a log that ends on its only cycle's 6702 cannot say legacy sync is not in use."""
    _, doc = check(capsys, case, *(["--full-version", build] if build else []))
    assert doc["verdict"] == verdict, doc["reasons"]
    assert said(doc, fragment)
    assert "cycle-done" in {e["role"] for e in doc["evidence"]}
    if verdict == "UNKNOWN":
        assert "the logs end right after their only completed sync cycle" in doc["reasons"][0]
        assert "missing or unreadable" not in doc["reasons"][0]


def test_a_warning_is_not_a_failure(capsys):
    """Rule 3: an HRESULT on a warning line, then updates processed and no 6711, is a success."""
    _, doc = check(capsys, "warning-then-success", "--full-version", SP1)
    assert doc["verdict"] == "NOT_AFFECTED", doc["reasons"]
    assert said(doc, "The last legacy sync attempt succeeded")
    assert "other-error" not in {e["role"] for e in doc["evidence"]}


def test_nothing_processed_is_a_failure_whatever_6710_says(capsys):
    """Rules 3 and 8: a summary that processed nothing fails the attempt, even if a 6710 follows."""
    _, doc = check(capsys, "zero-summary-then-done", "--full-version", SP1)
    assert doc["verdict"] == "AT_RISK", doc["reasons"]
    assert said(doc, "0 processed", "nothing was processed")


def test_an_error_outside_any_attempt_is_not_called_the_last_attempt(capsys):
    """Rule 4: the advisory's error after the last attempt ended is cited as outside any attempt."""
    _, doc = check(capsys, "stray-error-outside-attempt", "--full-version", SP1)
    assert doc["verdict"] == "AFFECTED", doc["reasons"]
    assert said(doc, "outside any legacy sync attempt", "for update 1293995")
    assert not said(doc, "The last legacy sync attempt failed")


def test_the_update_id_comes_from_the_text_never_a_statmsg_id(capsys):
    """Rule 4: a failure line without "for update N" names no update, even with an ID= on it."""
    _, doc = check(capsys, "failure-without-update-id", "--full-version", SP1)
    assert doc["verdict"] == "AFFECTED"
    assert not said(doc, "for update 6711") and not said(doc, "for update")
    _, doc = check(capsys, "server-affected")
    assert said(doc, "with the advisory's error for update 1293995")


@pytest.mark.parametrize(("case", "fragment"), [
    pytest.param("mixed-servers", "SYS=CM01, SYS=CM02", id="two-servers"),
    pytest.param("clock-backwards", "time runs backwards by 29 h", id="clock-backwards"),
])
@pytest.mark.parametrize(("build", "verdict"), [pytest.param(SP1, "AT_RISK", id="sp1"),
                                                pytest.param(None, "UNKNOWN", id="unknown-build")])
def test_one_log_one_server_one_clock(capsys, case, fragment, build, verdict):
    """Rule 5: a log that mixes servers or runs backwards never clears a host, and says why."""
    _, doc = check(capsys, case, *(["--full-version", build] if build else []))
    assert doc["verdict"] == verdict, doc["reasons"]
    assert said(doc, "The logs cannot clear this host", fragment)
    assert "clock" in {e["role"] for e in doc["evidence"]}


def test_the_window_is_earliest_to_latest(capsys):
    """Rule 5: when time runs backwards, the window is the earliest and latest time, not the first and last line."""
    _, doc = check(capsys, "clock-backwards", "--full-version", SP1)
    first, last = doc["window"]["first"], doc["window"]["last"]
    assert first.startswith("2008-06-18") and last.startswith("2008-06-20") and first < last


def test_gmtdate_beats_a_disagreeing_bias_and_says_so(capsys):
    """Rule 5: GMTDATE moves a success that the lines' bias puts after 10 June 2008 to before it."""
    _, doc = check(capsys, "gmtdate-against-bias", "--full-version", SP1)
    assert doc["verdict"] == "AT_RISK", doc["reasons"]
    assert said(doc, "GMTDATE (UTC) disagrees with the time their own bias gives by -2 h 00 min", "GMTDATE is trusted")
    assert said(doc, "succeeded at 2008-06-09")


def test_a_6710_alone_never_outweighs_the_advisory_error(capsys):
    """Rule 8: after the advisory's failure, a bare 6710 (meaning not publicly confirmed) is no recovery."""
    _, doc = check(capsys, "status-only-after-failure", "--full-version", SP1)
    assert doc["verdict"] == "AFFECTED", doc["reasons"]
    assert said(doc, "STATMSG 6710 (no public source confirms its meaning)", "does not outweigh")
    roles = [e["role"] for e in doc["evidence"]]
    assert "earlier-failure" in roles and "sync-done" in roles


REGISTRY = DATA / "registry"


@pytest.mark.parametrize(("saved", "verdict", "fragment"), [
    pytest.param("secondary-2003.txt", "NOT_APPLICABLE", "SMS 2.0 coding (KB Q273853), assumed for 2007",
                 id="secondary-no-database"),
    pytest.param("secondary-with-database-2008.txt", "AT_RISK",
                 "but the SMS\\SQL Server key of a site database is there", id="secondary-coding-but-a-database"),
    pytest.param("primary-2008.txt", "AT_RISK", "a primary site (SMS 2.0 coding (KB Q273853), assumed for 2007)",
                 id="primary"),
])
def test_secondary_sites_by_type_and_the_sql_server_key(capsys, saved, verdict, fragment):
    """Rule 6: Setup\\Type 2 (SMS 2.0 coding, assumed for 2007) and no SMS\\SQL Server key is a secondary site."""
    code, doc = check(capsys, "ends-after-first-cycle", "--registry", str(REGISTRY / saved))
    assert doc["verdict"] == verdict, doc["reasons"]
    assert doc["build"] == "4.00.6221.1000"
    assert said(doc, fragment)
    if verdict == "NOT_APPLICABLE":
        assert code == 0 and "a secondary site runs no legacy sync" in doc["reasons"][0]
        assert {"site-type", "site-database"} <= {e["role"] for e in doc["evidence"]}


def test_a_secondary_site_whose_logs_show_legacy_sync_is_judged_by_them(capsys):
    """Rule 6: the assumed coding yields to logs that show legacy sync, which secondary sites do not run."""
    _, doc = check(capsys, "server-affected", "--registry", str(REGISTRY / "secondary-2003.txt"))
    assert doc["verdict"] == "AFFECTED"
    assert said(doc, "but the logs show legacy sync attempts")


def test_hotfix_evidence_is_shown_and_never_decides(capsys):
    """Rule 7: a KB951376 registration is listed with the verdict, which the logs alone decide."""
    _, plain = check(capsys, "server-affected", "--full-version", SP1)
    code, doc = check(capsys, "server-affected", "--registry", str(REGISTRY / "primary-2003-hotfix.txt"))
    assert doc["verdict"] == plain["verdict"] == "AFFECTED" and code == 1
    (hotfix,) = [e for e in doc["evidence"] if e["role"] == "hotfix"]
    assert "Configuration Manager 2007\\SP1\\KB951376" in hotfix["text"] and "InstalledDate=6/20/2008" in hotfix["text"]
    assert "KB925902" not in json.dumps(doc)
    assert said(doc, "Hotfix evidence (shown, not judged")
    assert not said(doc, "Hotfix evidence") or not any("Hotfix" in r for r in plain["reasons"])


def test_a_saved_registry_without_the_keys_is_refused(capsys, tmp_path):
    """A --registry file holding neither the SMS Setup key nor the Updates key is a usage error naming it."""
    bad = tmp_path / "notes.txt"
    bad.write_text("nothing here\r\n", encoding="ascii")
    code = main(["check", "--registry", str(bad), str(CORPUS / "server-affected" / "wsyncmgr.log")])
    err = capsys.readouterr().err
    assert code == 64 and "notes.txt" in err and "Setup key" in err
