"""The Fleet API and the `cmaudit simulate` / `cmaudit demo` commands."""

from __future__ import annotations

import csv
import gc
import os
import signal
import socket
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest
import requests
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError

import simulator.fleet as fleet_module
from inventory import load_inventory
from scanner.cli.main import main
from simulator import Fleet
from tests.paths import REPO
from tests.support.simfakes import USER, FakeMachine, fake_factory, new_password

pytestmark = pytest.mark.network
ROOT = REPO


class TaggedMachine(FakeMachine):
    def __init__(self, profile: str, hostname: str) -> None:
        super().__init__(hostname)
        self.profile = profile

    def run(self, command_line, codepage=437):
        result = super().run(command_line, codepage)
        if command_line == "profile":
            return type(result)(self.profile.encode() + b"\r\n", b"", 0)
        return result


@pytest.fixture
def fake_profiles(monkeypatch):
    """Stand-in for simulator.profiles (the real one is tested with the virtual machines)."""
    module = types.SimpleNamespace(PROFILE_NAMES=("fake", "other"), load_machine=TaggedMachine,
                                   mixed_fleet=lambda n: (["fake", "other"] * n)[:n])
    monkeypatch.setattr(fleet_module, "_profiles", lambda: module)
    return module


def run_on(host, password, command):
    with Client("127.0.0.1", port=host.port, username=USER, password=password, ssl=False, auth="ntlm") as c:
        return c.execute_cmd(command)[0]


def test_inventory_lists_every_host_and_reads_back(tmp_path, fake_profiles):
    """write_inventory writes host,port,transport,auth(,address) rows that cmaudit's inventory reader accepts."""
    with Fleet(hosts=3, password=new_password()) as fleet:
        path = fleet.write_inventory(tmp_path / "hosts.csv")
        rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
        assert list(rows[0]) == ["host", "port", "transport", "auth", "address"]
        assert [(r["host"], int(r["port"]), r["transport"], r["auth"], r["address"]) for r in rows] == \
            [(h.name, h.port, "http", "ntlm", "127.0.0.1") for h in fleet.hosts]
        assert [h.profile for h in fleet.hosts] == ["fake", "other", "fake"]
        inventory = load_inventory(path)
        assert sorted((h.name, h.address, h.port) for h in inventory.hosts) == \
            sorted((h.name, "127.0.0.1", h.port) for h in fleet.hosts)


def test_tls_fleet_inventory_says_https_and_basic(tmp_path):
    """A TLS fleet writes https/basic rows and a CA file clients can validate with."""
    with Fleet(profiles=["fake"], tls=True, password=new_password(), machine_factory=fake_factory) as fleet:
        fleet.write_inventory(tmp_path / "hosts.csv")
        assert (tmp_path / "hosts.csv").read_text().splitlines()[1].endswith(",https,basic,127.0.0.1")
        ca_file = fleet.ca_file
        assert ca_file is not None and Path(ca_file).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert not os.path.exists(ca_file)


def test_set_profile_swaps_the_machine_between_scans(fake_profiles):
    """set_profile gives a host another machine behind the same name and port."""
    password = new_password()
    with Fleet(profiles=["fake", "fake"], password=password) as fleet:
        host = fleet.hosts[1]
        port = host.port
        assert run_on(host, password, "profile") == "fake\r\n"
        fleet.set_profile(1, "other")
        assert (host.port, host.profile) == (port, "other")
        assert run_on(host, password, "profile") == "other\r\n"
        assert host.commands == ["profile", "profile"]


def test_stop_and_start_one_host(tmp_path):
    """stop_host takes one host off the network (refused); start_host brings it back on the same port."""
    password = new_password()
    with Fleet(profiles=["fake", "fake"], password=password, machine_factory=fake_factory) as fleet:
        port = fleet.hosts[0].port
        fleet.stop_host(0)
        assert not fleet.hosts[0].running
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(fleet.hosts[0].url, data=b"", timeout=5)
        assert run_on(fleet.hosts[1], password, "echo other") == "other\r\n"
        fleet.start_host(0)
        assert fleet.hosts[0].port == port
        assert run_on(fleet.hosts[0], password, "echo back") == "back\r\n"


def test_counters_count_traffic_and_handshakes():
    """Per-host counters see requests, bytes both ways and one handshake per connection."""
    password = new_password()
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory) as fleet:
        run_on(fleet.hosts[0], password, "echo one")
        counters = fleet.hosts[0].counters
        assert counters.auth_handshakes == 1
        assert counters.requests >= 6  # anonymous, 2 handshake legs, Create, Command, Receive, Signal, Delete
        assert counters.bytes_in > 0 and counters.bytes_out > 0


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"profiles": ["fake"], "auth": "basic"}, "tls", id="basic-needs-tls"),
    pytest.param({"profiles": []}, "at least one host", id="no-hosts"),
    pytest.param({"hosts": None}, "hosts", id="neither"),
    pytest.param({"profiles": ["fake"], "faults": "3=hang"}, "out of range", id="fault-index"),
    pytest.param({"profiles": ["fake"], "username": "LAB\\a:b"}, "account", id="bad-user"),
])
def test_bad_fleet_options_are_refused(kwargs, message):
    """Contradictory or impossible fleet options raise ValueError before anything listens."""
    with pytest.raises(ValueError, match=message):
        Fleet(password="x", machine_factory=fake_factory, **kwargs)


