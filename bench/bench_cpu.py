"""Client CPU per host, before and after, on the same simulated fleet in one run.

    python -m bench.bench_cpu [--cpu-hosts 200] [--baseline REF] [--repeat 3] [--json]

Hosts are scanned one at a time (--concurrency 1), so nothing but the per-host work is measured: no
thread hand-offs, no waiting for a slot. Each scan runs in a fresh child process pinned away from the
simulator (os.sched_setaffinity: the simulator gets the last core, the scanner the others, where the
machine has two or more), and the figure is that child's CPU time (every thread: user + system) for the
whole scan, divided by the hosts. CPU time, not wall time: other work on a shared machine slows a run
down but hardly changes the CPU it needs, so before/after stays comparable on a busy box; the load
average is reported anyway.

"Before" is the scanner as it was before issue 15 (`--baseline`, a git commit, extracted with `git archive`
into a temp folder and imported ahead of the working tree); "after" is the working tree. Both scan the very
same simulator process, interleaved (before, after, before, ...); the median of --repeat runs counts.

Two component measurements say why the numbers are what they are:
- HTTP client CPU per keep-alive POST with a 150 KB reply (a WinRM Receive's size): requests (what pypsrp
  uses), the standard library's http.client, h11 and httptools (sans-IO parsers over a raw socket; the
  own HTTP transport uses httptools) and hand-written framing over a raw socket, against a trivial loopback
  server in another process;
- gzip of a 330 KB wsyncmgr.log at each level (the evidence kept per host): CPU and size.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.simchild import ChildFleet, load_average, machine_info, pin, split_cores, write_inventory

USER = "LAB\\auditor"
# The last commit of main before issue 15's work: the "before" of every figure.
BASELINE_REF = "eee2d7d1f540d82bd08597c77de5fa4a47e8b778"
REPO = Path(__file__).resolve().parent.parent
REPLY_BYTES = 150 * 1024


def extract_baseline(ref: str, into: Path) -> Path | None:
    """The scanner's packages as of `ref`, in `into` (None when git or the commit is not there)."""
    if shutil.which("git") is None:
        return None
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "scanner", "inventory", "reports"],
                                 check=True, capture_output=True, timeout=120).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return into


