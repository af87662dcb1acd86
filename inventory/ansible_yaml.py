"""Ansible YAML inventories: `all: {hosts: ..., vars: ..., children: ...}`, loaded with PyYAML's safe loader.

Every string remembers its line so errors and duplicates can name it. Aliases may make one group body
appear in many places (a "billion laughs" document): each (group, body) pair is walked once, so the work
stays proportional to the file, not to its expansion. Semantics are in inventory.ansible_common.
"""

from __future__ import annotations

from collections import deque

import yaml

from inventory.ansible_common import AnsibleInventory, Var
from inventory.fields import quote_value
from inventory.model import Defaults
from scanner.model.errors import InventoryError
from scanner.model.host import Host


class _Str(str):
    """A YAML string that knows the line it started on."""

    line = 0


# libyaml's parser when PyYAML was built with it (several times faster); the pure-Python one otherwise.
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# PyYAML holds a node graph many times the text's size, so YAML files get a tighter bound than the rest.
MAX_YAML_BYTES = 4 * 1024 * 1024


class _LineLoader(_SafeBase):  # type: ignore[valid-type,misc]
    """SafeLoader whose strings carry their line number."""


def _construct_str(loader: yaml.SafeLoader, node: yaml.Node) -> _Str:
    assert isinstance(node, yaml.ScalarNode)
    text = _Str(loader.construct_scalar(node))
    text.line = node.start_mark.line + 1
    return text


_LineLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)


def _line(value: object, fallback: int) -> int:
    return value.line if isinstance(value, _Str) else fallback


def parse(text: str, path: str, defaults: Defaults) -> tuple[list[Host], list[str]]:
    data = _load(text, path)
    if data is None:
        return [], []
    if not isinstance(data, dict):
        raise InventoryError(path, 1, "expected an Ansible inventory: a mapping such as 'all: {hosts: ..., "
                                      "children: ...}'")
    inventory = AnsibleInventory(path)
    inventory.group("all", 1)
    warnings: list[str] = []
    pending: deque[tuple[object, object, str | None, int]] = deque(
        (name, body, None, 1) for name, body in data.items())
    walked: set[tuple[str, int]] = set()
    while pending:
        name, body, parent, fallback = pending.popleft()
        line = _line(name, fallback)
        if not isinstance(name, str):
            raise InventoryError(path, line, f"group name {quote_value(str(name))} is not text")
        name = str(name)  # a plain str: group names become Host.tags, which must pickle and serialise plainly
        if parent is not None:
            inventory.add_child(parent, name, line)
        else:
            inventory.group(name, line)
        if (name, id(body)) in walked:
            continue
        walked.add((name, id(body)))
        if body is None:
            continue
        if not isinstance(body, dict):
            raise InventoryError(path, line, f"group {name} must be a mapping of hosts, vars and children")
        for key, value in body.items():
            key_line = _line(key, line)
            if key == "hosts":
                _hosts(inventory, name, value, path, key_line)
            elif key == "vars":
                inventory.group(name, line).vars.update(_vars(value, path, key_line))
            elif key == "children":
                if value is not None and not isinstance(value, dict):
                    raise InventoryError(path, key_line, f"children of {name} must be a mapping of groups")
                pending.extend((child, child_body, name, key_line) for child, child_body in (value or {}).items())
            else:
                warnings.append(f"{path}:{key_line}: key {quote_value(str(key))} in group {name} ignored "
                                "(expected hosts, vars or children)")
    hosts, resolve_warnings = inventory.resolve(defaults)
    return hosts, warnings + resolve_warnings


def _load(text: str, path: str) -> object:
    if len(text) > MAX_YAML_BYTES:
        raise InventoryError(path, None, f"YAML inventories are limited to {MAX_YAML_BYTES // (1024 * 1024)} MB; "
                                         "use INI or CSV for a larger fleet")
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise InventoryError(path, line, f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(path, None, f"not valid YAML: {type(exc).__name__}") from None
    except RecursionError:
        raise InventoryError(path, None, "not valid YAML: nested too deeply") from None


def _hosts(inventory: AnsibleInventory, group: str, value: object, path: str, line: int) -> None:
    if value is None:
        inventory.group(group, line)
        return
    if not isinstance(value, dict):
        raise InventoryError(path, line, f"hosts of {group} must be a mapping (host: vars)")
    for name, host_vars in value.items():
        host_line = _line(name, line)
        if not isinstance(name, str | int) or isinstance(name, bool):
            raise InventoryError(path, host_line, f"host name {quote_value(str(name))} is not text")
        inventory.add_host(str(name), host_line, group, _vars(host_vars, path, host_line))


def _vars(value: object, path: str, line: int) -> dict[str, Var]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InventoryError(path, line, "vars must be a mapping (name: value)")
    return {str(key): Var(item, _line(key, line)) for key, item in value.items()}
