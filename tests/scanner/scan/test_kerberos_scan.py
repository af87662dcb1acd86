"""`cmaudit scan` with Kerberos against simulated hosts and a real MIT KDC on loopback: every way a jump box
gets its ticket, the SPN, what a Kerberos failure says, and that nothing is tried before it is settled."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from scanner.model.records import ErrorCategory, Verdict
from tests.support.kerberos import DOMAIN, kerberos_fleet
from tests.support.scans import scan

pytestmark = [pytest.mark.network, pytest.mark.kerberos]


def kscan(fleet, tmp_path: Path, *, password: str | None = None, **overrides):
    """Scan `fleet` from its own inventory (host = CM00i.lab.test, address = 127.0.0.1)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    inventory = fleet.write_inventory(tmp_path / "hosts.csv")
    environ = {"CMAUDIT_PASSWORD": password} if password else {}
    settings: dict[str, Any] = dict(username=None, auth="kerberos", timeout=10.0, retries=0, concurrency=4,
                                    history=None)
    settings.update(overrides)
    return scan(inventory, tmp_path / "run", environ, **settings)


def judged(outcome) -> list[Verdict]:
    return [h.verdict for h in outcome.results.hosts]


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_ticket_from_kinit_without_a_user_name(kdc, tmp_path, monkeypatch, auth):
    """With a kinit ticket and no --username every host is judged, over Kerberos (never NTLM), with one
    service ticket per host's SPN; the SPN comes from the host's name although `address` is 127.0.0.1."""
    ccache = f"FILE:{kdc.tmpdir / 'admin-ticket'}"
    kdc.kinit(ccache)
    monkeypatch.setenv("KRB5CCNAME", ccache)
    with kerberos_fleet(kdc, hosts=3, auth=auth) as fleet:
        result = kscan(fleet, tmp_path, auth=auth)
        assert judged(result.outcome) == [Verdict.AFFECTED] * 3, result.stderr
        assert all(h.counters.kerberos_logons >= 1 and h.counters.ntlm_logons == 0 for h in fleet.hosts)
    assert all(kdc.service_tickets(f"HTTP/cm{i:03d}.{DOMAIN}") == 1 for i in range(3))
    assert result.outcome.exit_status == 1


