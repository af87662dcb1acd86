"""Per-host faults: each misbehaves the way the SPEC says, and only on the host it names."""

from __future__ import annotations

import socket
import sys
import time
import xml.etree.ElementTree as ET

import pytest
import requests
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import WSMan

from simulator import Fleet, HostFaults
from simulator.faults import FaultSpecError, parse_spec
from tests.support.simfakes import USER, fake_factory, new_password

pytestmark = pytest.mark.network

SPEC = "0=refuse,1=reset,2=hang,3=http503x2,4=http500,5=badauth,6=badxml,7=endless,8=huge:1,9=drip:20," \
       "10=latency:300"


@pytest.fixture(scope="module")
def password() -> str:
    return new_password()


@pytest.fixture(scope="module")
def fleet(password):
    with Fleet(profiles=["fake"] * 12, password=password, machine_factory=fake_factory, faults=SPEC) as fleet:
        yield fleet


def client(fleet, password, index, **kwargs):
    return Client("127.0.0.1", port=fleet.hosts[index].port, username=USER, password=password, ssl=False,
                  auth="ntlm", **kwargs)


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param("", {}, id="empty"),
    pytest.param("2=refuse,5=hang", {2: HostFaults(refuse=True), 5: HostFaults(hang=True)}, id="two-hosts"),
    pytest.param("7=http503x2", {7: HostFaults(http_status=503, http_status_count=2)}, id="http503-twice"),
    pytest.param("1-2=latency:50+badxml", {1: HostFaults(latency_ms=50, badxml=True),
                                           2: HostFaults(latency_ms=50, badxml=True)}, id="range-and-plus"),
    pytest.param("*=drip", {i: HostFaults(drip_bps=1) for i in range(10)}, id="star-default-rate"),
    pytest.param("0=huge", {0: HostFaults(huge_mb=64)}, id="huge-default"),
])
def test_fault_spec_parses(spec, expected):
    """The --faults SPEC maps host indices to faults, with defaults where a value is optional."""
    assert parse_spec(spec, hosts=10) == expected


@pytest.mark.parametrize("spec", [
    pytest.param("10=hang", id="index-out-of-range"),
    pytest.param("1=explode", id="unknown-fault"),
    pytest.param("hang", id="no-host"),
    pytest.param("1=latency", id="missing-value"),
    pytest.param("1=refuse:3", id="unexpected-value"),
    pytest.param("3-1=hang", id="reversed-range"),
    pytest.param("1=http404", id="unsupported-status"),
])
def test_bad_fault_spec_is_rejected(spec):
    """A SPEC that cannot be understood is an error naming the item, not a silently healthy fleet."""
    with pytest.raises(FaultSpecError):
        parse_spec(spec, hosts=10)


def test_fault_free_host_in_a_faulty_fleet_works(password):
    """Faults stay on the hosts they name."""
    with Fleet(profiles=["fake", "fake"], password=password, machine_factory=fake_factory,
               faults="0=refuse") as fleet, client(fleet, password, 1) as c:
        assert c.execute_cmd("echo fine")[0] == "fine\r\n"


def test_refuse(fleet, password):
    """A refusing host's port is bound but connections are refused."""
    with pytest.raises(requests.exceptions.ConnectionError), client(fleet, password, 0) as c:
        c.execute_cmd("echo x")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", fleet.hosts[0].port), timeout=5).close()


def _under_wine() -> bool:
    """Windows CPython running under wine (make test-windows), not on Windows itself."""
    if sys.platform != "win32":
        return False
    import ctypes

    return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")


@pytest.mark.skipif(_under_wine(), reason="wine reports a TCP reset to the reader as the end of the stream")
def test_reset(fleet, password):
    """A resetting host drops the connection in the middle of its answer."""
    with pytest.raises(requests.exceptions.ConnectionError), client(fleet, password, 1) as c:
        c.execute_cmd("echo x")


