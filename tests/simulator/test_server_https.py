"""HTTPS listeners: a certificate from a throwaway CA, Basic and NTLM logons, channel binding."""

from __future__ import annotations

import base64
import http.client
import ssl

import pytest
import requests
import spnego
import winrm
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError
from spnego.channel_bindings import GssChannelBindings

from simulator import Fleet
from tests.support.simfakes import fake_factory, new_password

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def password() -> str:
    return new_password()


@pytest.fixture(scope="module")
def https_fleet(password):
    with Fleet(profiles=["fake"], tls=True, password=password, machine_factory=fake_factory) as fleet:
        yield fleet


@pytest.mark.parametrize("auth", [pytest.param("basic", id="basic"), pytest.param("ntlm", id="ntlm-cbt"),
                                  pytest.param("negotiate", id="negotiate-cbt")])
def test_pypsrp_over_https_validates_the_ca_file(https_fleet, password, auth):
    """pypsrp validates the server certificate with fleet.ca_file and logs on with Basic, NTLM or Negotiate."""
    host = https_fleet.hosts[0]
    assert host.scheme == "https"
    with Client("127.0.0.1", port=host.port, username=https_fleet.username, password=password, ssl=True, auth=auth,
                cert_validation=https_fleet.ca_file) as client:
        assert client.execute_cmd("echo secure") == ("secure\r\n", "", 0)


@pytest.mark.parametrize("transport", [pytest.param("basic", id="basic"), pytest.param("ntlm", id="ntlm-cbt")])
def test_pywinrm_over_https(https_fleet, password, transport):
    """pywinrm works over HTTPS with the CA file, with Basic or NTLM (no message encryption inside TLS)."""
    session = winrm.Session(https_fleet.hosts[0].url, auth=(https_fleet.username, password), transport=transport,
                            ca_trust_path=https_fleet.ca_file)
    assert session.run_cmd("echo", ["hi"]).std_out == b"hi\r\n"


def test_wrong_basic_password_is_refused(https_fleet):
    """A wrong Basic password over HTTPS is an authentication error."""
    host = https_fleet.hosts[0]
    with pytest.raises(AuthenticationError), \
            Client("127.0.0.1", port=host.port, username=https_fleet.username, password="nope", ssl=True, auth="basic",
                   cert_validation=https_fleet.ca_file) as client:
        client.execute_cmd("echo x")


def test_certificate_is_not_trusted_without_the_ca_file(https_fleet):
    """Without the CA file a validating client rejects the simulator's certificate."""
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(https_fleet.hosts[0].url, data=b"", timeout=10,
                      verify=ssl.get_default_verify_paths().cafile or True)


def _ntlm_over_https(fleet, password, bindings):
    """Run a raw NTLM handshake on one TLS connection; return the final HTTP status."""
    context = ssl.create_default_context(cafile=fleet.ca_file)
    conn = http.client.HTTPSConnection("127.0.0.1", fleet.hosts[0].port, context=context, timeout=10)
    try:
        client = spnego.client(fleet.username, password, protocol="ntlm", channel_bindings=bindings)
        token = client.step()
        assert token is not None
        for _ in range(3):
            conn.request("POST", "/wsman", body=b"", headers={
                "Authorization": "Negotiate " + base64.b64encode(token).decode(), "Content-Length": "0"})
            response = conn.getresponse()
            response.read()
            challenge = response.getheader("WWW-Authenticate", "")
            if response.status != 401 or not challenge.startswith("Negotiate "):
                return response.status
            token = client.step(base64.b64decode(challenge.split(" ", 1)[1]))
            assert token is not None
        return response.status
    finally:
        conn.close()


def test_channel_binding_is_checked_when_sent(https_fleet, password):
    """NTLM bound to another certificate is refused; unbound NTLM is accepted (CbtHardeningLevel=Relaxed)."""
    wrong = GssChannelBindings(application_data=b"tls-server-end-point:" + b"\x01" * 32)
    assert _ntlm_over_https(https_fleet, password, wrong) == 401
    assert _ntlm_over_https(https_fleet, password, None) == 200