def test_user_and_password_get_one_tgt_for_the_whole_run(kdc, tmp_path, monkeypatch):
    """`--username auditor@LAB.TEST` with a password: one AS exchange for all hosts, in a private ticket cache
    that is gone afterwards; the admin's own ticket cache is neither read nor written."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    own_cache = kdc.tmpdir / "empty-ccache"
    with kerberos_fleet(kdc, hosts=4) as fleet:
        result = kscan(fleet, tmp_path, password=kdc.password, username=kdc.user)
        assert judged(result.outcome) == [Verdict.AFFECTED] * 4, result.stderr
    assert kdc.tgts_issued() == 1
    assert not own_cache.exists()
    assert not [p for p in (tmp_path / "tmp").iterdir() if p.name.startswith("cmaudit-krb5-")]


def test_client_keytab_as_systemd_runs_it(kdc, tmp_path, monkeypatch):
    """A client keytab in KRB5_CLIENT_KTNAME with a private KRB5CCNAME (docs/scheduling.md) scans without
    user name or password."""
    monkeypatch.setenv("KRB5_CLIENT_KTNAME", f"FILE:{kdc.client_keytab}")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'run-ccache'}")
    with kerberos_fleet(kdc, hosts=2) as fleet:
        result = kscan(fleet, tmp_path)
        assert judged(result.outcome) == [Verdict.AFFECTED] * 2, result.stderr
    assert kdc.tgts_issued() == 1


def test_negotiate_prefers_kerberos_and_survives_ntlm_refused(kdc, tmp_path):
    """--auth negotiate with user@REALM and a password logs on with Kerberos, also where the server refuses
    NTLM by policy; --auth ntlm against that server is an auth error that names no Kerberos problem."""
    with kerberos_fleet(kdc, hosts=2, faults="*=nontlm", auth="negotiate") as fleet:
        result = kscan(fleet, tmp_path / "a", password=kdc.password, username=kdc.user, auth="negotiate")
        assert judged(result.outcome) == [Verdict.AFFECTED] * 2, result.stderr
        assert all(h.counters.kerberos_logons >= 1 and h.counters.ntlm_logons == 0 for h in fleet.hosts)
        refused = kscan(fleet, tmp_path / "b", password=kdc.password, username="LAB\\auditor", auth="ntlm")
        errors = [h.error for h in refused.outcome.results.hosts]
        assert all(e is not None and e.category is ErrorCategory.AUTH for e in errors)


def test_negotiate_falls_back_to_ntlm_when_kerberos_cannot_work(kdc, tmp_path):
    """Where the SPN is missing, --auth negotiate with a password silently uses NTLM (as Windows does): the
    host is judged, and the server saw an NTLM logon, not a Kerberos one."""
    with kerberos_fleet(kdc, hosts=1, registered=[], auth="negotiate") as fleet:
        result = kscan(fleet, tmp_path, password=kdc.password, username=kdc.user, auth="negotiate")
        assert judged(result.outcome) == [Verdict.AFFECTED], result.stderr
        assert fleet.hosts[0].counters.ntlm_logons >= 1 and fleet.hosts[0].counters.kerberos_logons == 0


def test_missing_spn_says_which_and_how_to_register_it(kdc, tmp_path, monkeypatch):
    """A host whose SPN is not registered is ERROR/auth with the KDC's reason and a setspn hint; it is no
    rejected password, so the breaker (at 1) still lets the next host be scanned."""
    ccache = f"FILE:{kdc.tmpdir / 'ticket'}"
    kdc.kinit(ccache)
    monkeypatch.setenv("KRB5CCNAME", ccache)
    with kerberos_fleet(kdc, hosts=3, registered=[f"CM002.{DOMAIN}"]) as fleet:
        result = kscan(fleet, tmp_path, concurrency=1, max_auth_failures=1)
    hosts = result.outcome.results.hosts
    assert [h.verdict for h in hosts] == [Verdict.ERROR, Verdict.ERROR, Verdict.AFFECTED]
    error = hosts[0].error
    assert error is not None and error.category is ErrorCategory.AUTH
    assert "server not found in Kerberos database" in error.message and f"HTTP/cm000.{DOMAIN}" in error.message
    assert f"setspn -S HTTP/cm000.{DOMAIN} CM000" in error.hint
    assert "\n" not in error.message + error.hint


def test_spn_service_class_can_be_chosen(kdc, tmp_path, monkeypatch):
    """Hosts that registered only WSMAN/ fail with the default HTTP/ SPN and work with --spn-service WSMAN."""
    ccache = f"FILE:{kdc.tmpdir / 'ticket'}"
    kdc.kinit(ccache)
    monkeypatch.setenv("KRB5CCNAME", ccache)
    with kerberos_fleet(kdc, hosts=1, services=("WSMAN",)) as fleet:
        default = kscan(fleet, tmp_path / "http")
        chosen = kscan(fleet, tmp_path / "wsman", spn_service="WSMAN")
    assert default.outcome.results.hosts[0].error is not None
    assert "--spn-service" in default.outcome.results.hosts[0].error.hint
    assert judged(chosen.outcome) == [Verdict.AFFECTED]
    assert kdc.service_tickets(f"WSMAN/cm000.{DOMAIN}") == 1


def test_kerberos_by_ip_address_is_refused_before_contact(kdc, tmp_path, monkeypatch):
    """A host named only by its IP address cannot have an SPN: it is not tried, and the hint says to put the
    DNS name in `host`."""
    with kerberos_fleet(kdc, hosts=1) as fleet:
        inventory = tmp_path / "hosts.csv"
        inventory.write_text(f"host,port,transport,auth\n127.0.0.1,{fleet.hosts[0].port},http,kerberos\n",
                             encoding="utf-8")
        ccache = f"FILE:{kdc.tmpdir / 'ticket'}"
        kdc.kinit(ccache)
        monkeypatch.setenv("KRB5CCNAME", ccache)
        with pytest.raises(Exception, match="no SPN") as caught:
            scan(inventory, tmp_path / "run", {}, username=None)
        assert "DNS name" in str(caught.value)
        assert fleet.hosts[0].counters.connections == 0


def test_unchanged_environment_after_the_run(kdc, tmp_path):
    """A Kerberos scan leaves the process's Kerberos variables as they were (nothing process-wide is set)."""
    before = {k: v for k, v in os.environ.items() if k.startswith(("KRB5", "NTLM"))}
    with kerberos_fleet(kdc, hosts=1) as fleet:
        kscan(fleet, tmp_path, password=kdc.password, username=kdc.user)
    assert {k: v for k, v in os.environ.items() if k.startswith(("KRB5", "NTLM"))} == before
