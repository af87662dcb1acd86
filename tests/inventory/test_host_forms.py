"""Host spellings: numeric forms a resolver would send elsewhere are refused at their line; canonical IPv4 merges.

These tests only parse. None of these addresses is ever connected to or resolved.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inventory import load_inventory
from scanner.model.errors import InventoryError


def _load(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_inventory(path)


@pytest.mark.parametrize("spelling, reached", [
    pytest.param("0177.0.0.1", "127.0.0.1", id="octal"),
    pytest.param("0", "0.0.0.0", id="zero"),
    pytest.param("2130706433", "127.0.0.1", id="one-decimal-number"),
    pytest.param("010.010.010.010", "8.8.8.8", id="zero-padded-octal"),
    pytest.param("0x7f.1", "127.0.0.1", id="hex-short"),
    pytest.param("10.1", "10.0.0.1", id="two-part"),
])
@pytest.mark.parametrize("fmt", ["text", "csv-host", "csv-address", "ini-ansible_host"])
def test_numeric_host_forms_are_refused_at_their_line(tmp_path: Path, spelling: str, reached: str, fmt: str) -> None:
    """`0177.0.0.1`, `0`, `2130706433`, `010.010.010.010`... are refused with file:line, naming where they lead."""
    name, text, line = {
        "text": ("hosts.txt", f"sms01\n{spelling}\n", 2),
        "csv-host": ("hosts.csv", f"host,port\nsms01,5985\n{spelling},5985\n", 3),
        "csv-address": ("hosts.csv", f"host,address\nsms01,10.0.0.1\nsms02,{spelling}\n", 3),
        "ini-ansible_host": ("hosts.ini", f"[sms]\nsms01\nsms02 ansible_host={spelling}\n", 3),
    }[fmt]
    with pytest.raises(InventoryError) as caught:
        _load(tmp_path, name, text)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / name}:{line}: ") and "\n" not in message
    assert f"reads it as {reached}" in message and "canonical form" in message


def test_canonical_and_zero_padded_ipv4_are_one_host(tmp_path: Path) -> None:
    """`127.0.0.1` and `127.000.000.001` (zero padding every resolver reads alike) are one host, scanned once."""
    inventory = _load(tmp_path, "hosts.txt", "127.0.0.1:5985\n127.000.000.001:5985\n")
    assert [(h.name, h.address, h.port) for h in inventory.hosts] == [("127.0.0.1", "127.0.0.1", 5985)]
    assert any("hosts.txt:2" in w and "duplicates" in w for w in inventory.warnings)


@pytest.mark.parametrize("spelling", ["10.0.0.1", "::1", "[fe80::1]", "sms01", "sms01.corp.example", "SMS_01.corp."])
def test_canonical_addresses_and_dns_names_are_accepted(tmp_path: Path, spelling: str) -> None:
    """Dotted-quad IPv4 in canonical form, IPv6 and DNS names are read as written."""
    inventory = _load(tmp_path, "hosts.csv", f"host\n{spelling}\n")
    assert len(inventory.hosts) == 1


@pytest.mark.parametrize("spelling, words", [
    pytest.param("a" * 64 + ".corp.example", "DNS allows at most 63", id="64-character-label"),
    pytest.param(".".join(["sms01"] + [c * 60 for c in "abcd"]) + ".example", "longer than 253",
                 id="name-too-long"),
    pytest.param("sms01.corp.123", "only an IPv4 address ends in a number", id="numeric-top-label"),
    pytest.param("-sms01", "not a valid host name", id="leading-hyphen"),
])
def test_names_dns_cannot_carry_are_inventory_errors(tmp_path: Path, spelling: str, words: str) -> None:
    """A 64-character label (IDNA refuses it) and similar are one-line inventory errors with file:line."""
    with pytest.raises(InventoryError) as caught:
        _load(tmp_path, "hosts.txt", f"sms00\n{spelling}:5985\n")
    assert str(caught.value).startswith(f"{tmp_path / 'hosts.txt'}:2: ") and words in str(caught.value)
