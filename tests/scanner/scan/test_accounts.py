"""Which spellings of a user name share one lockout allowance."""

from __future__ import annotations

import pytest

from scanner.model.host import Host
from scanner.scan.accounts import AccountKey, identity, same_account


def _host(name: str, user: str | None = None, password_env: str | None = None) -> Host:
    return Host(name=name, address=name, port=5985, scheme="http", auth="ntlm", username=user,
                password_env=password_env)


@pytest.mark.parametrize(("one", "other", "same"), [
    pytest.param("LAB\\auditor", "lab\\AUDITOR", True, id="case"),
    pytest.param("LAB\\auditor", "auditor@LAB.TEST", True, id="upn-whose-realm-starts-with-the-domain"),
    pytest.param("LAB\\auditor", "auditor@lab.example.com", True, id="upn-in-lower-case"),
    pytest.param("LAB\\auditor", "auditor", True, id="a-bare-name-may-be-any-domain"),
    pytest.param("LAB\\auditor", ".\\auditor", True, id="dot-is-not-a-domain"),
    pytest.param("LAB\\auditor", "OTHER\\auditor", False, id="two-domains"),
    pytest.param("LAB\\auditor", "auditor@CORP.TEST", False, id="a-realm-of-another-name"),
    pytest.param("LAB\\auditor", "LAB\\reader", False, id="two-users"),
])
def test_which_spellings_name_one_account(one: str, other: str, same: bool) -> None:
    """The README's table: names compare case-insensitively, a UPN's realm by its first label, and a name without
    a domain could be any of them."""
    assert same_account(identity(one), identity(other)) is same


def test_a_bare_name_joins_every_spelling_of_the_run_into_one_account() -> None:
    """When one row says only `auditor`, cmaudit cannot know its domain: every spelling of the name shares one
    allowance, shown as the run first spelled it; another user keeps its own."""
    hosts = [_host("a", "LAB\\auditor"), _host("b", "OTHER\\Auditor"), _host("c", "auditor", "PW_C"),
             _host("d", "LAB\\reader")]
    key = AccountKey.for_run(None, hosts)
    accounts = [key(h) for h in hosts]
    assert accounts[0] == accounts[1] == accounts[2] != accounts[3]
    assert str(accounts[2]) == "LAB\\auditor"


def test_domains_count_apart_when_every_spelling_names_one() -> None:
    """Without a bare name in the run, LAB\\auditor and OTHER\\auditor are two accounts; the password source and
    --username's spelling never split one."""
    hosts = [_host("a", None, "PW_A"), _host("b", "lab\\AUDITOR", "PW_B"), _host("c", "OTHER\\auditor")]
    key = AccountKey.for_run("LAB\\auditor", hosts)
    assert key(hosts[0]) == key(hosts[1]) != key(hosts[2])
    assert str(key(hosts[1])) == "LAB\\auditor"
