"""Result records for the report tests: a realistic mixed run, hostile text, and bulk fleets."""

from __future__ import annotations

from dataclasses import replace

from scanner.model.records import (
    ErrorCategory,
    Evidence,
    HostFacts,
    HostFailure,
    HostResult,
    LogFileFact,
    RunMeta,
    RunResults,
    Verdict,
    Waiver,
    Window,
)

XSS_SCRIPT = "Error 0x80004005 <script>window.__pwned = 1; alert(1)</script>"
XSS_IMG = 'Preprocessing updates... <img src=x onerror="window.__pwned = 2; alert(2)">'
LOG = "C:\\Program Files\\Microsoft Configuration Manager\\Logs\\wsyncmgr.log"


def meta(**overrides: object) -> RunMeta:
    values: dict[str, object] = dict(
        run_id="20261125T010000Z-7f3a", started="2026-11-25T01:00:00Z", finished="2026-11-25T01:04:12Z",
        cmaudit_version="0.1.0", advisory_id="ms-954474",
        advisory_title="System Center Configuration Manager 2007 blocked from deploying security updates",
        advisory_kb="951376", advisory_sha256="ab" * 32, inventory_path="inventories/fleet.csv",
        inventory_sha256="cd" * 32, options={"concurrency": 32, "timeout": 60, "auth": "ntlm"},
        remediation="Install the hotfix from KB 951376 on the site server, then run a full update sync\n"
                    "and check wsyncmgr.log for STATMSG ID=6710 (legacy sync done).",
        kb_url="https://support.microsoft.com/kb/951376",
        verdict_remediation={
            "AFFECTED": "Install the update from KB 951376 on the site server, then check Wsyncmgr.log for 6710.",
            "AT_RISK": "Find out in Wsyncmgr.log why the last legacy sync failed or did not finish; fix that cause.",
            "UNKNOWN": "Check the SMS Setup key and that Wsyncmgr.log exists, then scan the host again.",
        },
    )
    values.update(overrides)
    return RunMeta(**values)  # type: ignore[arg-type]


def _facts(build: str, site: str) -> HostFacts:
    return HostFacts(build=build, site_code=site, site_type="primary",
                     install_dir="C:\\Program Files\\Microsoft Configuration Manager",
                     registry_root="HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\SMS",
                     log_path=LOG, logs=(LogFileFact(LOG, 2_621_440, "e3" * 32, saved_as="evidence/x/wsyncmgr.log.gz"),
                                         LogFileFact(LOG[:-1] + "_", 2_621_440, "9b" * 32)))


def affected(name: str, *, text: str = "Error 0x80004005, unexpected DeploymentAction for update 1293995. "
             "Returned from CreateUpdateNode", site: str = "PR1") -> HostResult:
    return HostResult(
        host=name, address=f"10.1.0.{len(name)}", port=5985, scheme="http", verdict=Verdict.AFFECTED,
        reasons=("legacy (SMS 2003) update sync failed with 0x80004005 after the fix date",
                 "build 4.00.6221.1000 (SP1) predates KB 951376"),
        evidence=(Evidence(LOG, 1200, "2026-11-20T02:13:11.522Z", "Performing legacy sync", "sync-start"),
                  Evidence(LOG, 1207, "2026-11-20T02:13:12.004Z", text, "failure"),
                  Evidence(LOG, 1208, "2026-11-20T02:13:12.010Z",
                           "Security updates summary: 0 processed, 0 matched, 0 outdated, 0 updated", "summary")),
        build_name="ConfigMgr 2007 SP1", window=Window("2026-11-01T00:00:00Z", "2026-11-25T00:59:00Z"),
        facts=_facts("4.00.6221.1000", site), site_code=site, tags=("dc1",),
        started="2026-11-25T01:00:01Z", finished="2026-11-25T01:00:09Z", seconds=8.2, requests=14, attempts=1)


