"""A mixed fleet where about a fifth of the hosts misbehave: every host gets its right result, on time.

Main fleet: NTLM with message encryption over HTTP, every profile (mixed_fleet), faults on 9 hosts and
a wrong password on one host's own credential. A small HTTPS fleet beside it: one good host, one with
an expired certificate, one signed by a CA the scan does not trust. One scan covers all of them.
"""

from __future__ import annotations

import math
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from scanner.model.records import ErrorCategory, Verdict
from simulator.fleet import Fleet
from simulator.profiles import expected_verdict, mixed_fleet
from tests.support.scans import is_read_only, new_password, scan, write_inventory

pytestmark = pytest.mark.network

HOSTS = 45
CONCURRENCY = 16
# Room for a healthy host on a loaded 2-core machine; the hanging hosts wait it out concurrently.
DEADLINE = 10.0
# After the deadline the runner gives an aborted worker up to abort_grace (2 s) to return; then the
# reports. These are correctness bounds (no host may hold a slot long past its deadline), not targets.
MARGIN = 2.0 + 8.0
LOOP_LAG = 3.0
HUGE_MB = 64
MEMORY_CAP = 48 * 1024 * 1024  # below the one enormous reply: it was not held

# main-fleet index: (fault, expected error category or None for "recovers with the profile's verdict", attempts)
FAULTS: dict[int, tuple[str, ErrorCategory | None, int]] = {
    1: ("refuse", ErrorCategory.UNREACHABLE, 3),
    6: ("reset", ErrorCategory.UNREACHABLE, 3),
    11: ("hang", ErrorCategory.TIMEOUT, 1),
    16: ("http503x2", None, 3),
    21: ("http500x1", None, 2),
    26: ("endless", ErrorCategory.TIMEOUT, 1),
    31: ("huge:8", None, 1),  # filler after the output; the 64 MB case runs alone (test_memory_stays_bounded)
    36: ("badxml", ErrorCategory.PROTOCOL, 1),
    41: ("drip:1", ErrorCategory.TIMEOUT, 1),
}
BAD_CREDENTIAL = 3  # healthy host whose inventory row names its own (wrong) password variable
TLS_FAULTS = {1: ("expiredcert", ErrorCategory.TLS), 2: ("untrustedcert", ErrorCategory.TLS)}


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    password = new_password()
    wrong = new_password()
    tmp = tmp_path_factory.mktemp("fault-fleet")
    profiles = mixed_fleet(HOSTS)
    spec = ",".join(f"{i}={fault}" for i, (fault, _, _) in FAULTS.items())
    tls_spec = ",".join(f"{i}={fault}" for i, (fault, _) in TLS_FAULTS.items())
    with Fleet(profiles=profiles, password=password, faults=spec) as fleet, \
            Fleet(profiles=["sp1-affected"] * 3, tls=True, password=password, faults=tls_spec,
                  eras="modern") as tls_fleet:
        rows = fleet.inventory_rows()
        rows[BAD_CREDENTIAL] = {**rows[BAD_CREDENTIAL], "password_env": "CMAUDIT_TEST_OWN_PASSWORD"}
        rows += [{**row, "username": tls_fleet.username} for row in tls_fleet.inventory_rows()]  # Basic: local
        inventory = write_inventory(tmp / "hosts.csv", rows)
        environ = {"CMAUDIT_PASSWORD": password, "CMAUDIT_TEST_OWN_PASSWORD": wrong}
        t0 = time.monotonic()
        ca_bundle = tmp / "ca.pem"  # the main fleet's HTTPS-only 2003 host has its own (legacy) CA
        ca_bundle.write_bytes(b"".join(Path(f).read_bytes() for f in (fleet.ca_file, tls_fleet.ca_file) if f))
        result = scan(inventory, tmp / "run", environ, concurrency=CONCURRENCY, timeout=DEADLINE,
                      ca_file=str(ca_bundle))
        wall = time.monotonic() - t0
        workers = [t for t in threading.enumerate() if t.name.startswith("cmaudit-host")]
        for worker in workers:
            worker.join(timeout=5)
        return {
            "result": result, "wall": wall, "hosts": len(rows),
            "ports": [h.port for h in fleet.hosts], "tls_ports": [h.port for h in tls_fleet.hosts],
            "profiles": profiles, "commands": [c for f in (fleet, tls_fleet) for h in f.hosts for c in h.commands],
            "auth_failures": {h.index: h.counters.auth_failures for h in fleet.hosts},
            "lingering": [t.name for t in workers if t.is_alive()],
        }


def test_every_host_has_exactly_one_result(fault_run: dict[str, Any]) -> None:
    """results.json lists every inventory host once, faulty or not."""
    result = fault_run["result"]
    assert len(result.outcome.results.hosts) == fault_run["hosts"]
    assert sorted(result.by_port()) == sorted(fault_run["ports"] + fault_run["tls_ports"])
    assert result.outcome.paths["json"].is_file()