def test_hang(fleet, password):
    """A hanging host reads the request and never answers: the client's read timeout fires."""
    with pytest.raises(requests.exceptions.ReadTimeout), client(fleet, password, 2, read_timeout=1) as c:
        c.execute_cmd("echo x")


def test_http503_for_the_first_two_requests_then_recovery(fleet, password):
    """http503x2 answers 503 twice, then the host behaves."""
    url = fleet.hosts[3].url
    statuses = [requests.post(url, data=b"", timeout=10).status_code for _ in range(3)]
    assert statuses == [503, 503, 401]
    with client(fleet, password, 3) as c:
        assert c.execute_cmd("echo back")[0] == "back\r\n"


def test_http500_every_time(fleet, password):
    """http500 without a count answers 500 to every request; pypsrp reports a failed request."""
    url = fleet.hosts[4].url
    assert [requests.post(url, data=b"", timeout=10).status_code for _ in range(3)] == [500] * 3
    with pytest.raises((WinRMTransportError, WSManFaultError)), client(fleet, password, 4) as c:
        c.execute_cmd("echo x")


def test_badauth(fleet, password):
    """badauth rejects even the right password."""
    with pytest.raises(AuthenticationError), client(fleet, password, 5) as c:
        c.execute_cmd("echo x")
    assert fleet.hosts[5].counters.auth_failures >= 1


def test_badxml(fleet, password):
    """badxml answers with XML the client cannot parse."""
    with pytest.raises(ET.ParseError), client(fleet, password, 6) as c:
        c.execute_cmd("echo x")


def test_endless_receive_never_reaches_done(fleet, password):
    """endless: every Receive brings more output and CommandState stays Running."""
    conn = WSMan("127.0.0.1", port=fleet.hosts[7].port, username=USER, password=password, ssl=False, auth="ntlm")
    with conn, WinRS(conn) as shell:
        process = Process(shell, "echo", ["start"])
        process.begin_invoke()
        states = []
        for _ in range(4):
            state, rc, streams = shell.receive("stdout stderr", process.id)
            states.append((state.rsplit("/", 1)[-1], rc, bool(streams["stdout"])))
        process.signal(SignalCode.TERMINATE)
    assert states == [("Running", None, True)] * 4


def test_huge_stdout(fleet, password):
    """huge:1 appends a megabyte of filler to the real stdout."""
    with client(fleet, password, 8) as c:
        stdout, _, rc = c.execute_cmd("echo real")
    assert stdout.startswith("real\r\n") and len(stdout) >= 1024 * 1024 and rc == 0


def test_drip_writes_one_byte_at_a_time(fleet):
    """drip sends its answer a byte at a time (here 20 bytes/s), so reads trickle in."""
    with socket.create_connection(("127.0.0.1", fleet.hosts[9].port), timeout=10) as sock:
        sock.sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        started = time.monotonic()
        first = sock.recv(100)
        received = first
        while len(received) < 8:
            received += sock.recv(100)
        elapsed = time.monotonic() - started
    assert len(first) == 1
    assert received.startswith(b"HTTP/1.1")
    assert elapsed >= 6 / 20


def test_latency_delays_every_answer(fleet):
    """latency:300 holds each answer for 300 ms."""
    with socket.create_connection(("127.0.0.1", fleet.hosts[10].port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        answer = sock.recv(100)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 401")
    assert elapsed >= 0.3


def test_no_fault_host_answers_401_with_windows_challenges(fleet):
    """An anonymous request gets 401 with the WWW-Authenticate offers WinRM makes over HTTP."""
    with socket.create_connection(("127.0.0.1", fleet.hosts[11].port), timeout=10) as sock:
        sock.sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(1000)
    head = answer.decode().split("\r\n")
    assert head[0] == "HTTP/1.1 401 Unauthorized"
    assert "WWW-Authenticate: Negotiate" in head and "Server: Microsoft-HTTPAPI/2.0" in head
    assert not any(line.startswith("WWW-Authenticate: Basic") for line in head)
