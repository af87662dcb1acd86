"""The engine on what the review of issue 21 found where `cmaudit check` cannot reach it: a collected catalog's
path, server names in any case or place, a crash inside a STATMSG line, a missing log on a fixed build."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scanner.advisory.engine import evaluate
from scanner.model.records import FileStamp, Judgement, Verdict
from scanner.model.snapshot import LogBlob, Snapshot
from tests.scanner.advisory.test_clock import START, healthy, server, statmsg
from tests.scanner.advisory.test_engine import ADVISORY, SP1

SP2 = "4.00.6487.2000"
CAB = r"D:\ITMU\PkgSource\wsusscn2.cab"


def judge(lines: list[str], **snapshot: object) -> Judgement:
    data = ("\r\n".join(lines) + "\r\n").encode()
    return evaluate(Snapshot(build=SP1, logs=(LogBlob("wsyncmgr.log", data),), **snapshot), ADVISORY)  # type: ignore


def said(j: Judgement, fragment: str) -> bool:
    return any(fragment in r for r in j.reasons)


def test_an_unquoted_command_line_does_not_hide_a_stale_catalog():
    """The catalog the attempt processes is the one its "Processing security catalog" line names, though the
    command line before it names the program's path and then the catalog, unquoted."""
    lines = healthy(START)
    at = next(i for i, line in enumerate(lines) if "Performing legacy sync" in line)
    lines[at + 2:at + 2] = [
        server(r"Started with command line: C:\Program Files\Microsoft Configuration Manager\bin\i386"
               rf"\updatewuscatalog.exe /ProcessCatalog {CAB}", START + timedelta(minutes=6)),
        server(f"Processing security catalog {CAB} ...", START + timedelta(minutes=6))]
    j = judge(lines, catalog=FileStamp(CAB, "2008-05-14 03:12", 2201000))
    assert j.verdict is Verdict.AT_RISK, j.reasons
    assert said(j, "written 2008-05-14 03:12") and not said(j, "The logs name another catalog")


def test_server_names_compare_without_case():
    """SITESRV1 and sitesrv1 are one server: its logs can clear it."""
    lo = healthy(START)
    log = [line.replace("SYS=CM01", "SYS=cm01") for line in healthy(START + timedelta(hours=3))]
    assert judge(lo + log).verdict is Verdict.NOT_AFFECTED


def test_a_second_server_is_seen_however_many_tokens_come_first():
    """A STATMSG line with 40 tokens before SYS= still names its server: two servers, no clearing verdict."""
    padding = " ".join(f"X{i}=1" for i in range(40))
    other = [line.replace("SOURCE=", f"{padding} SOURCE=").replace("SYS=CM01", "SYS=CM02")
             for line in healthy(START + timedelta(hours=3))]
    j = judge(healthy(START) + other)
    assert j.verdict is Verdict.AT_RISK and said(j, "SYS=CM02"), j.reasons


def test_a_statmsg_line_a_crash_cut_is_no_clock_problem():
    """A STATMSG line cut by a crash, NUL padding and the restarted service's next line joined to it: the time at
    its end is the next line's, so its GMTDATE is not compared, and the logs still clear the host."""
    first, second = healthy(START), healthy(START + timedelta(hours=3))
    cut = first[-2][: first[-2].index("><thread=") - 13] + "\x00" * 300  # the 6710 line, cut inside its timestamp
    lines = [*first[:-2], cut + second[0], *second[1:]]
    assert judge(lines).verdict is Verdict.NOT_AFFECTED


def test_a_disagreeing_gmtdate_is_said_with_every_verdict():
    """One STATMSG line whose GMTDATE is two days off: said even where the verdict does not rest on the clock."""
    lines = healthy(START)
    lines[-2] = statmsg(6710, START + timedelta(minutes=9), gmt_bias=60 + 48 * 60)
    lines.append(server("Error 0x80004005, unexpected DeploymentAction for update 1293995. Returned from "
                        "CreateUpdateNode", START + timedelta(minutes=80)))
    j = judge(lines)
    assert j.verdict is Verdict.AFFECTED
    assert said(j, "Clock: in wsyncmgr.log 1 STATMSG line(s) carry a GMTDATE that disagrees")


def test_a_fixed_build_without_its_log_says_the_build_decides():
    """SP2 whose log is missing: NOT_AFFECTED because of the build, and the reason says so."""
    j = evaluate(Snapshot(build=SP2, setup_key_found=True, log_error="wsyncmgr.log was not found or is empty"),
                 ADVISORY)
    assert j.verdict is Verdict.NOT_AFFECTED
    assert said(j, "The build has the fix, and the build decides: the sync log is missing")


def test_a_line_in_the_future_of_the_scan_is_no_activity():
    """One cycle, then a line dated days after the scan (a server clock far ahead): not evidence that the log ran
    on after the cycle."""
    lines = [statmsg(6701, START), statmsg(6702, START + timedelta(minutes=5)),
             server("Wakeup for a polling cycle", START + timedelta(minutes=30))]
    j = judge(lines, taken_at=datetime(2008, 6, 18, 0, 0, tzinfo=UTC))
    assert j.verdict is Verdict.AT_RISK and said(j, "shows a clock, not activity"), j.reasons
