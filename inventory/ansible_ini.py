"""Ansible INI inventories: `[group]`, `[group:vars]`, `[group:children]`, inline host vars.

Lines are split as Ansible splits them (shell-like quoting, `#` comments), so `ansible_user='CORP\\svc'`
means what it means to Ansible. Semantics shared with YAML are in inventory.ansible_common.
"""

from __future__ import annotations

import re
import shlex

from inventory.ansible_common import AnsibleInventory, Var
from inventory.fields import quote_value
from inventory.model import Defaults
from scanner.model.errors import InventoryError
from scanner.model.host import Host, is_ip_address

_SECTION = re.compile(r"\[([A-Za-z0-9_.-]+)(?::(\w+))?\]\s*(?:[#;].*)?")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse(text: str, path: str, defaults: Defaults) -> tuple[list[Host], list[str]]:
    inventory = AnsibleInventory(path)
    inventory.group("all", 1)
    group, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        section = _SECTION.fullmatch(line)
        if section:
            group, kind = section.group(1), section.group(2) or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise InventoryError(path, number, f"section type {quote_value(kind)} is not vars or children")
            inventory.group(group, number)
            continue
        if line.startswith("[") and line.endswith("]") and not is_ip_address(line[1:-1]):
            raise InventoryError(path, number, f"{quote_value(line)} is not a valid [group] header")
        if kind == "hosts":
            _host_line(inventory, line, group, path, number)
        elif kind == "vars":
            name, value = _assignment(line, path, number)
            inventory.group(group, number).vars[name] = Var(_unquote(value), number)
        else:
            child = line.split("#", 1)[0].split(";", 1)[0].strip()
            if child == group:
                raise InventoryError(path, number, f"group {group} cannot be its own child")
            inventory.add_child(group, child, number)
    return inventory.resolve(defaults)


def _host_line(inventory: AnsibleInventory, line: str, group: str, path: str, number: int) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:  # the line is not quoted in the message: it may hold an ansible_password
        raise InventoryError(path, number, "unbalanced quotes on this host line") from None
    if not tokens:
        return
    host_vars: dict[str, Var] = {}
    for token in tokens[1:]:
        name, value = _assignment(token, path, number)
        host_vars[name] = Var(value, number)
    inventory.add_host(tokens[0], number, group, host_vars)


def _assignment(text: str, path: str, number: int) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    name = name.strip()
    if not equals or not _VAR_NAME.fullmatch(name):
        shown = quote_value(name) if _VAR_NAME.fullmatch(name) else "this entry"
        raise InventoryError(path, number, f"expected key=value, got {shown}")
    return name, value.strip()


_COMMENT_MARK = re.compile(r"[#;]")


def _unquote(value: str) -> str:
    """`[group:vars]` values are not shell-split by Ansible: drop surrounding quotes, or a trailing comment."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    for mark in _COMMENT_MARK.finditer(value):  # a comment starts at # or ; after whitespace (linear scan)
        if mark.start() > 0 and value[mark.start() - 1].isspace():
            return value[: mark.start()].rstrip()
    return value
