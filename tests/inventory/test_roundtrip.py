"""Property: a fleet written in any format reads back as the same hosts (no value lost or altered)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from inventory import Defaults, parse_inventory_bytes
from scanner.model.host import AUTH_METHODS

label = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
host_name = st.builds(lambda parts: ".".join(parts), st.lists(label, min_size=2, max_size=3))
host = st.fixed_dictionaries({
    "name": host_name,
    "port": st.integers(1, 65535),
    "scheme": st.sampled_from(["http", "https"]),
    "auth": st.sampled_from(AUTH_METHODS),
    "site_code": st.from_regex(r"[A-Z0-9]{3}", fullmatch=True),
    "tags": st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), max_size=3, unique=True),
    "username": st.sampled_from(["CORP\\svc-cmaudit", "svc@CORP.EXAMPLE", "localadmin"]),
})
fleet = st.lists(host, min_size=1, max_size=12, unique_by=lambda h: h["name"])
ROUNDTRIP = settings(max_examples=60, deadline=None)


def _expected(hosts):
    return [(h["name"], h["port"], h["scheme"], h["auth"], h["site_code"], tuple(h["tags"]), h["username"])
            for h in hosts]


def _got(data: bytes, name: str):
    inventory = parse_inventory_bytes(data, Path(name), defaults=Defaults())
    assert inventory.warnings == ()
    return [(h.name, h.port, h.scheme, h.auth, h.site_code, h.tags, h.username) for h in inventory.hosts]


@ROUNDTRIP
@given(hosts=fleet)
def test_csv_roundtrip(hosts):
    """Every column an admin fills in a CSV comes back unchanged."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["host", "port", "transport", "auth", "site_code", "tags", "username"])
    for h in hosts:
        writer.writerow([h["name"], h["port"], h["scheme"], h["auth"], h["site_code"], ";".join(h["tags"]),
                         h["username"]])
    assert _got(buffer.getvalue().encode(), "fleet.csv") == _expected(hosts)


@ROUNDTRIP
@given(hosts=fleet)
def test_ansible_yaml_roundtrip(hosts):
    """Host vars written by yaml.safe_dump come back as the same hosts, in order."""
    document = {"all": {"hosts": {h["name"]: {
        "ansible_port": h["port"], "ansible_winrm_scheme": h["scheme"], "ansible_winrm_transport": h["auth"],
        "cmaudit_site_code": h["site_code"], "cmaudit_tags": h["tags"], "ansible_user": h["username"],
    } for h in hosts}}}
    assert _got(yaml.safe_dump(document, sort_keys=False).encode(), "fleet.yml") == _expected(hosts)


@ROUNDTRIP
@given(hosts=fleet)
def test_ansible_ini_roundtrip(hosts):
    """Inline host vars (quoted as Ansible quotes them) come back as the same hosts, in order."""
    lines = ["[configmgr]"]
    for h in hosts:
        tags = ",".join(h["tags"]) or "''"
        lines.append(f"{h['name']}:{h['port']} ansible_winrm_scheme={h['scheme']} ansible_winrm_transport={h['auth']}"
                     f" cmaudit_site_code={h['site_code']} cmaudit_tags={tags} ansible_user='{h['username']}'")
    expected = [(*row[:5], ("configmgr", *row[5]), row[6]) for row in _expected(hosts)]
    assert _got("\n".join(lines).encode(), "hosts") == expected


@ROUNDTRIP
@given(hosts=fleet)
def test_text_roundtrip(hosts):
    """WinRM URLs in a plain list keep their scheme and port."""
    text = "".join(f"{h['scheme']}://{h['name']}:{h['port']}/wsman\n" for h in hosts)
    assert [row[:3] for row in _got(text.encode(), "fleet.txt")] == [row[:3] for row in _expected(hosts)]
