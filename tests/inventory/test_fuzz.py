"""Hostile inventories: any text or bytes give an Inventory or one InventoryError, never a crash or a hang."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory import Defaults, Inventory, parse_inventory_bytes
from inventory.model import FORMATS
from scanner.model.errors import InventoryError

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BUDGET_SECONDS = 5.0  # generous: a real parse of these inputs takes milliseconds; a hang takes forever

# Pieces of real inventories, so random lines reach deep into each parser rather than failing at once.
TOKENS = [
    "sms01", "SMS01.corp.example.", "10.0.0.5", "[::1]", "fe80::1", ":", "5985", "5986", "80", "abc", "[", "]",
    "[01:03]", "[a:c]", "=", "ansible_host", "ansible_port", "ansible_winrm_transport", "ansible_winrm_scheme",
    "ansible_user", "ansible_connection", "winrm", "ssh", "ntlm,kerberos", "https", "http", "basic",
    "cmaudit_site_code", "CEN", "all", "hosts", "vars", "children", ":vars", ":children", "{", "}", "-", "&a",
    "*a", "---", "#", ";", ",", "\t", " ", "  ", "    ", "\n", "\r\n", '"', "'", "\\", "{{ x }}", "https://",
    "host,port,transport,auth", "password_env", "CMAUDIT_PW", "\x00", "\u202e", "é",
]
inventory_like = st.lists(st.sampled_from(TOKENS), max_size=80).map("".join)
any_text = st.one_of(st.text(max_size=400), inventory_like)


def _parse(data: bytes, name: str, fmt: str | None) -> None:
    started = time.monotonic()
    try:
        result = parse_inventory_bytes(data, Path(name), defaults=Defaults(), format=fmt)
    except InventoryError as exc:
        assert "\n" not in str(exc)
        assert exc.path == name
    else:
        assert isinstance(result, Inventory)
        for host in result.hosts:
            assert 1 <= host.port <= 65535 and host.scheme in ("http", "https")
            assert host.source.startswith(f"{name}:")
    assert time.monotonic() - started < BUDGET_SECONDS


@pytest.mark.parametrize("fmt", [pytest.param(fmt, id=fmt) for fmt in FORMATS])
@FUZZ
@given(content=any_text)
def test_each_parser_survives_random_text(fmt, content):
    """Whatever the file holds, each format's parser answers with hosts or one error line."""
    _parse(content.encode("utf-8", "surrogatepass"), "fuzz.inv", fmt)


@FUZZ
@given(data=st.binary(max_size=600), name=st.sampled_from(["f.txt", "f.csv", "f.ini", "f.yml", "hosts"]))
def test_format_detection_survives_random_bytes(data, name):
    """Random bytes under any file name give an Inventory or one InventoryError."""
    _parse(data, name, None)


@FUZZ
@given(content=inventory_like, name=st.sampled_from(["f.txt", "f.csv", "f.ini", "f.yml", "hosts"]))
def test_format_detection_survives_inventory_like_text(content, name):
    """Near-miss inventories (the usual hand-edited damage) never crash detection or parsing."""
    _parse(content.encode("utf-8", "surrogatepass"), name, None)


@pytest.mark.parametrize("content", [
    pytest.param("all:\n  hosts:\n    " + "[" * 20000 + "\n", id="deep-flow-nesting"),
    pytest.param("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9)),
        id="billion-laughs-lists"),
    pytest.param("all:\n  children:\n    g0: &g0\n      hosts: {sms01: }\n" + "".join(
        f"    g{i}: &g{i}\n      children: {{a{i}: *g{i - 1}, b{i}: *g{i - 1}, c{i}: *g{i - 1}}}\n"
        for i in range(1, 30)), id="billion-laughs-groups"),
    pytest.param("all:\n  children:\n    loop: &loop\n      children:\n        inner: *loop\n", id="alias-cycle"),
])
def test_hostile_yaml_is_bounded(content):
    """Alias bombs and absurd nesting finish quickly with hosts or one error line."""
    _parse(content.encode(), "hostile.yml", None)


@pytest.mark.parametrize("content", [
    pytest.param("[sms]\nsms[0:99999999999][0:9999]\n", id="huge-range"),
    pytest.param("[sms]\nh[0:" + "9" * 6000 + "]\n", id="range-bound-beyond-int-parsing"),
    pytest.param("[sms]\n" + "h[1:1]" * 10000 + "\n", id="ten-thousand-ranges-in-one-name"),
    pytest.param("[sms]\n" + "h[1:2]" * 10000 + "\n", id="ranges-multiplying"),
    pytest.param("[sms:vars]\nk=a" + " " * 60000 + "b\n", id="whitespace-run-in-group-var"),
    pytest.param("[sms]\nh" + " " * 60000 + "x=1\n", id="whitespace-run-on-host-line"),
    pytest.param("host\n" + '"a\n' * 20000, id="csv-quote-storm"),
])
def test_pathological_lines_are_refused_quickly(content):
    """Inputs that defeat naive recursion or regexes end in an Inventory or one error line, promptly."""
    _parse(content.encode(), "hostile.ini" if content.startswith("[") else "hostile.csv", None)