@pytest.mark.parametrize("index", [pytest.param(i, id=f[0]) for i, f in FAULTS.items()])
def test_faulty_host_ends_in_its_category(fault_run: dict[str, Any], index: int) -> None:
    """Each misbehaving host ends with its error category, or recovers to its profile's verdict by retrying."""
    fault, category, attempts = FAULTS[index]
    host = fault_run["result"].by_port()[fault_run["ports"][index]]
    if category is None:
        assert host.error is None, host.error
        assert host.verdict.value == expected_verdict(fault_run["profiles"][index])
    else:
        assert host.verdict is Verdict.ERROR and host.error is not None
        assert host.error.category is category, host.error
    assert host.attempts == attempts, (fault, host.attempts, host.error)


@pytest.mark.parametrize("index", [pytest.param(i, id=f[0]) for i, f in TLS_FAULTS.items()])
def test_bad_certificate_is_refused_without_retry(fault_run: dict[str, Any], index: int) -> None:
    """An expired or untrusted HTTPS certificate ends the host as ERROR/tls, once, never trusted, with a hint naming
    --ca-file."""
    host = fault_run["result"].by_port()[fault_run["tls_ports"][index]]
    assert host.verdict is Verdict.ERROR and host.error is not None
    assert host.error.category is TLS_FAULTS[index][1] and "certificate" in host.error.message, host.error
    assert "--ca-file" in host.error.hint
    assert host.attempts == 1


def test_healthy_hosts_get_their_profile_verdict(fault_run: dict[str, Any]) -> None:
    """Hosts without faults are unaffected by their neighbours: each gets its profile's expected verdict."""
    by_port = fault_run["result"].by_port()
    wrong: dict[object, tuple[object, ...]] = {}
    for index, (port, profile) in enumerate(zip(fault_run["ports"], fault_run["profiles"], strict=True)):
        if index in FAULTS or index == BAD_CREDENTIAL:
            continue
        host = by_port[port]
        if host.verdict.value != expected_verdict(profile) or host.attempts != 1:
            wrong[index] = (profile, host.verdict, host.attempts, host.error)
    good_tls = by_port[fault_run["tls_ports"][0]]
    if good_tls.verdict.value != expected_verdict("sp1-affected"):
        wrong["tls-0"] = ("sp1-affected", good_tls.verdict, good_tls.error)
    assert not wrong, wrong


def test_one_bad_host_credential_fails_alone(fault_run: dict[str, Any]) -> None:
    """A wrong password on one host's own credential is an auth error for that host only, tried once."""
    result = fault_run["result"]
    host = result.by_port()[fault_run["ports"][BAD_CREDENTIAL]]
    assert host.verdict is Verdict.ERROR and host.error is not None
    assert host.error.category is ErrorCategory.AUTH and host.attempts == 1
    assert fault_run["auth_failures"][BAD_CREDENTIAL] >= 1
    assert not result.outcome.runner.breaker_tripped
    skipped = [h for h in result.outcome.results.hosts if h.error and h.error.category is ErrorCategory.AUTH_SKIPPED]
    assert not skipped
    assert sum(1 for h in result.outcome.results.hosts if h.error and h.error.category is ErrorCategory.AUTH) == 1


def test_run_ends_within_rounds_times_deadline(fault_run: dict[str, Any]) -> None:
    """The whole run ends within ceil(hosts / concurrency) x deadline plus a small margin; no worker lingers."""
    bound = math.ceil(fault_run["hosts"] / CONCURRENCY) * DEADLINE + MARGIN
    assert fault_run["wall"] <= bound, (fault_run["wall"], bound)
    assert all(h.seconds <= DEADLINE + LOOP_LAG for h in fault_run["result"].outcome.results.hosts)
    assert not fault_run["lingering"]


def test_memory_stays_bounded(tmp_path) -> None:
    """A host sending 64 MB of stdout beside a healthy one does not make the scan hold it: peak below the payload.

    Alone, because tracemalloc slows every thread several times over and would starve a mixed fleet.
    """
    password = new_password()
    with Fleet(profiles=["sp1-affected"] * 2, password=password, faults=f"0=huge:{HUGE_MB}") as fleet:
        inventory = write_inventory(tmp_path / "hosts.csv", fleet.inventory_rows())
        tracemalloc.start()
        try:
            result = scan(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": password}, timeout=60.0,
                          on_runner=lambda runner: tracemalloc.reset_peak())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < MEMORY_CAP, f"{peak / 1e6:.1f} MB"
    assert [h.verdict.value for h in result.outcome.results.hosts] == [expected_verdict("sp1-affected")] * 2


def test_only_read_only_commands_ran(fault_run: dict[str, Any]) -> None:
    """Faults or not, every command the hosts recorded is on the read-only allowlist."""
    commands = fault_run["commands"]
    assert commands and all(is_read_only(line) for line in commands)