def scan_entry() -> tuple[Callable[..., Any], Callable[..., Any], str]:
    """(run_scan, ScanSettings, the module's file) of whichever scanner is first on sys.path: the working
    tree's (scanner.cli.scan_console) or an older baseline's (scanner.scan.run, before it scanner.scan.fleet)."""
    import importlib

    for name in ("scanner.cli.scan_console", "scanner.scan.run", "scanner.scan.fleet"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        settings = getattr(module, "ScanSettings", None) or importlib.import_module(
            "scanner.scan.settings").ScanSettings
        return module.run_scan, settings, str(Path(module.__file__ or name).resolve())
    raise ImportError("no scanner with a run_scan on sys.path")


def _scan_in_child(root: str | None, inventory: str, out_dir: str, password: str, cpus: set[int] | None,
                   concurrency: int, ca_file: str | None, transport: str | None, send: Callable[[Any], None],
                   recv: Callable[[], Any]) -> None:
    """Child body: one scan of the inventory with the scanner found first on sys.path; report its CPU.

    A warm-up scan of 5 hosts comes first (module imports, report templates, the first TLS/NTLM set-up are
    not per host); then `send("warm")`, and the measured scan starts on the parent's answer (which resets
    the simulator's counters and, under callgrind, switches instruction counting on)."""
    pinned = pin(cpus)
    if root:
        sys.path.insert(0, root)
    run_scan, settings_type, where = scan_entry()

    extra: dict[str, Any] = {"transport": transport} if transport else {}

    def scan(path: str, out: str) -> Any:
        with open(os.devnull, "w") as sink:
            return run_scan(
                settings_type(inventory=Path(path), output=Path(out), username=USER, ca_file=ca_file,
                              concurrency=concurrency, timeout=300.0, quiet=True, **extra),
                environ={"CMAUDIT_PASSWORD": password}, out=sink, err=sink, install_signal_handlers=False)

    scan(str(Path(inventory).with_name("warmup.csv")), out_dir + "-warmup")
    send("warm")
    recv()
    t0, w0 = time.process_time(), time.perf_counter()
    outcome = scan(inventory, out_dir)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    hosts = outcome.results.hosts
    send({"cpu_s": cpu, "wall_s": wall, "hosts": len(hosts), "pinned": pinned, "module": where,
          "errors": sum(1 for h in hosts if h.error is not None),
          "verdicts": [(h.host, h.verdict.value) for h in hosts],
          "wsman_requests": sum(h.requests or 0 for h in hosts)})


def _scan_child(conn: Connection, root: str | None, inventory: str, out_dir: str, password: str,
                cpus: set[int] | None, concurrency: int, ca_file: str | None, transport: str | None) -> None:
    """multiprocessing child: the scan, talking over a Pipe."""
    _scan_in_child(root, inventory, out_dir, password, cpus, concurrency, ca_file, transport, conn.send, conn.recv)
    conn.close()


def scan_cpu(fleet: ChildFleet, root: Path | None, inventory: Path, out_dir: Path, password: str,
             cpus: set[int] | None, concurrency: int = 1, transport: str | None = None) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_scan_child, args=(child, str(root) if root else None, str(inventory), str(out_dir),
                                                 password, cpus, concurrency, fleet.ca_file, transport))
    proc.start()
    child.close()
    try:
        if parent.recv() == "warm":
            fleet.reset_counters()
            parent.send("go")
        report: dict[str, Any] = parent.recv()
    except EOFError:
        report = {"failed": f"scan child exited with {proc.exitcode}"}
    proc.join()
    parent.close()
    counters = fleet.counters()
    report["http_requests"] = sum(c.requests for c in counters)
    return report


# -- instruction counts (callgrind) -----------------------------------------------------------------------
_LINE = "@@cmaudit-bench "  # the child's protocol lines on stdout (anything else there is ignored)


def callgrind_missing() -> str | None:
    """Why instructions cannot be counted here (None when valgrind's callgrind and callgrind_control are there)."""
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install valgrind)"
    return None


def _stdio_child() -> int:
    """`python -m bench.bench_cpu --scan-child`: the scan child under valgrind, talking JSON lines over stdio
    (the password comes on stdin, never in argv)."""
    config = json.loads(sys.stdin.readline())
    out = sys.stdout

    def send(message: Any) -> None:
        out.write(_LINE + json.dumps(message) + "\n")
        out.flush()

    cpus = set(config["cpus"]) if config["cpus"] is not None else None
    _scan_in_child(config["root"], config["inventory"], config["out_dir"], config["password"], cpus, 1,
                   config["ca_file"], config["transport"], send, sys.stdin.readline)
    sys.stdin.readline()  # the parent switches counting off first: interpreter shut-down is not per host
    return 0


def _callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120)


