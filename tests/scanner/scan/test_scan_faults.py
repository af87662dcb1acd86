"""A scan over a misbehaving simulated fleet: every host ends with the right verdict or error, on time."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from scanner.model.records import ErrorCategory, Verdict
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password, scan
from tests.support.scans import is_read_only

pytestmark = pytest.mark.network

FAULTS = {
    1: ("refuse", ErrorCategory.UNREACHABLE, 3),
    2: ("reset", ErrorCategory.UNREACHABLE, 3),
    3: ("hang", ErrorCategory.TIMEOUT, 1),
    4: ("http503x2", None, 3),  # recovers on the third try
    5: ("http500x1", None, 2),
    6: ("endless", ErrorCategory.TIMEOUT, 1),
    7: ("huge:8", None, 1),  # filler after the output: read up to a bound, then the verdict as usual
    8: ("badxml", ErrorCategory.PROTOCOL, 1),
    9: ("drip:20", ErrorCategory.TIMEOUT, 1),
}
TIMEOUT = 8.0  # the hanging hosts wait it out; room for the healthy ones on a loaded 2-core box
LOOP_LAG = 3.0  # how late a loaded event loop may notice a deadline


@pytest.fixture(scope="module")
def fault_scan(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    password = new_password()
    spec = ",".join(f"{i}={f}" for i, (f, _, _) in FAULTS.items())
    tmp = tmp_path_factory.mktemp("faults")
    with Fleet(hosts=12, password=password, faults=spec, machine_factory=healthy_machine,
               profiles=["healthy"] * 12) as fleet:
        t0 = time.monotonic()
        result = scan(fleet, tmp, password, timeout=TIMEOUT, retries=2)
        wall = time.monotonic() - t0
        workers = [t for t in threading.enumerate() if t.name.startswith("cmaudit-host")]
        for worker in workers:  # abandoned workers were woken by the abort: they end promptly
            worker.join(timeout=5)
        lingering = [t.name for t in workers if t.is_alive()]
        commands = [c for h in fleet.hosts for c in h.commands]
        counters = {h.port: h.counters for h in fleet.hosts}
        ports = [h.port for h in fleet.hosts]
    assert not lingering, lingering
    return result, wall, commands, counters, ports, password, tmp


@pytest.mark.parametrize("index", [pytest.param(i, id=f[0]) for i, f in FAULTS.items()])
def test_fault_ends_in_right_category(fault_scan, index: int) -> None:  # type: ignore[no-untyped-def]
    """Each misbehaving host ends with the expected error and a hint (or recovers) after the expected number of
    tries."""
    result, _, _, _, ports, _, _ = fault_scan
    host = result.by_port()[ports[index]]
    _, category, attempts = FAULTS[index]
    if category is None:
        assert host.verdict is not Verdict.ERROR, host.error
        assert host.facts.build == "4.00.6221.1000"
    else:
        assert host.verdict is Verdict.ERROR
        assert host.error is not None and host.error.category is category, host.error
        assert len(host.error.hint) > 20  # every ERROR says what to do
    assert host.attempts == attempts
    assert host.seconds <= TIMEOUT + LOOP_LAG


def test_healthy_hosts_unaffected_and_run_bounded(fault_scan) -> None:  # type: ignore[no-untyped-def]
    """Healthy hosts are judged normally and the whole run ends within one deadline plus a margin."""
    result, wall, _, counters, ports, _, _ = fault_scan
    for index in (0, 10, 11):
        host = result.by_port()[ports[index]]
        assert host.verdict is not Verdict.ERROR and host.attempts == 1
        assert host.requests <= 6  # Create, Command, Receive, Command, Receive, Delete
        assert counters[ports[index]].requests <= host.requests + 3  # + the NTLM handshake
    assert wall < TIMEOUT + 2 * LOOP_LAG + 6.0  # one deadline, not one per host: a correctness bound
    assert result.outcome.exit_status & 2  # incomplete audit


def test_only_read_only_commands_ran(fault_scan) -> None:  # type: ignore[no-untyped-def]
    """The simulator saw nothing but echo, reg query and type: the scan never writes to a server."""
    _, _, commands, _, _, _, _ = fault_scan
    assert commands
    assert all(is_read_only(c) for c in commands), [c for c in commands if not is_read_only(c)]


def test_results_json_covers_every_host(fault_scan) -> None:  # type: ignore[no-untyped-def]
    """results.json lists all hosts with verdict, timings and request counts."""
    result, _, _, _, ports, _, tmp = fault_scan
    doc = json.loads((tmp / "run" / "results.json").read_text(encoding="utf-8"))
    assert sorted(h["port"] for h in doc["hosts"]) == sorted(ports)
    assert doc["meta"]["options"]["timeout"] == TIMEOUT and doc["meta"]["insecure"] is False
    assert all(h["started"] and h["finished"] for h in doc["hosts"])
    assert all(h["error"]["hint"] for h in doc["hosts"] if h["verdict"] == "ERROR")


def test_password_appears_nowhere(fault_scan) -> None:  # type: ignore[no-untyped-def]
    """No output file, evidence copy, console text or error message contains the password."""
    import gzip

    result, _, _, _, _, password, tmp = fault_scan
    needle = password.encode()
    for path in Path(tmp).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
            assert needle not in data, path
    assert password not in result.stdout and password not in result.stderr
    assert all(password not in (h.error.message if h.error else "") for h in result.outcome.results.hosts)


def test_hostile_registry_path_is_not_run(tmp_path: Path) -> None:
    """A TraceFilename crafted to inject a command is refused; the host is judged without its log."""
    from simulator.registry import RegType
    from tests.support.fleet import healthy_machine as make

    def hostile(profile: str, name: str):  # type: ignore[no-untyped-def]
        machine = make(profile, name)
        machine.registry.set_value(r"HKLM\SOFTWARE\Microsoft\SMS\Tracing\SMS_WSUS_SYNC_MANAGER", "TraceFilename",
                                   RegType.REG_SZ, 'C:\\x.log" & echo pwned > C:\\owned.txt & type "C:\\y.log')
        return machine

    password = new_password()
    with Fleet(hosts=1, password=password, machine_factory=hostile, profiles=["h"]) as fleet:
        result = scan(fleet, tmp_path, password)
        commands = fleet.hosts[0].commands
    host = result.outcome.results.hosts[0]
    assert host.verdict is not Verdict.ERROR and host.facts.log_path is None
    assert len(commands) == 1 and all(is_read_only(c) for c in commands)


def test_evidence_write_failure_is_not_a_network_error(tmp_path: Path) -> None:
    """A run folder where evidence cannot be saved fails the host once, as a local error, not as unreachable."""
    password = new_password()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "evidence").write_text("in the way")  # evidence/<host>/ cannot be created
    with Fleet(hosts=1, password=password, machine_factory=healthy_machine, profiles=["healthy"]) as fleet:
        result = scan(fleet, tmp_path, password)
    host = result.outcome.results.hosts[0]
    assert host.verdict is Verdict.ERROR
    assert host.error is not None and host.error.category is ErrorCategory.LOCAL, host.error
    assert "evidence" in host.error.message
    assert host.attempts == 1


def test_a_bug_while_judging_is_internal_not_the_servers_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """A bug in cmaudit's engine ends the host as ERROR/internal (once, traceback in the debug log), never as a
    protocol error of a healthy server."""
    import scanner.scan.jobs

    def broken(snapshot: object, advisory: object, **_options: object) -> object:
        raise KeyError("a bug of ours")

    monkeypatch.setattr(scanner.scan.jobs, "evaluate", broken)  # the engine's evaluate, as the host jobs call it
    password = new_password()
    with Fleet(hosts=1, password=password, machine_factory=healthy_machine, profiles=["healthy"]) as fleet:
        with caplog.at_level("DEBUG", logger="scanner.scan.host_job"):
            result = scan(fleet, tmp_path, password)
    host = result.outcome.results.hosts[0]
    assert host.error is not None and host.error.category is ErrorCategory.INTERNAL, host.error
    assert "KeyError" in host.error.message and host.attempts == 1
    assert any("a bug of ours" in (r.exc_text or "") or (r.exc_info and "a bug of ours" in str(r.exc_info[1]))
               for r in caplog.records)


@pytest.mark.parametrize("where", ["pick_registry", "log_paths"])
def test_a_bug_while_reading_a_reply_is_internal_not_the_servers_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        where: str) -> None:
    """A bug in cmaudit's own reading of a healthy server's output (the registry's, the logs') is ERROR/internal,
    tried once, and the shell is still deleted; never "protocol: unexpected reply" blamed on the server."""
    import scanner.winrm.collect

    def broken(*_args: object, **_kwargs: object) -> object:
        raise KeyError("a bug of ours")

    monkeypatch.setattr(scanner.winrm.collect, where, broken)
    password = new_password()
    with Fleet(hosts=1, password=password, machine_factory=healthy_machine, profiles=["healthy"]) as fleet:
        result = scan(fleet, tmp_path, password)
        open_shells = fleet.hosts[0].open_shells
    host = result.outcome.results.hosts[0]
    assert host.error is not None and host.error.category is ErrorCategory.INTERNAL, host.error
    assert "KeyError" in host.error.message and host.attempts == 1 and open_shells == 0
