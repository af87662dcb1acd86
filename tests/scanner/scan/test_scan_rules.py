"""Issue 21's rules through a real scan of the simulator: each outcome, its reasons and the evidence a report shows.

Hosts are simulator profiles written for the rules (a secondary site, a stale ITMU catalog, a hotfix waiting for the
next sync...), or an SP1 site server whose wsyncmgr.log is one of the rule logs under tests/data/logs/.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from scanner.model.records import HostResult
from simulator.fleet import Fleet
from simulator.profiles import load_machine
from simulator.vm import VirtualMachine
from tests.paths import DATA
from tests.support.fleet import new_password, scan

pytestmark = pytest.mark.network

LOG = r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"


def machine(profile: str, hostname: str) -> VirtualMachine:
    """A profile's host; `log:<case>` is an SP1 site server (ITMU, a June 2008 catalog) with that rule log."""
    if not profile.startswith("log:"):
        return load_machine(profile, hostname)
    host = load_machine("sp1-healthy", hostname)
    for path in (DATA / "logs" / profile[4:]).iterdir():
        host.fs.add_file(LOG[: -len("wsyncmgr.log")] + path.name, path.read_bytes())
    return host


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One scan of every host the rules need (a fleet is expensive on a loaded box: started once)."""
    profiles = ["pre-june-success", "stale-catalog", "sp1-healthy", "no-legacy-sync", "secondary-site",
                "hotfix-waiting", "log:ends-after-first-cycle", "log:warning-then-success",
                "log:stray-error-outside-attempt", "log:failure-without-update-id", "log:mixed-servers",
                "log:clock-backwards", "log:gmtdate-against-bias", "log:status-only-after-failure",
                "log:zero-summary-then-done"]
    password = new_password()
    tmp = tmp_path_factory.mktemp("rules")
    with Fleet(profiles=profiles, password=password, machine_factory=machine) as fleet:
        result = scan(fleet, tmp, password, timeout=60.0)
        by_port = result.by_port()
        hosts = {h.profile: by_port[h.port] for h in fleet.hosts}
    rows = list(csv.DictReader(io.StringIO((tmp / "run" / "report.csv").read_text(encoding="utf-8-sig"))))
    html = (tmp / "run" / "report.html").read_text(encoding="utf-8")
    return {"hosts": hosts, "csv": {r["host"]: r for r in rows}, "html": html}


def said(host: HostResult, *fragments: str) -> bool:
    return all(any(f in r for r in host.reasons) for f in fragments)


@pytest.mark.parametrize(("profile", "verdict", "fragments"), [
    pytest.param("pre-june-success", "AT_RISK", ["Legacy sync has not yet processed a catalog from after 10 June 2008",
                                                 "before it"], id="1-success-in-may"),
    pytest.param("stale-catalog", "AT_RISK", ["has not yet processed a catalog from after 10 June 2008",
                                              "written 2008-05-14 03:12 (server time)", "has not refreshed it"],
                 id="1-catalog-from-may"),
    pytest.param("sp1-healthy", "NOT_AFFECTED", ["The last legacy sync attempt succeeded",
                                                 "ITMU's catalog", "written 2008-06-11 03:12"], id="1-june-catalog"),
    pytest.param("log:ends-after-first-cycle", "AT_RISK", ["may be a scan taken just before it"],
                 id="2-log-ends-at-the-cycle"),
    pytest.param("no-legacy-sync", "NOT_AFFECTED", ["not in use", "ITMU is not installed"], id="2-no-itmu"),
    pytest.param("log:warning-then-success", "NOT_AFFECTED", ["The last legacy sync attempt succeeded"],
                 id="3-warning-is-no-failure"),
    pytest.param("log:zero-summary-then-done", "AT_RISK", ["nothing was processed"], id="3-nothing-processed"),
    pytest.param("log:stray-error-outside-attempt", "AFFECTED", ["outside any legacy sync attempt"],
                 id="4-outside-any-attempt"),
    pytest.param("log:mixed-servers", "AT_RISK", ["The logs cannot clear this host", "SYS=CM02"], id="5-two-servers"),
    pytest.param("log:clock-backwards", "AT_RISK", ["time runs backwards"], id="5-clock-backwards"),
    pytest.param("log:gmtdate-against-bias", "AT_RISK", ["GMTDATE is trusted", "succeeded at 2008-06-09"],
                 id="5-gmtdate"),
    pytest.param("secondary-site", "NOT_APPLICABLE",
                 ["a secondary site", "SMS 2.0 coding (KB Q273853), assumed for 2007"], id="6-secondary-site"),
    pytest.param("hotfix-waiting", "AFFECTED", ["Hotfix evidence (shown, not judged", "KB951376"], id="7-hotfix"),
    pytest.param("log:status-only-after-failure", "AFFECTED", ["does not outweigh the advisory's error line"],
                 id="8-6710-alone"),
])
def test_each_rule_through_a_scan(scanned, profile, verdict, fragments):
    """A scan of the host gives the rule's verdict and says why in the rule's words."""
    host = scanned["hosts"][profile]
    assert host.error is None and host.verdict.value == verdict, (host.error, host.reasons)
    assert said(host, *fragments), host.reasons


def test_the_update_id_is_never_a_statmsg_id(scanned):
    """Rule 4: a failure line without "for update N" gives no update id, though it holds an ID=."""
    host = scanned["hosts"]["log:failure-without-update-id"]
    assert host.verdict.value == "AFFECTED" and not said(host, "for update")


def test_site_files_reach_the_csv_and_the_host_details(scanned):
    """Rules 6 and 7: the site database, ITMU's catalog, updatewuscatalog.exe and the KB registration are in
    report.csv and in the host's details in report.html, and no verdict leans on the hotfix."""
    waiting = scanned["hosts"]["hotfix-waiting"]
    row = scanned["csv"][waiting.host]
    assert row["verdict"] == "AFFECTED" and row["site_database"] == "yes"
    assert row["itmu_pkgsource"].endswith("PkgSource") and row["catalog_written"] == "2008-06-11 03:12"
    assert "written 2008-06-24 14:30" in row["updatewuscatalog"] and "version 4.0.6221.1179" in row["updatewuscatalog"]
    assert "Configuration Manager 2007\\SP1\\KB951376" in row["hotfix_registrations"]
    assert "Uninstall\\KB951376" in row["hotfix_registrations"] and "KB925902" not in row["hotfix_registrations"]
    secondary = scanned["csv"][scanned["hosts"]["secondary-site"].host]
    assert secondary["site_database"] == "no" and secondary["itmu_pkgsource"] == "not installed"
    assert secondary["hotfix_registrations"] == "none found"
    html = scanned["html"]
    assert "Site files" in html and "version 4.0.6221.1179" in html and "no SMS\\SQL Server key" in html


