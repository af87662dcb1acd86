"""What the per-account logon gate costs a right password, and what it saves a wrong one.

    python -m bench.bench_logon_gate [--hosts 200] [--latency-ms 200] [--concurrency 32] [--repeat 3]
                                     [--hung 8] [--hung-timeout 30] [--json]

The gate lets an account's first logon run alone; the account's other hosts start once it is proven (the first
WS-Management reply to the finished logon). With the right password that should cost the scan one logon, no
more. Measured on one simulated fleet (its own process, NTLM with message encryption over HTTP, every request
delayed by the latency): the same scan with the gate off (--max-auth-failures 0: every host starts at once, as
before the gate) and on (the default), interleaved, the fastest of each kept. One logon = the HTTP requests up to
the first WS-Man reply (NTLM's NEGOTIATE and AUTHENTICATE legs, then Create) times the latency; "held" is how long
the second host to start waited after the first (the first logon, as the gate saw it). Then a wrong password at
--max-auth-failures 3: the failed logons the servers counted, with the gate off and on. Last, what the patience
rule costs: 40 hosts whose first `--hung` hang (every request read, none answered), the right password,
--timeout `--hung-timeout`, no retries: the wall time with the gate off and on.
"""

from __future__ import annotations

import argparse
import io
import json
import secrets
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.simchild import ChildFleet, load_average, machine_info

USER = "LAB\\auditor"
LOGON_REQUESTS = 3  # HTTP requests up to the first WS-Man reply: NTLM NEGOTIATE, AUTHENTICATE (empty POSTs), Create
HUNG_FLEET = 40


def _scan(fleet: ChildFleet, password: str, out_dir: Path, *, concurrency: int, max_auth_failures: int,
          workers: int, timeout: float = 300.0, retries: int = 2) -> dict[str, Any]:
    from scanner.cli.scan_console import run_scan
    from scanner.model.times import parse_utc
    from scanner.scan.accounts import UNPROVEN
    from scanner.scan.settings import ScanSettings

    UNPROVEN.forget()  # each scan as a fresh process would run it: no failed logons carried from the last one
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = ScanSettings(inventory=fleet.write_inventory(out_dir / "hosts.csv"), output=out_dir / "run",
                            username=USER, concurrency=concurrency, timeout=timeout, quiet=True, workers=workers,
                            max_auth_failures=max_auth_failures, retries=retries)
    fleet.reset_counters()
    t0 = time.perf_counter()
    outcome = run_scan(settings, environ={"CMAUDIT_PASSWORD": password}, out=io.StringIO(), err=io.StringIO(),
                       install_signal_handlers=False)
    wall = time.perf_counter() - t0
    counters = fleet.counters()
    starts = sorted(t for t in (parse_utc(h.started) for h in outcome.results.hosts if h.started) if t is not None)
    return {"wall_s": wall, "errors": sum(h.error is not None for h in outcome.results.hosts),
            "held_s": (starts[1] - starts[0]).total_seconds() if len(starts) > 1 else 0.0,
            "wrong_passwords": sum(c.wrong_passwords for c in counters),
            "hosts_with_wrong_password": sum(c.wrong_passwords > 0 for c in counters)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_logon_gate",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers-list", default="1,2", help="--workers values to scan with, e.g. 1,2")
    parser.add_argument("--hung", type=int, default=8, help="hung hosts at the top of the patience fleet (0: skip)")
    parser.add_argument("--hung-timeout", type=float, default=30.0)
    parser.add_argument("--json", action="store_true", help="one JSON line instead of the table")
    args, _others = parser.parse_known_args(argv)
    from scanner.model.options import DEFAULT_MAX_AUTH_FAILURES

    password = "Bench-" + secrets.token_urlsafe(16)
    workers_list = [int(w) for w in str(args.workers_list).split(",") if w.strip()]
    load_before = load_average()
    best: dict[tuple[int, str], dict[str, Any]] = {}
    wrong: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="cmaudit-bench-gate-") as tmp, \
            ChildFleet(hosts=args.hosts, latency_ms=args.latency_ms, password=password, username=USER) as fleet:
        for attempt in range(max(1, args.repeat)):
            for workers in workers_list:
                for gate, k in (("off", 0), ("on", DEFAULT_MAX_AUTH_FAILURES)):
                    run = _scan(fleet, password, Path(tmp) / f"{workers}-{gate}-{attempt}",
                                concurrency=args.concurrency, max_auth_failures=k, workers=workers)
                    key = (workers, gate)
                    if key not in best or run["wall_s"] < best[key]["wall_s"]:
                        best[key] = run
        for gate, k in (("off", 0), ("on", 3)):
            wrong[gate] = _scan(fleet, "wrong-" + password, Path(tmp) / f"wrong-{gate}",
                                concurrency=args.concurrency, max_auth_failures=k, workers=1)
    hung = _hung_first(args, password, DEFAULT_MAX_AUTH_FAILURES) if args.hung > 0 else {}
    logon_s = LOGON_REQUESTS * args.latency_ms / 1000
    rows = [{"workers": w, "gate_off_wall_s": round(best[(w, "off")]["wall_s"], 3),
             "gate_on_wall_s": round(best[(w, "on")]["wall_s"], 3),
             "cost_s": round(best[(w, "on")]["wall_s"] - best[(w, "off")]["wall_s"], 3),
             "held_s": round(best[(w, "on")]["held_s"], 3),
             "errors": best[(w, "on")]["errors"] + best[(w, "off")]["errors"]} for w in workers_list]
    result = {"benchmark": "logon_gate", "machine": machine_info(),
              "options": {"hosts": args.hosts, "latency_ms": args.latency_ms, "concurrency": args.concurrency,
                          "repeat": args.repeat, "auth": "ntlm+encryption over http",
                          "max_auth_failures": DEFAULT_MAX_AUTH_FAILURES},
              "one_logon_s": logon_s, "runs": rows,
              "wrong_password": {gate: {"max_auth_failures": 0 if gate == "off" else 3,
                                        "failed_logons_on_servers": r["wrong_passwords"],
                                        "hosts_that_saw_it": r["hosts_with_wrong_password"]}
                                 for gate, r in wrong.items()},
              "hung_first": hung, "load_average": {"before": load_before, "after": load_average()}}
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


def _hung_first(args: argparse.Namespace, password: str, k: int) -> dict[str, Any]:
    """The patience rule's cost: HUNG_FLEET hosts, the first `args.hung` hung, the gate off and on."""
    runs: dict[str, Any] = {"hosts": HUNG_FLEET, "hung": args.hung, "timeout_s": args.hung_timeout}
    with tempfile.TemporaryDirectory(prefix="cmaudit-bench-gate-hung-") as tmp, \
            ChildFleet(hosts=HUNG_FLEET, latency_ms=args.latency_ms, password=password, username=USER,
                       faults=f"0-{args.hung - 1}=hang") as fleet:
        for gate, max_failures in (("off", 0), ("on", k)):
            run = _scan(fleet, password, Path(tmp) / gate, concurrency=args.concurrency,
                        max_auth_failures=max_failures, workers=1, timeout=args.hung_timeout, retries=0)
            runs[gate] = {"max_auth_failures": max_failures, "wall_s": round(run["wall_s"], 2),
                          "errors": run["errors"]}
    return runs


if __name__ == "__main__":
    raise SystemExit(main())
