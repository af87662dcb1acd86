"""What an expert review of issue 21 found, through a real scan of the simulator: collection that reads the right
catalog, and verdicts on RTM/SP1 that never clear a host without the evidence.

Hosts are the `stale-catalog` profile (legacy syncs keep succeeding on a May 2008 wsusscn2.cab, its command line
naming the catalog unquoted) as it is or with one thing changed, or an SP1 site server whose wsyncmgr.log is one
of the review's logs under tests/data/logs/.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from scanner.model.records import HostResult
from simulator.fleet import Fleet
from simulator.profiles import load_machine, load_profile
from simulator.registry import RegType
from simulator.sitefiles import SHARES
from simulator.vm import VirtualMachine
from tests.paths import DATA
from tests.support.fleet import new_password, scan

pytestmark = pytest.mark.network

LOG = r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"
OTHER_SHARE = r"D:\Packages\Source"


def _share(path: str) -> tuple[str, ...]:
    return ("CSCFlags=0", "MaxUses=4294967295", f"Path={path}", "Permissions=0", "Remark=", "Type=0")


def machine(profile: str, hostname: str) -> VirtualMachine:
    """`log:<case>`: an SP1 site server (ITMU, a June 2008 catalog) with that log; `copy-of-catalog`: the stale
    catalog's folder also holds a newer `Copy of wsusscn2.cab`; `itmu-second-share`: another program owns the
    PackageSrc share, so ITMU's setup shared PkgSource as PackageSrc_1."""
    if profile.startswith("log:"):
        host = load_machine("sp1-healthy", hostname)
        for path in (DATA / "logs" / profile[4:]).iterdir():
            host.fs.add_file(LOG[: -len("wsyncmgr.log")] + path.name, path.read_bytes())
        return host
    host = load_machine("stale-catalog", hostname)
    itmu = load_profile("stale-catalog").itmu
    assert itmu is not None
    if profile == "copy-of-catalog":
        host.fs.add_file(itmu.pkgsource + r"\Copy of wsusscn2.cab", b"MSCF" + bytes(60), datetime(2008, 6, 20, 9, 0))
    elif profile == "itmu-second-share":
        host.fs.add_file(OTHER_SHARE + r"\setup.exe", b"MZ" + bytes(100), datetime(2007, 3, 1, 10, 0))
        host.registry.set_value(SHARES, "PackageSrc", RegType.REG_MULTI_SZ, _share(OTHER_SHARE))
        host.registry.set_value(SHARES, "PackageSrc_1", RegType.REG_MULTI_SZ, _share(itmu.pkgsource))
    return host


PROFILES = ["stale-catalog", "copy-of-catalog", "itmu-second-share", "log:status-only-success",
            "log:gmtdate-one-line-off", "log:crash-in-later-attempt", "log:success-straddling-cutoff",
            "log:stray-failed-status", "log:error-line-ru-cp1251", "log:one-cycle-then-future-line"]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HostResult]:
    """One scan of every host (a fleet is expensive on a loaded box: started once)."""
    password = new_password()
    tmp = tmp_path_factory.mktemp("review")
    with Fleet(profiles=PROFILES, password=password, machine_factory=machine) as fleet:
        result = scan(fleet, tmp, password, timeout=60.0)
        by_port = result.by_port()
        return {h.profile: by_port[h.port] for h in fleet.hosts}


def said(host: HostResult, *fragments: str) -> bool:
    return all(any(f in r for r in host.reasons) for f in fragments)


STALE = ["has not yet processed a catalog from after 10 June 2008", "written 2008-05-14 03:12 (server time)"]


@pytest.mark.parametrize(("profile", "verdict", "fragments"), [
    pytest.param("stale-catalog", "AT_RISK", STALE, id="S1-unquoted-command-line"),
    pytest.param("copy-of-catalog", "AT_RISK", STALE, id="S2-copy-of-the-catalog"),
    pytest.param("itmu-second-share", "AT_RISK", STALE, id="S3-itmu-on-packagesrc-1"),
    pytest.param("log:status-only-success", "AT_RISK", ["shows only STATMSG 6710", "no Security updates summary"],
                 id="B1-lone-6710"),
    pytest.param("log:gmtdate-one-line-off", "AT_RISK", ["succeeded at 2008-06-09", "GMTDATE is not trusted there"],
                 id="B2-one-wrong-gmtdate"),
    pytest.param("log:crash-in-later-attempt", "AT_RISK", ["A later legacy sync attempt started",
                                                           "a crash cut the log there"], id="S6-crash-after-success"),
    pytest.param("log:success-straddling-cutoff", "AT_RISK", ["started at 2008-06-09 23:59"], id="S9-start-vs-cutoff"),
    pytest.param("log:stray-failed-status", "NOT_AFFECTED", ["it decides nothing"], id="S5-stray-6711"),
    pytest.param("log:error-line-ru-cp1251", "AT_RISK", ["failed for another reason", "0x80070005"],
                 id="S4-russian-error-line"),
    pytest.param("log:one-cycle-then-future-line", "AT_RISK", ["shows a clock, not activity"], id="line-in-2030"),
])
def test_each_finding_through_a_scan(scanned, profile, verdict, fragments):
    """A scan of the host gives the verdict the rules give, and says why."""
    host = scanned[profile]
    assert host.error is None and host.verdict.value == verdict, (host.error, host.reasons)
    assert said(host, *fragments), host.reasons


def test_the_catalog_is_read_from_itmus_own_folder(scanned):
    """The catalog's date comes from wsusscn2.cab itself in ITMU's PkgSource, never from a copy or another share."""
    pkgsource = load_profile("stale-catalog").itmu.pkgsource  # type: ignore[union-attr]
    for profile in ("stale-catalog", "copy-of-catalog", "itmu-second-share"):
        facts = scanned[profile].facts
        assert facts.catalog is not None and facts.catalog.written == "2008-05-14 03:12", (profile, facts.catalog)
        assert facts.catalog.path == pkgsource + r"\wsusscn2.cab"
        assert facts.itmu_folder == pkgsource