def test_two_fleets_give_one_account_two_passwords():
    """Two fleets running at once may give the same account different passwords: each accepts only its own."""
    first, second = new_password(), new_password()
    with Fleet(profiles=["fake"], password=first, machine_factory=fake_factory) as one, \
            Fleet(profiles=["fake"], password=second, machine_factory=fake_factory) as two:
        for fleet, good, bad in ((one, first, second), (two, second, first)):
            port = fleet.hosts[0].port
            with Client("127.0.0.1", port=port, username=USER, password=good, ssl=False, auth="ntlm") as client:
                assert client.execute_cmd("echo mine")[0] == "mine\r\n"
            with pytest.raises(AuthenticationError), \
                    Client("127.0.0.1", port=port, username=USER, password=bad, ssl=False, auth="ntlm") as client:
                client.execute_cmd("echo theirs")


def test_simulate_needs_the_password_variable(monkeypatch, tmp_path, capsys):
    """`cmaudit simulate` without CMAUDIT_PASSWORD exits 64 and says which variable to set."""
    monkeypatch.delenv("CMAUDIT_PASSWORD", raising=False)
    assert main(["simulate", "--hosts", "1", "--inventory-out", str(tmp_path / "i.csv")]) == 64
    assert "CMAUDIT_PASSWORD" in capsys.readouterr().err


def test_simulate_rejects_a_bad_fault_spec(monkeypatch, tmp_path, capsys, fake_profiles):
    """A bad --faults SPEC is a one-line usage error (exit 64)."""
    monkeypatch.setenv("CMAUDIT_PASSWORD", new_password())
    assert main(["simulate", "--hosts", "2", "--faults", "5=hang", "--inventory-out", str(tmp_path / "i.csv")]) == 64
    assert "--faults" in capsys.readouterr().err


SIMULATE = """
import sys, types
import simulator.fleet as fleet_module
from tests.support.simfakes import fake_factory
module = types.SimpleNamespace(PROFILE_NAMES=("fake",), load_machine=fake_factory, mixed_fleet=lambda n: ["fake"] * n)
fleet_module._profiles = lambda: module
from scanner.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(os.name == "nt", reason="sends SIGTERM to another process (POSIX)")
def test_simulate_serves_until_sigterm(tmp_path):
    """`cmaudit simulate` writes the inventory, serves scans with $CMAUDIT_PASSWORD, and exits 0 on SIGTERM."""
    password = new_password()
    inventory = tmp_path / "fleet.csv"
    env = dict(os.environ, CMAUDIT_PASSWORD=password, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-c", SIMULATE, "simulate", "--hosts", "3", "--faults", "2=refuse",
            "--inventory-out", str(inventory)]
    with subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            lines = []
            while not lines or "ready" not in lines[-1]:
                line = proc.stdout.readline()
                assert line, proc.stderr.read()
                lines.append(line)
            assert password not in "".join(lines) and password not in " ".join(argv)
            rows = list(csv.DictReader(inventory.read_text(encoding="utf-8").splitlines()))
            assert len(rows) == 3
            with Client("127.0.0.1", port=int(rows[0]["port"]), username=USER, password=password, ssl=False,
                        auth=rows[0]["auth"]) as client:
                assert client.execute_cmd("hostname")[0] == "CM000\r\n"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.stderr.close()


def test_refusing_host_on_a_taken_port_fails_without_leaking_its_socket():
    """A refuse-fault host whose base_port is taken fails to start with OSError and leaves no open socket."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(OSError):
                Fleet(profiles=["fake"], password=new_password(), machine_factory=fake_factory, faults="0=refuse",
                      base_port=port).start()
            gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_simulate_tls_fleet_is_scannable_as_the_readme_says(tmp_path):
    """`cmaudit simulate --tls` followed by `cmaudit scan fleet.csv --username 'LAB\\auditor'` (README) judges a
    2003 R2 host: the inventory's auth is one a domain account can use on every era (WinRM Basic takes local
    accounts only before Server 2012, so a Basic default left every legacy host ERROR/auth)."""
    from scanner.cli.commands import simulate
    from scanner.cli.main import build_parser
    from scanner.model.records import Verdict
    from tests.support.scans import scan

    password = new_password()
    args = build_parser().parse_args(["simulate", "--hosts", "1", "--scenario", "sp1-affected", "--tls",
                                      "--inventory-out", str(tmp_path / "fleet.csv")])
    with simulate.start_fleet(args, password) as fleet:
        inventory = fleet.write_inventory(args.inventory_out)
        result = scan(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": password}, ca_file=fleet.ca_file)
    host = result.outcome.results.hosts[0]
    assert host.verdict is Verdict.AFFECTED, host.error
