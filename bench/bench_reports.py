"""How long rendering report.csv and report.html takes for a large fleet (issue 5: 5,000 hosts).

    python -m bench.bench_reports [--hosts 5000] [--out DIR]

Renders synthetic results (a plausible verdict mix, three evidence lines per finding, two log files
per host) and prints seconds and bytes per format. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.simchild import machine_info
from reports import REPORTERS
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
    Window,
)

_MIX = (Verdict.NOT_AFFECTED,) * 10 + (Verdict.AFFECTED, Verdict.AFFECTED, Verdict.AT_RISK, Verdict.ERROR,
                                       Verdict.UNKNOWN, Verdict.RECOVERED, Verdict.NOT_APPLICABLE)
_LOG = "C:\\Program Files\\Microsoft Configuration Manager\\Logs\\wsyncmgr.log"


def synthetic_results(n: int) -> RunResults:
    """A fleet of `n` site servers with realistic text sizes."""
    meta = RunMeta(run_id="bench", started="2026-11-25T01:00:00Z", finished="2026-11-25T01:40:00Z",
                   cmaudit_version="bench", advisory_id="ms-954474",
                   advisory_title="System Center Configuration Manager 2007 blocked from deploying security updates",
                   advisory_kb="951376", advisory_sha256="ab" * 32, inventory_path="fleet.csv",
                   options={"concurrency": 32}, remediation="Install KB 951376, then run a full sync.",
                   kb_url="https://support.microsoft.com/kb/951376")
    hosts = []
    for i in range(n):
        verdict = _MIX[i % len(_MIX)]
        name = f"sms{i:05d}.zone{i % 7}.corp.example"
        error = HostFailure(ErrorCategory.TIMEOUT, "no answer within 60 s") if verdict is Verdict.ERROR else None
        evidence: tuple[Evidence, ...] = ()
        if verdict.is_finding or verdict is Verdict.RECOVERED:
            evidence = (
                Evidence(_LOG, 1200 + i, "2026-11-20T02:13:11.522Z", "Performing legacy sync", "sync-start"),
                Evidence(_LOG, 1207 + i, "2026-11-20T02:13:12.004Z",
                         "Error 0x80004005, unexpected DeploymentAction for update 1293995. Returned from "
                         "CreateUpdateNode  $$<SMS_WSUS_SYNC_MANAGER><11-20-2026 02:13:12.004+480><thread=5976>",
                         "failure"),
                Evidence(_LOG, 1208 + i, "2026-11-20T02:13:12.010Z",
                         "Security updates summary: 0 processed, 0 matched, 0 outdated, 0 updated", "summary"),
            )
        facts = HostFacts() if error else HostFacts(
            build="4.00.6221.1000", site_code=f"P{i % 90:02d}", site_type="primary",
            install_dir="C:\\Program Files\\Microsoft Configuration Manager",
            registry_root="HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\SMS", log_path=_LOG,
            logs=(LogFileFact(_LOG, 2_621_440, f"{i:064x}"), LogFileFact(_LOG[:-1] + "_", 2_621_440, f"{i + 1:064x}")))
        hosts.append(HostResult(
            host=name, address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", port=5985, scheme="http",
            verdict=verdict, reasons=(f"{verdict.value.lower()}: legacy sync state as seen in the log window",),
            evidence=evidence, build_name=None if error else "ConfigMgr 2007 SP1",
            window=None if error else Window("2026-11-01T00:00:00Z", "2026-11-25T00:59:00Z"),
            facts=facts, error=error, started="2026-11-25T01:00:00Z", finished="2026-11-25T01:00:08Z",
            seconds=8.0, requests=14, attempts=1))
    return RunResults(meta=meta, hosts=tuple(hosts))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_reports",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many renders per format")
    parser.add_argument("--out", type=Path, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="one JSON summary line instead of text")
    # `python -m bench` hands every benchmark the same argv: ignore options meant for the others
    args, _others = parser.parse_known_args(argv)
    results = synthetic_results(args.hosts)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out: Path = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("csv", "html", "json"):
            reporter = REPORTERS[name]
            best = float("inf")
            for _ in range(max(1, args.repeat)):
                t0 = time.perf_counter()
                reporter.write(results, out / reporter.filename)
                best = min(best, time.perf_counter() - t0)
            size = (out / reporter.filename).stat().st_size
            rows.append({"name": name, "hosts": args.hosts, "seconds": round(best, 3), "mb": round(size / 1e6, 1)})
    if args.json:
        print(json.dumps({"benchmark": "reports", "machine": machine_info(), "rows": rows}))
    else:
        for row in rows:
            print(f"reports.{row['name']}: {row['hosts']} hosts in {row['seconds']:.2f} s ({row['mb']} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
