"""Synthetic runs for the history tests: three weekly scans of one small fleet with known changes."""

from __future__ import annotations

import hashlib

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
)

A, N, E = Verdict.AFFECTED, Verdict.NOT_AFFECTED, Verdict.ERROR
INVENTORY = "/etc/cmaudit/fleet.csv"

# Week 1 is the baseline. Week 2: sms02 fixed, sms03 newly failing, sms04 down, sms05 removed from the
# inventory, sms06 added. Week 3: sms04 still down, otherwise as week 2.
WEEKS: tuple[dict[str, Verdict], ...] = (
    {"sms01": A, "sms02": A, "sms03": N, "sms04": N, "sms05": N},
    {"sms01": A, "sms02": N, "sms03": A, "sms04": E, "sms06": N},
    {"sms01": A, "sms02": N, "sms03": A, "sms04": E, "sms06": N},
)


def host(name: str, verdict: Verdict, *, address: str | None = None, port: int = 5985) -> HostResult:
    error = HostFailure(ErrorCategory.TIMEOUT, "no answer within 60 s") if verdict is E else None
    digest = hashlib.sha256(name.encode()).hexdigest()
    logs = () if verdict is E else (LogFileFact("C:\\SMS\\Logs\\wsyncmgr.log", 4096, digest,
                                                saved_as=f"evidence/{name}/wsyncmgr.log.gz"),)
    evidence = (Evidence("wsyncmgr.log", 42, "2008-06-11T03:14:15.123Z",
                         "Error 0x80004005, unexpected DeploymentAction for update 1293995", "failure"),) \
        if verdict is A else ()
    return HostResult(host=name, address=address or f"10.0.0.{sum(name.encode()) % 250 + 1}", port=port, scheme="http",
                      verdict=verdict, reasons=("legacy sync failed",) if verdict is A else (),
                      evidence=evidence, error=error, site_code="C01",
                      facts=HostFacts(build=None if verdict is E else "4.00.6221.1000", site_code="C01", logs=logs))


def run(week: int, verdicts: dict[str, Verdict] | None = None, *, inventory: str = INVENTORY,
        interrupted: bool = False, run_id: str | None = None) -> RunResults:
    """Week `week` (1-based) of the fleet, scanned on the Monday of that week."""
    day = 2 + 7 * (week - 1)
    meta = RunMeta(run_id=run_id or f"2026-11-{day:02d}T02:00:00Z-w{week}", started=f"2026-11-{day:02d}T02:00:00Z",
                   finished=None if interrupted else f"2026-11-{day:02d}T02:05:00Z", cmaudit_version="0.1.0",
                   advisory_id="ms-954474", advisory_title="ConfigMgr 2007 update deployment", advisory_kb="951376",
                   advisory_sha256="ab" * 32, inventory_path=inventory, interrupted=interrupted)
    verdicts = WEEKS[min(week, len(WEEKS)) - 1] if verdicts is None else verdicts  # later weeks repeat week 3
    return RunResults(meta=meta, hosts=tuple(host(n, v) for n, v in verdicts.items()))