def scan_instructions(fleet: ChildFleet, root: Path | None, inventory: Path, out_dir: Path, password: str,
                      cpus: set[int] | None, transport: str | None = None) -> dict[str, Any]:
    """Instructions the scanner executes for the scan (every thread), counted by valgrind's callgrind.

    A count, not a time: the same code on the same fleet gives the same figure however loaded the machine is
    (to a fraction of a percent: random nonces and NTLM challenges, hash seeds). Only the scanning process runs
    under valgrind: the simulator is another process, not counted. Counting is off (`--instr-atstart=no`)
    for start-up and the 5-host warm-up and switched on for the measured scan alone (`callgrind_control -i`).
    """
    missing = callgrind_missing()
    if missing:
        return {"failed": missing}
    out_file = out_dir.with_name(out_dir.name + ".callgrind")
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}",
               sys.executable, "-m", "bench.bench_cpu", "--scan-child"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    with open(out_dir.with_name(out_dir.name + ".valgrind.log"), "wb") as log, \
            subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=log, text=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout

        def send(message: str) -> None:
            stdin.write(message + "\n")
            stdin.flush()

        def recv() -> Any:
            for line in stdout:
                if line.startswith(_LINE):
                    return json.loads(line[len(_LINE):])
            raise EOFError

        try:
            send(json.dumps({"root": str(root) if root else None, "inventory": str(inventory),
                             "out_dir": str(out_dir), "password": password, "ca_file": fleet.ca_file,
                             "cpus": sorted(cpus) if cpus else None, "transport": transport}))
            if recv() != "warm":
                raise EOFError
            fleet.reset_counters()
            _callgrind(proc.pid, "--instr=on")
            send("go")
            report: dict[str, Any] = recv()
            _callgrind(proc.pid, "--instr=off")
            send("exit")
            proc.wait(600)
        except (EOFError, OSError, subprocess.SubprocessError, ValueError) as exc:
            proc.kill()
            return {"failed": f"callgrind scan child: {type(exc).__name__} {exc} (exit {proc.poll()})"}
    totals = [line for line in out_file.read_text().splitlines() if line.startswith("totals:")]
    report["instructions"] = int(totals[0].split()[1])
    counters = fleet.counters()
    report["http_requests"] = sum(c.requests for c in counters)
    return report


# -- HTTP client CPU per request ----------------------------------------------------------------------------
def _reply_server(conn: Connection, cpus: set[int] | None) -> None:
    """A keep-alive HTTP/1.1 server answering every POST with REPLY_BYTES of XML-ish text."""
    import asyncio

    pin(cpus)
    body = (b"<s:Envelope>" + b"x" * (REPLY_BYTES - 25) + b"</s:Envelope>")
    head = (f"HTTP/1.1 200 OK\r\nServer: Microsoft-HTTPAPI/2.0\r\nContent-Type: application/soap+xml;charset=UTF-8"
            f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in request_head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        server.close()

    asyncio.run(main())


def _post_requests(port: int, body: bytes, n: int) -> int:
    import requests

    with requests.Session() as session:
        session.trust_env = False
        total = 0
        for _ in range(n):
            total += len(session.post(f"http://127.0.0.1:{port}/wsman", data=body,
                                      headers={"Content-Type": "application/soap+xml;charset=UTF-8"}).content)
        return total


def _post_http_client(port: int, body: bytes, n: int) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    total = 0
    for _ in range(n):
        conn.request("POST", "/wsman", body, {"Content-Type": "application/soap+xml;charset=UTF-8"})
        total += len(conn.getresponse().read())
    conn.close()
    return total


def _post_raw(port: int, body: bytes, n: int) -> int:
    """Hand-written HTTP/1.1 framing (Content-Length replies only): what cmaudit's transport would otherwise do."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/soap+xml;charset=UTF-8"
            f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    total = 0
    buf = b""
    for _ in range(n):
        sock.sendall(head + body)
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        reply_head, _, buf = buf.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in reply_head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        chunks = [buf]
        have = len(buf)
        while have < length:
            chunk = sock.recv(max(65536, length - have))
            chunks.append(chunk)
            have += len(chunk)
        data = b"".join(chunks)
        total += length
        buf = data[length:]
    sock.close()
    return total


def _post_h11(port: int, body: bytes, n: int) -> int:
    """h11 (python-hyper's sans-IO HTTP/1.1, pure Python) framing both ways over a raw socket."""
    import h11

    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn = h11.Connection(h11.CLIENT)
    headers = [("Host", f"127.0.0.1:{port}"), ("Content-Type", "application/soap+xml;charset=UTF-8"),
               ("Content-Length", str(len(body)))]
    total = 0
    for _ in range(n):
        out = conn.send(h11.Request(method="POST", target="/wsman", headers=headers))
        out += conn.send(h11.Data(data=body))
        out += conn.send(h11.EndOfMessage())
        sock.sendall(out)
        chunks = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Data):
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
        total += len(b"".join(chunks))
        conn.start_next_cycle()
    sock.close()
    return total


def _post_httptools(port: int, body: bytes, n: int) -> int:
    """httptools (the llhttp parser, C) reading the replies, the request head formatted by hand, over a raw
    socket: one parser per connection fed from one reused buffer, as scanner.winrm.http_wire does."""
    import httptools

    class Reply:
        def __init__(self) -> None:
            self.headers: list[tuple[bytes, bytes]] = []
            self.chunks: list[bytes] = []
            self.done = False

        def on_message_begin(self) -> None:
            self.headers, self.chunks, self.done = [], [], False

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name, value))

        def on_body(self, data: bytes) -> None:
            self.chunks.append(data)

        def on_message_complete(self) -> None:
            self.done = True

    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/soap+xml;charset=UTF-8"
            f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    reply = Reply()
    parser = httptools.HttpResponseParser(reply)
    buffer = bytearray(65536)
    view = memoryview(buffer)
    total = 0
    for _ in range(n):
        sock.sendall(head + body)
        reply.done = False
        while not reply.done:
            parser.feed_data(view[:sock.recv_into(buffer)])
        total += len(b"".join(reply.chunks))
    sock.close()
    return total


