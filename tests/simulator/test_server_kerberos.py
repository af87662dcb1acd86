"""Kerberos on the simulated hosts, against a real MIT KDC on loopback: the WinRM client stack (pypsrp,
pyspnego, gssapi) logs on with a ticket, with message encryption on HTTP and channel binding on HTTPS."""

from __future__ import annotations

import os

import pytest
import requests
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError
from pypsrp.shell import WinRS
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

from scanner.model.host import Host
from scanner.winrm.session import HostSession, SessionOptions
from scanner.winrm.transport import LogonFailed
from simulator import kerberos as sim_kerberos
from simulator import ntlm_store
from tests.support.kerberos import kerberos_fleet as support_fleet
from tests.support.simfakes import USER, fake_factory

pytestmark = [pytest.mark.network, pytest.mark.kerberos]

DOMAIN = "lab.test"


def kerberos_fleet(kdc, *, hosts=1, **kwargs):
    """`hosts` fake hosts CM00i.lab.test whose SPNs are in the KDC."""
    return support_fleet(kdc, profiles=["fake"] * hosts, machine_factory=fake_factory, **kwargs)


def client(fleet, index=0, **kwargs):
    host = fleet.hosts[index]
    options = dict(port=host.port, ssl=host.scheme == "https", auth="kerberos", negotiate_service="HTTP",
                   negotiate_hostname_override=host.name, cert_validation=fleet.ca_file or False)
    options.update(kwargs)
    return Client("127.0.0.1", **options)


@pytest.mark.parametrize("auth", [pytest.param("kerberos", id="kerberos"), pytest.param("negotiate", id="negotiate")])
def test_ticket_logon_over_http_is_encrypted(kdc, monkeypatch, auth):
    """A kinit ticket logs on over HTTP with message encryption, under the Kerberos or Negotiate scheme."""
    ccache = f"FILE:{kdc.tmpdir / 'ticket'}"
    kdc.kinit(ccache)
    monkeypatch.setenv("KRB5CCNAME", ccache)
    with kerberos_fleet(kdc) as fleet, client(fleet, auth=auth) as c:
        assert c.execute_cmd("echo sealed") == ("sealed\r\n", "", 0)
        counters = fleet.hosts[0].counters
        assert counters.kerberos_logons >= 1 and counters.ntlm_logons == 0
    assert kdc.service_tickets(f"HTTP/cm000.{DOMAIN}") == 1


def test_ticket_logon_over_https_checks_the_channel_binding(kdc, monkeypatch):
    """Over HTTPS the client binds its ticket to the server's certificate and the host checks it."""
    ccache = f"FILE:{kdc.tmpdir / 'ticket'}"
    kdc.kinit(ccache)
    monkeypatch.setenv("KRB5CCNAME", ccache)
    with kerberos_fleet(kdc, tls=True) as fleet:
        with client(fleet) as c:
            assert c.execute_cmd("echo bound")[0] == "bound\r\n"
        assert fleet.hosts[0].counters.kerberos_logons == 1
        # the host now expects another certificate's binding (as behind a TLS-terminating proxy)
        fleet.hosts[0]._server._bindings = GssChannelBindings(application_data=b"tls-server-end-point:" + bytes(32))
        with pytest.raises(AuthenticationError), client(fleet) as c:
            c.execute_cmd("echo unbound")
        assert "binding" in fleet.hosts[0].counters.last_auth_error.lower()


def test_a_ticket_for_another_host_is_refused(kdc, monkeypatch):
    """A ticket for CM001's SPN presented to CM000 fails, as it cannot be decrypted with CM000's key."""
    ccache = f"FILE:{kdc.tmpdir / 'ticket'}"
    kdc.kinit(ccache)
    monkeypatch.setenv("KRB5CCNAME", ccache)
    with kerberos_fleet(kdc, hosts=2) as fleet:
        with pytest.raises(AuthenticationError), client(fleet, 0, negotiate_hostname_override=fleet.hosts[1].name) as c:
            c.execute_cmd("echo wrong host")
        assert fleet.hosts[0].counters.auth_failures >= 1 and fleet.hosts[0].counters.kerberos_logons == 0


def test_ntlm_refused_by_policy_while_kerberos_works(kdc, monkeypatch):
    """With NTLM denied by policy the host refuses the account's NTLM logon but accepts its Kerberos ticket."""
    with kerberos_fleet(kdc, faults="0=nontlm") as fleet:
        with pytest.raises(AuthenticationError), \
                client(fleet, auth="ntlm", username=USER, password=kdc.password) as c:
            c.execute_cmd("echo ntlm")
        assert "NTLM" in fleet.hosts[0].counters.last_auth_error
        ccache = f"FILE:{kdc.tmpdir / 'ticket'}"
        kdc.kinit(ccache)
        monkeypatch.setenv("KRB5CCNAME", ccache)
        with client(fleet, auth="negotiate") as c:
            assert c.execute_cmd("echo kerberos")[0] == "kerberos\r\n"
        assert fleet.hosts[0].counters.kerberos_logons == 1 and fleet.hosts[0].counters.ntlm_logons == 0


def test_kerberos_only_listener_offers_only_kerberos(kdc, monkeypatch):
    """A listener with Negotiate turned off answers `WWW-Authenticate: Kerberos` alone; a negotiate client
    then logs on under the Kerberos scheme with Kerberos-framed message encryption."""
    with kerberos_fleet(kdc, faults="0=krbonly") as fleet:
        reply = requests.post(fleet.hosts[0].url, data=b"", timeout=10)
        assert reply.status_code == 401 and reply.headers["WWW-Authenticate"] == "Kerberos"
        ccache = f"FILE:{kdc.tmpdir / 'ticket'}"
        kdc.kinit(ccache)
        monkeypatch.setenv("KRB5CCNAME", ccache)
        with client(fleet, auth="negotiate") as c:
            assert c.execute_cmd("echo krb")[0] == "krb\r\n"
        assert fleet.hosts[0].counters.kerberos_logons == 1


@pytest.mark.parametrize("auth", ["negotiate", "ntlm", "kerberos"])
def test_no_ticket_no_logon(kdc, auth):
    """Without a ticket or a password the client cannot log on, even with the simulator in the same
    process: the fleet's NTLM accounts are never offered to clients (no NTLM_USER_FILE)."""
    with kerberos_fleet(kdc) as fleet:
        assert "NTLM_USER_FILE" not in os.environ
        host = fleet.hosts[0]
        target = Host(name=host.name, address="127.0.0.1", port=host.port, scheme="http", auth=auth)
        session = HostSession(target, SessionOptions(connect_timeout=5, read_timeout=10, operation_timeout=5))
        try:
            with pytest.raises(LogonFailed) as refused:
                WinRS(session.wsman).open()
            assert isinstance(refused.value.cause, SpnegoError)
        finally:
            session.close()  # also closes the socket pypsrp leaves behind when the handshake fails
        assert host.counters.auth_handshakes == 0 and host.commands == []


def test_pyspnego_internals_the_simulator_relies_on_are_there():
    """The private pyspnego hooks the simulator's acceptors use exist in the installed version (where they do
    not, every test that needs a fleet is skipped with this one's reason, naming them)."""
    ntlm_store.check_internals()
    if sim_kerberos.available() is None:
        assert sim_kerberos.missing_internals() == []
