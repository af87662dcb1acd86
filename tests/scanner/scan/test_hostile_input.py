"""Hostile payloads from a site server: huge lines, XML bombs, broken UTF-16, NUL floods.

One scan covers every case (each host plays one), with a small --max-log-bytes so the memory bound
is tight. Where the server's answer cannot be trusted the host ends as ERROR/protocol; where the data
is merely odd (a log padded with NULs, a UTF-16 log with broken code units) the host gets the verdict
its log supports, because admins see such files on real site servers after a crash or a copy.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from scanner.model.records import ErrorCategory, Verdict
from simulator.fleet import Fleet
from simulator.profiles import expected_verdict, load_machine
from simulator.vm import VirtualMachine
from tests.support.scans import new_password, scan, write_inventory

pytestmark = pytest.mark.network

LOG = "C:\\Program Files\\Microsoft Configuration Manager\\Logs\\wsyncmgr.log"
CAP = 4 * 1024 * 1024  # --max-log-bytes for this scan
PAYLOAD = 50 * 1024 * 1024  # the hostile faults' size
MEMORY_CAP = 48 * 1024 * 1024  # below one payload: nothing hostile was held whole


def _log_of(machine: VirtualMachine) -> bytes:
    return next(data for path, data in machine.files.items() if path.lower().endswith("wsyncmgr.log"))


def _with_log(profile: str, mangle: Callable[[bytes], bytes]) -> Callable[[str], VirtualMachine]:
    def make(hostname: str) -> VirtualMachine:
        machine = load_machine(profile, hostname)
        machine.fs.add_file(LOG, mangle(_log_of(machine)))
        return machine
    return make


def _sprinkle_lone_surrogates(data: bytes) -> bytes:
    """A UTF-16LE log with a lone high surrogate every 4 KB and an odd trailing byte."""
    body = bytearray(data)
    for at in range(4096, len(body), 4096):
        body[at:at + 2] = b"\x00\xd8"
    return bytes(body) + b"\x41"


def _bomless(data: bytes) -> bytes:
    """The tail of a UTF-16LE log (no BOM, as a copy cut at an even offset leaves it), broken as above."""
    return _sprinkle_lone_surrogates(data[2:])[len(data) // 3 & ~1:]


# name: (profile, machine override or None, fault, expectation): an ErrorCategory or a Verdict name
CASES: dict[str, tuple[str, Callable[[str], VirtualMachine] | None, str, Any]] = {
    "50MB-line-in-stdout": ("sp1-affected", None, "bigline:50", ErrorCategory.PROTOCOL),
    "billion-laughs": ("sp1-affected", None, "xmlbomb", ErrorCategory.PROTOCOL),
    "xml-nested-50000-deep": ("sp1-affected", None, "deepxml", ErrorCategory.PROTOCOL),
    "50MB-nul-flood-in-type": ("sp1-affected", None, "nulflood:50", "sp1-affected"),
    "utf16-bom-lone-surrogates": ("utf16-log", _with_log("utf16-log", _sprinkle_lone_surrogates), "",
                                  "utf16-log"),
    "utf16-no-bom-lone-surrogates": ("utf16-log", _with_log("utf16-log", _bomless), "", "utf16-log"),
    "nul-padding-then-log": ("sp1-affected", _with_log("sp1-affected", lambda d: bytes(2 * 1024 * 1024) + d), "",
                             "sp1-affected"),
    "log-of-nuls-only": ("sp1-affected", _with_log("sp1-affected", lambda d: bytes(6 * 1024 * 1024)), "",
                         "unreadable"),
}
NAMES = list(CASES)


@pytest.fixture(scope="module")
def hostile_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[int], int]:
    password = new_password()
    tmp = tmp_path_factory.mktemp("hostile")
    overrides = {i: case[1] for i, case in enumerate(CASES.values())}

    def factory(profile: str, hostname: str) -> VirtualMachine:
        make = overrides.get(int(hostname[2:]))
        return make(hostname) if make else load_machine(profile, hostname)

    spec = ",".join(f"{i}={case[2]}" for i, case in enumerate(CASES.values()) if case[2])
    with Fleet(profiles=[case[0] for case in CASES.values()], password=password, faults=spec,
               machine_factory=factory) as fleet:
        inventory = write_inventory(tmp / "hosts.csv", fleet.inventory_rows())
        tracemalloc.start()
        try:
            # the peak counts from the first host on: reading the inventory allocates (untouched) room for
            # a 50 MB file up front, which says nothing about what a host can make the scan hold
            result = scan(inventory, tmp / "run", {"CMAUDIT_PASSWORD": password}, max_log_bytes=CAP,
                          concurrency=4, timeout=120.0, on_runner=lambda runner: tracemalloc.reset_peak())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        ports = [h.port for h in fleet.hosts]
    return result, ports, peak


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in NAMES])
def test_hostile_host_ends_as_decided(hostile_scan: tuple[Any, list[int], int], name: str) -> None:
    """Untrustworthy answers end as ERROR/protocol; odd but plausible logs get the verdict they support."""
    result, ports, _ = hostile_scan
    host = result.by_port()[ports[NAMES.index(name)]]
    expected = CASES[name][3]
    if isinstance(expected, ErrorCategory):
        assert host.verdict is Verdict.ERROR and host.error is not None, (host.verdict, host.reasons)
        assert host.error.category is expected, host.error
        assert "\n" not in host.error.message and len(host.error.message) <= 300
    elif expected == "unreadable":
        # a log of nothing but NULs proves nothing: never an all-clear, and the reason says why
        assert host.verdict in (Verdict.AT_RISK, Verdict.UNKNOWN), host.verdict
        assert any("unreadable" in reason for reason in host.reasons), host.reasons
    else:
        assert host.error is None, host.error
        assert host.verdict.value == expected_verdict(expected), host.reasons


def test_hostile_payloads_are_streamed_not_held(hostile_scan: tuple[Any, list[int], int]) -> None:
    """The scan's peak Python memory stays below one hostile payload, and capped logs are marked truncated."""
    result, ports, peak = hostile_scan
    assert peak < MEMORY_CAP, f"peak {peak / 1e6:.1f} MB"
    flooded = result.by_port()[ports[NAMES.index("50MB-nul-flood-in-type")]]
    assert any(log.truncated and log.size <= CAP for log in flooded.facts.logs), flooded.facts.logs
    assert result.outcome.paths["json"].is_file()


def test_every_hostile_host_has_a_result(hostile_scan: tuple[Any, list[int], int]) -> None:
    """No hostile host is missing from the results or aborts the run."""
    result, ports, _ = hostile_scan
    assert sorted(result.by_port()) == sorted(ports)
    assert not result.outcome.runner.interrupted
