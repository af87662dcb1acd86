"""Duplicates: the same host twice, however it is spelled, is reported and scanned once."""

from __future__ import annotations

import pytest

from inventory import load_inventory
from scanner.model.host import Host
from tests.inventory.conftest import DATA


def test_duplicates_across_spellings_are_scanned_once_with_warnings_naming_both_lines():
    """Case, a trailing dot, a short name and a repeated IP each collapse onto the first entry."""
    inventory = load_inventory(DATA / "duplicates.txt")
    assert [(h.name, h.port) for h in inventory.hosts] == [
        ("sms01.corp.example", 5985),
        ("sms02.corp.example", 5985),
        ("sms02.corp.example", 80),  # another port is another WinRM listener, so another target
        ("sms03.a.example", 5985),
        ("sms03.b.example", 5985),
        ("sms03", 5985),  # ambiguous short name: kept, with a warning
        ("10.0.0.5", 5985),
    ]
    where = DATA / "duplicates.txt"
    assert inventory.warnings == (
        f"{where}:2: SMS01.CORP.EXAMPLE. duplicates sms01.corp.example at line 1; scanned once",
        f"{where}:3: sms01 duplicates sms01.corp.example at line 1; scanned once",
        f"{where}:8: sms03 could be any of sms03.a.example, sms03.b.example; scanned as written",
        f"{where}:10: 10.0.0.5 duplicates line 9; scanned once",
    )


def test_csv_duplicate_warning_has_the_documented_form(write):
    """The warning reads "fleet.csv:3: sms01 duplicates line 2; scanned once"."""
    path = write("fleet.csv", "host,port\nsms01,5985\nsms01,5985\n")
    inventory = load_inventory(path)
    assert len(inventory.hosts) == 1
    assert inventory.warnings == (f"{path}:3: sms01 duplicates line 2; scanned once",)


def test_short_name_before_its_fqdn_keeps_the_fqdn(write):
    """The FQDN is what Kerberos and certificates name, so it is the entry scanned."""
    path = write("f.txt", "sms01\nsms01.corp.example\n")
    inventory = load_inventory(path)
    assert [h.name for h in inventory.hosts] == ["sms01.corp.example"]
    assert inventory.warnings == (f"{path}:1: sms01 duplicates sms01.corp.example at line 2; scanned once",)


def test_conflicting_settings_of_a_duplicate_are_reported(write):
    """When a duplicate says another auth, the warning says its settings were not used."""
    path = write("f.csv", "host,auth\nsms01,ntlm\nSMS01,kerberos\n")
    (host,) = load_inventory(path).hosts
    assert host.auth == "ntlm"
    assert "its other settings are ignored" in load_inventory(path).warnings[0]


def test_ansible_hosts_with_one_address_are_duplicates(write):
    """Two inventory names pointing at one ansible_host and port are one target."""
    path = write("inv.ini", "[sms]\nsms01 ansible_host=10.0.0.5\nsms01-alias ansible_host=10.0.0.5\n")
    inventory = load_inventory(path)
    assert [h.name for h in inventory.hosts] == ["sms01"]
    assert inventory.warnings == (f"{path}:3: sms01-alias duplicates sms01 at line 2; scanned once",)


@pytest.mark.parametrize("a, b, same", [
    pytest.param("SMS01.Corp.Example.", "sms01.corp.example", True, id="case-and-trailing-dot"),
    pytest.param("::0001", "::1", True, id="ipv6-canonical"),
    pytest.param("127.0.0.1", "127.0.0.1", True, id="same-ip"),
    pytest.param("sms01", "sms01.corp.example", False, id="short-vs-fqdn-needs-the-inventory"),
])
def test_host_key_normalises_spelling(a, b, same):
    """Host.key is (normalised address, port): spelling differences do not make two hosts."""
    first = Host(name=a, address=a, port=5985, scheme="http", auth="ntlm")
    second = Host(name=b, address=b, port=5985, scheme="http", auth="ntlm")
    assert (first.key == second.key) is same


@pytest.mark.parametrize("name, port, stable", [
    pytest.param("SMS01.corp.example.", 5985, "sms01.corp.example", id="winrm-2.0"),
    pytest.param("sms01.corp.example", 80, "sms01.corp.example", id="winrm-1.1-same-server"),
    pytest.param("127.0.0.1", 41001, "127.0.0.1:41001", id="simulator-port"),
    pytest.param("::1", 41001, "[::1]:41001", id="ipv6-port"),
])
def test_stable_name_survives_respelling_and_winrm_upgrades(name, port, stable):
    """Weekly runs match a host by its stable name, which ignores case and WinRM's default ports."""
    assert Host(name=name, address=name, port=port, scheme="http", auth="ntlm").stable_name == stable
