"""A simulated fleet in a separate process, so the servers' CPU does not distort the scanner's figures.

    with ChildFleet(hosts=1000, latency_ms=20, password=pw) as fleet:
        fleet.write_inventory(path)      # CSV inventory of the child's hosts
        ... scan ...
        totals = fleet.counters()        # per-host server-side counters, summed and listed

The child is started with the `spawn` method (no fork of a process that already runs threads) and
talks over a Pipe: it sends its inventory rows once the hosts listen, then answers `counters` and
`stop`. The password travels through the pipe, never through argv.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

START_TIMEOUT_S = 600.0


@dataclass(frozen=True, slots=True)
class HostCounters:
    port: int
    profile: str
    requests: int
    bytes_in: int
    bytes_out: int
    auth_handshakes: int
    commands: int
    wrong_passwords: int = 0  # logons as the host's account with a wrong password (what a DC would count)


def pin(cpus: set[int] | None) -> str:
    """Pin this process (and the threads it starts later) to `cpus`; says what was done, for the report."""
    setter = getattr(os, "sched_setaffinity", None)
    if not cpus or setter is None:
        return "not pinned" + ("" if cpus else " (no cores to spare)")
    try:
        setter(0, cpus)
    except OSError as exc:
        return f"not pinned ({exc.strerror or exc})"
    return "cores " + ",".join(str(c) for c in sorted(cpus))


def pin_all_threads(cpus: set[int] | None) -> str:
    """Pin every thread of this process (the simulator's loop thread included) to `cpus` (None: all cores)."""
    getter, setter = getattr(os, "sched_getaffinity", None), getattr(os, "sched_setaffinity", None)
    if getter is None or setter is None:
        return "not pinned"
    target = cpus or set(range(os.cpu_count() or 1))
    try:
        for tid in os.listdir("/proc/self/task"):
            setter(int(tid), target)
    except OSError as exc:
        return f"not pinned ({exc.strerror or exc})"
    return "cores " + ",".join(str(c) for c in sorted(target)) if cpus else "not pinned (every core)"


def split_cores(scanner_share: int | None = None) -> tuple[set[int] | None, set[int] | None]:
    """(scanner cores, simulator cores): the simulator gets the last core(s), the scanner the rest.

    With one usable core (or no sched_setaffinity) nothing can be kept apart: (None, None).
    """
    getter = getattr(os, "sched_getaffinity", None)
    cores = sorted(getter(0)) if getter is not None else []
    if len(cores) < 2:
        return None, None
    share = scanner_share if scanner_share is not None else max(1, len(cores) // 2 if len(cores) > 3 else 1)
    share = min(max(1, share), len(cores) - 1)
    return set(cores[:share]), set(cores[share:])


def _serve(conn: Connection, options: dict[str, Any]) -> None:
    """Child process body: run a Fleet until told to stop."""
    pinned = pin(options.pop("cpus", None))
    from simulator import Fleet
    from simulator.profiles import load_machine

    log_size = options.pop("log_size", None)
    factory = None
    if log_size is not None:
        def factory(profile: str, hostname: str) -> Any:
            return load_machine(profile, hostname, log_size=log_size)
    try:
        fleet = Fleet(machine_factory=factory, **options)
        fleet.start()
    except BaseException as exc:  # noqa: BLE001 - report it to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    try:
        conn.send(("ready", fleet.inventory_rows(), [h.profile for h in fleet.hosts], fleet.ca_file, pinned))
        while True:
            command = conn.recv()
            if command == "counters":
                conn.send([HostCounters(h.port, h.profile, h.counters.requests, h.counters.bytes_in,
                                        h.counters.bytes_out, h.counters.auth_handshakes, len(h.commands),
                                        h.counters.wrong_passwords)
                           for h in fleet.hosts])
            elif command == "cpu":
                conn.send(time.process_time())
            elif isinstance(command, tuple) and command[0] == "pin":
                conn.send(pin_all_threads(command[1]))
            elif command == "reset":
                for h in fleet.hosts:
                    c = h.counters
                    c.requests = c.bytes_in = c.bytes_out = c.auth_handshakes = c.wrong_passwords = 0
                conn.send("ok")
            else:
                break
    except EOFError:
        pass
    finally:
        fleet.close()


class ChildFleet:
    """Start a `simulator.Fleet` in a child process (keyword arguments as for Fleet; `cpus`: pin the child to
    these cores with os.sched_setaffinity, so the simulator does not take the scanner's cores)."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.rows: list[dict[str, str]] = []
        self.profiles: list[str] = []
        self.ca_file: str | None = None
        self.pinned = "not pinned"
        self._conn: Connection | None = None
        self._proc: Any = None

    def __enter__(self) -> ChildFleet:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, dict(self.options)), name="cmaudit-bench-fleet",
                                 daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        if not parent.poll(START_TIMEOUT_S):
            self.close()
            raise RuntimeError("the simulated fleet did not start in time")
        message = parent.recv()
        if message[0] != "ready":
            self.close()
            raise RuntimeError(f"the simulated fleet failed to start: {message[1]}")
        _, self.rows, self.profiles, self.ca_file, self.pinned = message
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def counters(self) -> list[HostCounters]:
        assert self._conn is not None
        self._conn.send("counters")
        result: list[HostCounters] = self._conn.recv()
        return result

    def cpu_seconds(self) -> float:
        """CPU time the child (every simulated host) has used so far."""
        assert self._conn is not None
        self._conn.send("cpu")
        return float(self._conn.recv())

    def pin(self, cpus: set[int] | None) -> str:
        """Move the simulator to `cpus` (None: every core); says where it now runs."""
        assert self._conn is not None
        self._conn.send(("pin", cpus))
        self.pinned = str(self._conn.recv())
        return self.pinned

    def reset_counters(self) -> None:
        assert self._conn is not None
        self._conn.send("reset")
        self._conn.recv()

    def write_inventory(self, path: str | os.PathLike[str]) -> Path:
        return write_inventory(self.rows, path)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.send("stop")
            except OSError:
                pass
            conn.close()
        if self._proc is not None:
            self._proc.join(120)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(10)
            self._proc = None


def write_inventory(rows: list[dict[str, str]], path: str | os.PathLike[str]) -> Path:
    """The CSV inventory of `rows` (as Fleet.inventory_rows gives them: host, port, transport, auth, ...)."""
    target = Path(path)
    fields = list(dict.fromkeys(key for row in rows for key in row)) or ["host", "port", "transport", "auth"]
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return target


def machine_info() -> dict[str, Any]:
    """What a reader needs to weigh a figure: cores, CPU model, Python."""
    import platform

    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "platform": platform.platform(terse=True), "loadavg_at_start": load_average()}


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (other work on the machine while we measure), where the OS has them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None