def http_clients(n: int, cpus: tuple[set[int] | None, set[int] | None],
                 rounds: int = 5) -> list[dict[str, Any]]:
    """CPU per POST of each client, the clients taking turns (round after round, so a burst of load on the
    shared box hits all of them alike); this process on the scanner's cores, the server on the simulator's."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_reply_server, args=(child, cpus[1]), daemon=True)
    proc.start()
    port = parent.recv()
    body = b"<s:Envelope>" + b"r" * 2000 + b"</s:Envelope>"  # an encrypted Receive request is ~2 KB
    clients: tuple[tuple[str, Callable[[int, bytes, int], int]], ...] = (
        ("requests (pypsrp's transport)", _post_requests),
        ("http.client", _post_http_client),
        ("h11 (sans-IO, pure Python), raw socket", _post_h11),
        ("httptools (llhttp, C), raw socket (cmaudit's HTTP transport)", _post_httptools),
        ("hand-written framing, raw socket", _post_raw))
    getter = getattr(os, "sched_getaffinity", None)
    was = getter(0) if getter is not None else None
    pin(cpus[0])
    samples: dict[str, list[float]] = {name: [] for name, _ in clients}
    try:
        for _name, fn in clients:
            fn(port, body, 20)  # warm up: imports, first connection
        for _ in range(rounds):
            for name, fn in clients:
                t0 = time.thread_time()
                got = fn(port, body, n)
                samples[name].append((time.thread_time() - t0) * 1000 / n)
                assert got >= n * REPLY_BYTES
    finally:
        if was is not None:
            pin(was)
        parent.send("stop")
        proc.join(10)
    return [{"name": name, "cpu_ms_per_post": round(statistics.median(samples[name]), 3),
             "cpu_ms_per_post_min": round(min(samples[name]), 3)} for name, _ in clients]


# -- gzip level ------------------------------------------------------------------------------------------
def gzip_levels(log: bytes, repeat: int = 5) -> list[dict[str, Any]]:
    """CPU and size of the log gzipped at each level: the standard library's zlib, and ISA-L (isal, what the
    evidence is written with) where it is installed."""
    compressors: list[tuple[str, Callable[[bytes, int], bytes], range]] = [
        ("zlib", lambda data, level: gzip.compress(data, compresslevel=level, mtime=0), range(1, 10))]
    try:
        from isal import igzip

        compressors.append(("isal", lambda data, level: igzip.compress(data, compresslevel=level, mtime=0),
                            range(0, 4)))
    except ImportError:
        pass
    rows = []
    for library, compress, levels in compressors:
        for level in levels:
            samples = []
            size = 0
            for _ in range(repeat):
                t0 = time.thread_time()
                size = len(compress(log, level))
                samples.append(time.thread_time() - t0)
            rows.append({"library": library, "level": level, "cpu_ms": round(statistics.median(samples) * 1000, 2),
                         "ratio": round(len(log) / size, 2), "kb": round(size / 1024, 1)})
    return rows


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_cpu", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cpu-hosts", type=int, default=200, help="hosts per scan (one at a time)")
    parser.add_argument("--baseline", default=BASELINE_REF, help="git commit of the 'before' scanner")
    parser.add_argument("--cpu-repeat", type=int, default=3, help="scans per variant, interleaved; the median counts")
    parser.add_argument("--posts", type=int, default=300, help="POSTs per HTTP client measurement")
    parser.add_argument("--cg-hosts", type=int, default=40,
                        help="hosts per scan under callgrind (instruction counts; 0: not counted)")
    parser.add_argument("--cg-repeat", type=int, default=1, help="callgrind scans per variant")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of the table")
    parser.add_argument("--scan-child", action="store_true", help=argparse.SUPPRESS)
    args, _others = parser.parse_known_args(argv)
    return args


# (name, the scanner's root: None for the working tree, transport: None for the scanner's default)
Variant = tuple[str, Path | None, str | None]
Samples = dict[str, list[dict[str, Any]]]


def _variants(args: argparse.Namespace, tmp: Path) -> list[Variant]:
    """"before" (when the baseline can be extracted), "after", and "after, requests transport": today's scanner
    with pypsrp's own HTTP transport, to show what cmaudit's own transport alone changes (same code otherwise,
    so the verdicts must be identical)."""
    (tmp / "baseline").mkdir()
    base_root = extract_baseline(args.baseline, tmp / "baseline")
    variants: list[Variant] = [("after", None, None), ("after, requests transport", None, "requests")]
    if base_root is not None:
        variants.insert(0, ("before", base_root, None))
    return variants


def _measure(args: argparse.Namespace, variants: list[Variant], tmp: Path, password: str,
             cpus: tuple[set[int] | None, set[int] | None]) -> tuple[Samples, Samples, Any]:
    """(CPU samples, instruction counts, the simulator's pinning) of every variant, interleaved run by run."""
    scanner_cpus, sim_cpus = cpus
    runs: Samples = {name: [] for name, _, _ in variants}
    counted: Samples = {name: [] for name, _, _ in variants}
    # every host of the modern era: the "before" scanner predates the 2003/2008 eras' code page and TLS needs
    with ChildFleet(hosts=args.cpu_hosts, password=password, username=USER, cpus=sim_cpus, eras="modern") as fleet:
        inventory = write_inventory(fleet.rows, tmp / "hosts.csv")
        write_inventory(fleet.rows[:5], tmp / "warmup.csv")
        for attempt in range(max(1, args.cpu_repeat)):
            for name, root, transport in variants:
                runs[name].append(scan_cpu(fleet, root, inventory, tmp / f"{name[:5]}-{transport}-{attempt}",
                                           password, scanner_cpus, transport=transport))
        if args.cg_hosts > 0:
            (tmp / "cg").mkdir()
            cg_inventory = write_inventory(fleet.rows[:args.cg_hosts], tmp / "cg" / "hosts.csv")
            write_inventory(fleet.rows[:5], tmp / "cg" / "warmup.csv")
            for attempt in range(max(1, args.cg_repeat)):
                for name, root, transport in variants:
                    if transport is None:  # before and after: the ratio the target is about
                        counted[name].append(scan_instructions(
                            fleet, root, cg_inventory, tmp / "cg" / f"{name[:5]}-{attempt}", password, scanner_cpus))
        return runs, counted, fleet.pinned


def _per_host(good: list[dict[str, Any]], key: str) -> float:
    """The last good run's `key` per host."""
    return round(good[-1][key] / max(1, good[-1]["hosts"]), 2)


def _summarise(runs: Samples, counted: Samples) -> dict[str, Any]:
    """Per variant: CPU ms per host (median, min, every run), requests per host, errors, instructions per host."""
    summary: dict[str, Any] = {}
    for name, samples in runs.items():
        good = [s for s in samples if "cpu_s" in s]
        if not good:
            summary[name] = {"failed": samples[0].get("failed")}
            continue
        cpu_ms = [1000 * s["cpu_s"] / max(1, s["hosts"]) for s in good]
        summary[name] = {"cpu_ms_per_host": round(statistics.median(cpu_ms), 2),
                         "cpu_ms_per_host_min": round(min(cpu_ms), 2),
                         "cpu_ms_per_host_runs": [round(x, 2) for x in cpu_ms],
                         "http_requests_per_host": _per_host(good, "http_requests"),
                         "wsman_requests_per_host": _per_host(good, "wsman_requests"),
                         "errors": good[-1]["errors"], "scanner_pinned": good[-1]["pinned"],
                         "module": good[-1]["module"], "verdicts": good[-1]["verdicts"]}
    for name, samples in counted.items():
        if not samples or name not in summary:
            continue
        good = [s for s in samples if "instructions" in s]
        if not good:
            summary[name]["instructions_failed"] = samples[0].get("failed")
            continue
        per_host = [s["instructions"] / max(1, s["hosts"]) for s in good]
        summary[name]["minstr_per_host"] = round(statistics.median(per_host) / 1e6, 2)
        summary[name]["minstr_per_host_runs"] = [round(x / 1e6, 3) for x in per_host]
        summary[name]["callgrind_errors"] = good[-1]["errors"]
    return summary


def _ratios(summary: dict[str, Any]) -> dict[str, Any]:
    """after / before (CPU, instructions, verdicts) and cmaudit's transport / the requests transport."""
    result: dict[str, Any] = {}
    before, after = summary.get("before", {}), summary.get("after", {})
    if "cpu_ms_per_host" in before and "cpu_ms_per_host" in after:
        result["after_over_before"] = round(after["cpu_ms_per_host"] / before["cpu_ms_per_host"], 3)
        result["after_over_before_min"] = round(after["cpu_ms_per_host_min"] / before["cpu_ms_per_host_min"], 3)
        if "minstr_per_host" in before and "minstr_per_host" in after:
            result["instructions_after_over_before"] = round(after["minstr_per_host"] / before["minstr_per_host"], 3)
        result["same_verdicts"] = before["verdicts"] == after["verdicts"]
        result["verdicts_changed"] = sum(1 for a, b in zip(before["verdicts"], after["verdicts"], strict=False)
                                         if a != b)
    other = summary.get("after, requests transport", {})
    if "cpu_ms_per_host" in other and "cpu_ms_per_host" in after:
        result["own_transport_over_requests"] = round(after["cpu_ms_per_host"] / other["cpu_ms_per_host"], 3)
        result["own_transport_same_verdicts"] = other["verdicts"] == after["verdicts"]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    if args.scan_child:
        return _stdio_child()
    password = "Bench-" + secrets.token_urlsafe(16)
    scanner_cpus, sim_cpus = split_cores()
    load_before = load_average()
    result: dict[str, Any] = {"benchmark": "cpu", "machine": machine_info(),
                              "options": {"hosts": args.cpu_hosts, "baseline": args.baseline,
                                          "repeat": args.cpu_repeat, "concurrency": 1,
                                          "auth": "ntlm+encryption over http", "fleet": "mixed profiles, modern era"}}
    with tempfile.TemporaryDirectory(prefix="cmaudit-bench-cpu-") as tmp_name:
        tmp = Path(tmp_name)
        variants = _variants(args, tmp)
        runs, counted, result["simulator_pinned"] = _measure(args, variants, tmp, password, (scanner_cpus, sim_cpus))
    summary = _summarise(runs, counted)
    result["variants"] = summary
    result["options"]["cg_hosts"] = args.cg_hosts
    result.update(_ratios(summary))
    for variant in summary.values():
        variant.pop("verdicts", None)
    result["http_clients"] = http_clients(args.posts, (scanner_cpus, sim_cpus))
    from bench.bench_parser import make_log

    result["gzip"] = gzip_levels(make_log(330 * 1024).encode("utf-8"))
    result["load_average"] = {"before": load_before, "after": load_average()}
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
