"""The WinRM front end in front of the real virtual site servers: what the machine says is what arrives."""

from __future__ import annotations

import pytest
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import WSMan

from simulator import Fleet, profiles
from tests.support.simfakes import USER, new_password

pytestmark = pytest.mark.network
LOG_BYTES = 4 * 1024 * 1024


def run_remote(host, password: str, executable: str, arguments: list[str]) -> tuple[bytes, bytes, int | None]:
    with WSMan("127.0.0.1", port=host.port, username=USER, password=password, ssl=False, auth="ntlm") as conn, \
            WinRS(conn) as shell:
        process = Process(shell, executable, arguments)
        process.invoke()
        process.signal(SignalCode.TERMINATE)
    return process.stdout, process.stderr, process.rc


def test_every_profile_answers_reg_query_through_winrm_as_the_machine_does():
    """For every profile, `reg query` over WinRM returns exactly the machine's bytes and exit code."""
    password = new_password()
    command = ["query", r"HKLM\SOFTWARE\Microsoft\SMS\Setup", "/s"]
    # run_remote speaks plain HTTP; the HTTPS-only profile's listener is tested in tests/simulator/test_eras.py
    names = [name for name in profiles.PROFILE_NAMES if profiles.load_profile(name).listener != "https"]
    with Fleet(profiles=names, password=password) as fleet:
        for host in fleet.hosts:
            expected = host.machine.run("reg " + " ".join(command), 437)
            remote = run_remote(host, password, "reg", command)
            assert remote == (expected.stdout, expected.stderr, expected.exit_code), host.profile
            assert host.counters.internal_errors == 0


def test_multi_megabyte_type_arrives_intact_within_max_envelope_size():
    """`type` of a 4 MB wsyncmgr.log arrives byte for byte over many Receives, none above 150 KiB."""
    password = new_password()
    plan = profiles.load_profile("sp1-affected").log
    assert plan is not None
    with Fleet(profiles=["sp1-affected"], password=password,
               machine_factory=lambda p, n: profiles.load_machine(p, n, log_size=LOG_BYTES)) as fleet:
        host = fleet.hosts[0]
        expected = host.machine.run(f'type "{plan.path}"', 437)
        assert len(expected.stdout) >= LOG_BYTES * 0.9
        stdout, stderr, rc = run_remote(host, password, "type", [f'"{plan.path}"'])
        assert (stdout, stderr, rc) == (expected.stdout, expected.stderr, expected.exit_code)
        assert host.counters.max_reply_envelope <= 153600
        assert host.counters.requests > LOG_BYTES // 153600
