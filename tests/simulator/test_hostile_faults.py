"""The simulator's hostile-payload faults deliver exactly what they promise (so the scan tests mean something)."""

from __future__ import annotations

import socket
import ssl
import warnings

import pytest
from defusedxml import ElementTree as SafeET
from defusedxml.common import EntitiesForbidden

from simulator.faults import FaultSpecError, HostFaults, parse_spec
from simulator.fleet import Fleet
from simulator.server import BILLION_LAUGHS, DEEP_XML
from simulator.wsman import _Output


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param("0=bigline", HostFaults(bigline_mb=50.0), id="bigline-default"),
    pytest.param("0=bigline:2", HostFaults(bigline_mb=2.0), id="bigline-2"),
    pytest.param("0=nulflood:0.5", HostFaults(nulflood_mb=0.5), id="nulflood"),
    pytest.param("0=xmlbomb+deepxml", HostFaults(xmlbomb=True, deepxml=True), id="xml"),
    pytest.param("0=expiredcert,0=untrustedcert", HostFaults(expiredcert=True, untrustedcert=True), id="certs"),
])
def test_hostile_fault_specs_parse(spec: str, expected: HostFaults) -> None:
    """`--faults` accepts the hostile-payload faults with their sizes."""
    assert parse_spec(spec, 1) == {0: expected}


def test_flag_faults_refuse_a_value() -> None:
    """A value on a flag fault is a spec error, not silently ignored."""
    with pytest.raises(FaultSpecError):
        parse_spec("0=xmlbomb:3", 1)


@pytest.mark.parametrize("piece", [pytest.param(n, id=f"read-{n}") for n in (1, 7, 4096, 10**6)])
def test_injected_bytes_arrive_once_at_their_offset(piece: int) -> None:
    """Reading an injected stream in any piece size yields data[:at] + payload + data[at:] + filler, lazily."""
    data = b"first line\r\nsecond line\r\nthird\r\n"
    out = _Output(data, 100, inject_at=12, inject=5000, pattern=b"\x00")
    chunks = []
    while not out.drained:
        chunk = out.read(piece)
        assert len(chunk) <= piece
        chunks.append(chunk)
    got = b"".join(chunks)
    assert got[:12] == data[:12] and got[12:5012] == bytes(5000)
    assert got[5012:5012 + len(data) - 12] == data[12:]
    assert len(got) == len(data) + 5000 + 100


def test_xml_payloads_are_what_they_claim() -> None:
    """The bomb declares nested entities (a safe parser refuses it); the deep reply is well-formed and deep."""
    with pytest.raises(EntitiesForbidden):
        SafeET.fromstring(BILLION_LAUGHS)
    assert BILLION_LAUGHS.count(b"<!ENTITY") >= 10 and len(BILLION_LAUGHS) < 2048
    root = SafeET.fromstring(DEEP_XML)
    depth, node = 0, root.find("{http://www.w3.org/2003/05/soap-envelope}Body")
    while node is not None and len(node):
        node, depth = node[0], depth + 1
    assert depth >= 50_000


@pytest.mark.network
@pytest.mark.parametrize("fault", ["expiredcert", "untrustedcert"])
@pytest.mark.parametrize("era", ["modern", "2008-winrm11"])
def test_bad_certificate_fails_validation_against_the_fleet_ca(fault: str, era: str) -> None:
    """A client trusting the fleet's CA accepts host 0's certificate and refuses host 1's, on a modern listener
    and on a 2008 one (TLS 1.0, SHA-1/RSA-1024, from the fleet's legacy CA)."""
    with Fleet(profiles=["sp1-healthy"] * 2, tls=True, password="pw-for-tls-test", faults=f"1={fault}",
               eras=era) as fleet:
        assert fleet.ca_file is not None
        context = ssl.create_default_context(cafile=fleet.ca_file)
        if era != "modern":
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # an era certificate has no Authority Key Identifier
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = ssl.TLSVersion.TLSv1
        good, bad = fleet.hosts
        with socket.create_connection(("127.0.0.1", good.port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1"):
            pass
        with socket.create_connection(("127.0.0.1", bad.port), timeout=5) as raw, \
                pytest.raises(ssl.SSLCertVerificationError) as caught:
            context.wrap_socket(raw, server_hostname="127.0.0.1")
        assert ("expired" in str(caught.value)) == (fault == "expiredcert")