def test_the_programs_version_is_read_only_where_the_hotfix_may_be_waiting(scanned):
    """updatewuscatalog.exe's bytes (its version) are read only where the log shows the advisory's failure and the
    hotfix left a trace: not on a healthy host, nor on a failing one with the original program."""
    assert scanned["hosts"]["sp1-healthy"].facts.program.version is None
    assert scanned["hosts"]["log:stray-error-outside-attempt"].facts.program.version is None
    assert scanned["hosts"]["hotfix-waiting"].facts.program.version == "4.0.6221.1179"


def test_dates_are_read_in_the_accounts_own_format(tmp_path: Path):
    """A German server's dir writes 24.06.2008  14:30: read in its own day-month order, not as a US date."""
    password = new_password()
    with Fleet(profiles=["hotfix-waiting", "localized-log"], password=password) as fleet:
        result = scan(fleet, tmp_path, password, timeout=60.0)
        german, norwegian = (result.by_port()[h.port] for h in fleet.hosts)
        outputs = [h.machine.run(r'dir "C:\Program Files\Microsoft Configuration Manager\bin\i386"')  # type: ignore[attr-defined]
                   for h in fleet.hosts]
    assert b"24.06.2008  14:30" in outputs[0].stdout
    assert german.facts.program.written == "2008-06-24 14:30"
    assert norwegian.facts.catalog.written == "2008-06-11 03:12"