def simple(name: str, verdict: Verdict, reason: str, *, build: str = "4.00.6487.2000",
           site: str = "PR2", error: HostFailure | None = None, port: int = 5985) -> HostResult:
    return HostResult(
        host=name, address=name + ".corp.example", port=port, scheme="https" if port in (443, 5986) else "http",
        verdict=verdict, reasons=(reason,) if reason else (), build_name=None if error else "ConfigMgr 2007 SP2",
        facts=HostFacts() if error else _facts(build, site), site_code=site, error=error,
        started="2026-11-25T01:01:00Z", finished="2026-11-25T01:01:05Z", seconds=5.0)


def mixed_run() -> RunResults:
    """One host of every verdict, with the kinds of text real servers send."""
    hosts = (
        simple("sms-b03", Verdict.NOT_AFFECTED, "build 4.00.6487.2000 (SP2) includes the fix; legacy sync ok"),
        affected("SMS-A01"),
        affected("sms-a02", text=XSS_SCRIPT, site="PR3"),
        HostResult(host="sms-r01", address="10.2.0.5", port=5985, scheme="http", verdict=Verdict.AT_RISK,
                   reasons=("build 4.00.5931.0000 (RTM) is affected; no legacy sync in the log window",),
                   evidence=(Evidence(LOG, 17, "2026-11-24T10:00:00Z", XSS_IMG, "other"),),
                   build_name="ConfigMgr 2007 RTM", facts=_facts("4.00.5931.0000", "CE1"), site_code="CE1"),
        simple("sms-c04", Verdict.ERROR, "", error=HostFailure(ErrorCategory.TIMEOUT, "no answer within 60 s"),
               site="CE2"),
        simple("sms-d05", Verdict.UNKNOWN, "wsyncmgr.log not found at the traced path", site="=cmd|' /C calc'!A0"),
        simple("sms-e06", Verdict.RECOVERED, "failed on 2026-11-02, legacy sync done (6710) since"),
        simple("sms-f07", Verdict.NOT_APPLICABLE, "SMS 2003 site server (2.50.4253.3000)", build="2.50.4253.3000"),
        simple("sms-g08", Verdict.NOT_AFFECTED, "build includes the fix", port=5986),
    )
    return RunResults(meta=meta(), hosts=hosts)


WAIVER = Waiver(host="sms-w*", reason="site retired in January, no SMS 2003 clients left", owner="j.doe",
                expires="2027-01-31", source="waivers.toml:1")
EXPIRED_WAIVER = Waiver(host="sms-x09", reason="migration to SP2 planned", owner="a.admin", expires="2026-10-31",
                        expired=True, source="waivers.toml:8")


def waived_run() -> RunResults:
    """mixed_run plus a waived AFFECTED host and an AFFECTED host whose waiver has expired."""
    base = mixed_run()
    hosts = (*base.hosts, replace(affected("sms-w10", site="PR4"), waiver=WAIVER),
             replace(affected("sms-x09", site="PR4"), waiver=EXPIRED_WAIVER))
    return RunResults(meta=replace(base.meta, waiver_file="waivers.toml", waivers=(WAIVER, EXPIRED_WAIVER)),
                      hosts=hosts)


VERDICT_CYCLE = (Verdict.NOT_AFFECTED,) * 6 + (Verdict.AFFECTED, Verdict.AT_RISK, Verdict.ERROR, Verdict.UNKNOWN,
                                               Verdict.RECOVERED, Verdict.NOT_APPLICABLE)


def bulk_run(n: int) -> RunResults:
    """A large fleet with a plausible mix of verdicts."""
    hosts = []
    for i in range(n):
        verdict = VERDICT_CYCLE[i % len(VERDICT_CYCLE)]
        if verdict is Verdict.AFFECTED:
            hosts.append(affected(f"sms{i:05d}"))
        elif verdict is Verdict.ERROR:
            hosts.append(simple(f"sms{i:05d}", verdict, "", error=HostFailure(ErrorCategory.UNREACHABLE, "refused")))
        else:
            hosts.append(simple(f"sms{i:05d}", verdict, "reason"))
    return RunResults(meta=meta(), hosts=tuple(hosts))
