"""Peak memory of a scan: it must grow with the concurrency, not with the number of hosts.

    python -m bench.bench_memory [--hosts 1000] [--concurrency 64] [--log-mb 4] [--json]

Every simulated host serves a wsyncmgr.log of --log-mb MB. Four scans run, each in a fresh child
process (so one's peak cannot hide in another's): N hosts at concurrency C (the figure), N/4 hosts at C
(same peak expected: logs are streamed to disk per host, not held), N hosts at C/4 (a lower peak
expected), and N at C again with glibc's mmap threshold pinned. The peak is the child's own high-water
mark (VmHWM), read when its scan has finished. The simulated fleet runs in yet another process.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.simchild import ChildFleet, machine_info, write_inventory
from scanner.scan.workers import peak_rss_mb

USER = "LAB\\auditor"
# glibc raises its mmap threshold after a large block is freed, so later multi-MB buffers land in the
# per-thread heaps and fragment them: peak RSS then creeps up with the host count although nothing is
# kept. Pinning the threshold shows the scan's real working set.
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def _rss_mb() -> float:
    """This process's peak resident set so far: the worker's own measure (Linux's VmHWM) where /proc has it.

    Not ru_maxrss on Linux: a spawned child is forked from the parent before it execs, and the kernel carries
    the forked copy's RSS (the parent's) into the child's ru_maxrss. Elsewhere ru_maxrss (KiB on Linux, bytes
    on macOS).
    """
    peak = peak_rss_mb()
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def _scan_child(conn: Connection, inventory: str, out_dir: str, concurrency: int, password: str,
                ca_file: str | None = None) -> None:
    """Child process body: one scan, then report the peak RSS before and after it."""
    from scanner.cli.scan_console import run_scan  # imported before the baseline: modules are not the scan's cost
    from scanner.scan.settings import ScanSettings

    base = _rss_mb()
    t0 = time.perf_counter()
    outcome = run_scan(
        ScanSettings(inventory=Path(inventory), output=Path(out_dir), username=USER,
                     concurrency=concurrency, timeout=600.0, quiet=True, ca_file=ca_file),
        environ={"CMAUDIT_PASSWORD": password}, out=io.StringIO(), err=io.StringIO(), install_signal_handlers=False)
    hosts = outcome.results.hosts
    kept = sum(log.size or 0 for h in hosts for log in h.facts.logs)
    conn.send({"baseline_mb": base, "peak_mb": _rss_mb(), "wall_s": time.perf_counter() - t0,
               "errors": sum(1 for h in hosts if h.error is not None), "log_mb_collected": kept / 1e6})
    conn.close()


def measure(fleet: ChildFleet, hosts: int, concurrency: int, password: str, tmp: Path,
            env: dict[str, str] | None = None) -> dict[str, Any]:
    rows = fleet.rows[:hosts]
    inventory = tmp / f"hosts-{hosts}-{concurrency}-{len(env or ())}.csv"
    write_inventory(rows, inventory)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_scan_child, args=(child, str(inventory), str(inventory.with_suffix(".run")),
                                                 concurrency, password, fleet.ca_file))
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})  # a spawned child starts from this environment (glibc reads it at start)
    try:
        proc.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    child.close()
    try:
        report: dict[str, Any] = parent.recv()
    except EOFError:
        report = {"failed": f"scan child exited with {proc.exitcode}"}
    proc.join()
    parent.close()
    return {"hosts": hosts, "concurrency": concurrency, "env": " ".join(f"{k}={v}" for k, v in (env or {}).items()),
            **{k: round(v, 1) if isinstance(v, float) else v for k, v in report.items()}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_memory", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--log-mb", type=float, default=4.0)
    parser.add_argument("--json", action="store_true", help="one JSON line instead of the table")
    args, _others = parser.parse_known_args(argv)  # `python -m bench` passes the same argv to every bench
    password = "Bench-" + secrets.token_urlsafe(16)
    cases = [(args.hosts, args.concurrency), (max(1, args.hosts // 4), args.concurrency),
             (args.hosts, max(1, args.concurrency // 4))]
    with tempfile.TemporaryDirectory(prefix="cmaudit-bench-memory-") as tmp, \
            ChildFleet(hosts=args.hosts, password=password, username=USER,
                       log_size=int(args.log_mb * 1024 * 1024)) as fleet:
        rows = [measure(fleet, n, c, password, Path(tmp)) for n, c in cases]
        # the same scan with glibc's mmap threshold pinned: what is left of the growth is the scan's own
        rows.append(measure(fleet, args.hosts, args.concurrency, password, Path(tmp), env=PINNED_MALLOC))
    main_peak = rows[0].get("peak_mb")
    fewer = rows[1].get("peak_mb")
    result: dict[str, Any] = {"benchmark": "memory", "machine": machine_info(),
              "options": {"hosts": args.hosts, "concurrency": args.concurrency, "log_mb": args.log_mb},
              "rows": rows, "peak_mb": main_peak,
              "hosts_x4_peak_ratio": round(main_peak / fewer, 2) if main_peak and fewer else None,
              "concurrency_x4_peak_ratio": (round(main_peak / rows[2]["peak_mb"], 2)
                                            if main_peak and rows[2].get("peak_mb") else None),
              "peak_mb_pinned_malloc": rows[3].get("peak_mb")}
    if args.json:
        print(json.dumps(result))
    else:
        m = result["machine"]
        print(f"memory: {args.log_mb:g} MB log per host; {m['nproc']} cores {m['cpu']}, Python {m['python']}")
        print(f"{'hosts':>6} {'conc.':>6} {'peak RSS MB':>12} {'baseline MB':>12} {'wall s':>8} {'log MB':>8} "
              f"{'errors':>7}  environment")
        for r in rows:
            print(f"{r['hosts']:>6} {r['concurrency']:>6} {r.get('peak_mb', '-'):>12} {r.get('baseline_mb', '-'):>12} "
                  f"{r.get('wall_s', '-'):>8} {r.get('log_mb_collected', '-'):>8} {r.get('errors', '-'):>7}  "
                  f"{r['env']}")
        print(f"peak at {args.hosts} hosts / at {cases[1][0]} hosts: {result['hosts_x4_peak_ratio']} "
              f"(1.0 = independent of the host count); at concurrency {args.concurrency} / {cases[2][1]}: "
              f"{result['concurrency_x4_peak_ratio']}; with {' '.join(f'{k}={v}' for k, v in PINNED_MALLOC.items())}: "
              f"{result['peak_mb_pinned_malloc']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
