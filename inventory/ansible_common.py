"""What Ansible INI and YAML inventories share: groups, children, variables, host patterns.

The semantics follow Ansible's, so an admin can point cmaudit at the inventory their playbooks use:
- a host listed in several groups is one host (not a duplicate) whose tags are all its groups, with
  the groups they are children of;
- group vars are inherited through `children`; deeper groups override shallower ones (ties by group
  name, as Ansible does), and host vars override group vars;
- `host:port` and `ansible_port` set the port; ranges `sms[01:03]` and `node[a:c]` expand.

What cmaudit reads from each host's variables (everything else is ignored):
  ansible_host                          address
  ansible_port                          port
  ansible_winrm_scheme / ansible_psrp_protocol       http | https
  ansible_winrm_transport / ansible_psrp_auth        auth (a list such as "ntlm,kerberos" -> its first)
  ansible_user / ansible_winrm_user / ansible_psrp_user                            username
  ansible_winrm_cert_pem, ansible_winrm_cert_key_pem (or ansible_psrp_certificate_*) certificate auth
  cmaudit_site_code, cmaudit_password_env, cmaudit_tags, cmaudit_tls             cmaudit's own
Differences from Ansible, on purpose:
- a host whose `ansible_connection` is set to something other than winrm or psrp (ssh, local,
  network_cli...) is not a Windows scan target: it is skipped with a warning naming it. A host with no
  `ansible_connection` at all is scanned (it was listed in a file given to cmaudit); where other groups of
  the file do say winrm or psrp, a warning names it (Ansible itself would use ssh).
- without a scheme, Ansible assumes https unless the port is 5985; cmaudit infers the scheme from a
  well-known port (80/5985 http, 443/5986 https) and otherwise uses --scheme (default http, where message
  encryption is required).
- passwords in the inventory (ansible_password and friends) are never read; a warning says so.
- `ansible_winrm_server_cert_validation: ignore` is not followed (only --insecure turns validation off);
  a warning says how many hosts asked for it.
- Jinja templates (`{{ ... }}`) are not evaluated; a value that needs one is an error at its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from inventory.fields import (
    build_host,
    check_host_name,
    parse_auth,
    parse_env_name,
    parse_plain,
    parse_port,
    parse_scheme,
    parse_site_code,
    parse_tags,
    parse_tls,
    quote_value,
    split_host_port,
)
from inventory.model import MAX_HOSTS, Defaults
from scanner.model.errors import InventoryError
from scanner.model.host import Host

WINRM_CONNECTIONS = ("winrm", "psrp")
MAX_GROUPS = 5_000
_RESOLVE_BUDGET = 1_000_000  # group memberships resolved per file; real inventories use a tiny fraction
_GROUP_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_RANGE = re.compile(r"\[([0-9]+|[a-zA-Z]):([0-9]+|[a-zA-Z])(?::([0-9]+))?\]")
_SECRET_VARS = ("ansible_password", "ansible_winrm_password", "ansible_psrp_password", "ansible_ssh_pass",
                "ansible_become_password", "ansible_become_pass")

# Host field <- the variables that set it; the first one a host has wins.
_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("address", ("ansible_host", "ansible_ssh_host")),
    ("port", ("ansible_port", "ansible_ssh_port")),
    ("scheme", ("ansible_winrm_scheme", "ansible_psrp_protocol")),
    ("auth", ("ansible_winrm_transport", "ansible_psrp_auth")),
    ("username", ("ansible_user", "ansible_winrm_user", "ansible_psrp_user")),
    ("cert_pem", ("ansible_winrm_cert_pem", "ansible_psrp_certificate_pem")),
    ("cert_key_pem", ("ansible_winrm_cert_key_pem", "ansible_psrp_certificate_key_pem")),
    ("site_code", ("cmaudit_site_code",)),
    ("password_env", ("cmaudit_password_env",)),
    ("tags", ("cmaudit_tags",)),
    ("tls", ("cmaudit_tls",)),
)


@dataclass(slots=True)
class Var:
    """A variable's value and the line that set it, so a bad value is reported where it is written."""

    value: object
    line: int


@dataclass(slots=True)
class Group:
    """An Ansible group while the file is read (mutable: sections may reopen a group)."""

    name: str
    line: int
    vars: dict[str, Var] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AnsibleHost:
    """An Ansible inventory host: every group it was listed under and its own variables."""

    name: str
    line: int
    groups: list[str] = field(default_factory=list)
    vars: dict[str, Var] = field(default_factory=dict)


class _Budget:
    """Group memberships resolved per file: a hostile file must not make resolution quadratic in time or memory."""

    def __init__(self, path: str) -> None:
        self.path, self.left = path, _RESOLVE_BUDGET

    def spend(self, n: int, line: int, message: str) -> None:
        self.left -= n
        if self.left < 0:
            raise InventoryError(self.path, line, message)


@dataclass
class _Notes:
    """What the warnings of one file are made of, gathered host by host."""

    skipped: list[str] = field(default_factory=list)
    secret_vars: set[str] = field(default_factory=set)
    unvalidated: list[str] = field(default_factory=list)
    unset: list[tuple[AnsibleHost, Host]] = field(default_factory=list)  # scanned, though no ansible_connection
    winrm_set: bool = False  # some host's ansible_connection says winrm or psrp

    def look_at(self, entry: AnsibleHost, merged: dict[str, Var]) -> None:
        self.secret_vars.update(key for key in _SECRET_VARS if key in merged)
        validation = merged.get("ansible_winrm_server_cert_validation", merged.get("ansible_psrp_cert_validation"))
        if validation is not None and str(validation.value).strip().lower() in ("ignore", "false"):
            self.unvalidated.append(entry.name)

    def warnings(self, inventory: AnsibleInventory) -> list[str]:
        path = inventory.path
        found = list(self.skipped)
        if self.winrm_set:
            found += inventory._no_connection_warnings(self.unset)
        if self.secret_vars:
            found.append(f"{path}: {', '.join(sorted(self.secret_vars))} ignored: cmaudit takes passwords "
                         "from CMAUDIT_PASSWORD, a per-host variable, the keyring or a prompt")
        if self.unvalidated:
            found.append(f"{path}: {len(self.unvalidated)} host(s) set certificate validation to ignore (first: "
                         f"{self.unvalidated[0]}); cmaudit validates HTTPS certificates unless run with --insecure")
        return found


class AnsibleInventory:
    """Groups and hosts as an Ansible inventory declares them, resolved into cmaudit Hosts."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, AnsibleHost] = {}

    def group(self, name: str, line: int) -> Group:
        if not _GROUP_NAME.fullmatch(name):
            raise InventoryError(self.path, line, f"group name {quote_value(name)} is not valid")
        if name not in self.groups and len(self.groups) >= MAX_GROUPS:
            raise InventoryError(self.path, line, f"declares more than {MAX_GROUPS} groups")
        return self.groups.setdefault(name, Group(name, line))

    def add_child(self, parent: str, child: str, line: int) -> None:
        parent_group, child_group = self.group(parent, line), self.group(child, line)
        if child not in parent_group.children:
            parent_group.children.append(child)
            child_group.parents.append(parent)

    def add_host(self, pattern: str, line: int, group: str, host_vars: dict[str, Var]) -> None:
        """A host line: its pattern may carry `:port` and ranges; repeated hosts merge as in Ansible."""
        name_pattern, port = split_ansible_pattern(pattern, self.path, line)
        if port is not None:
            host_vars = {"ansible_port": Var(port, line), **host_vars}
        self.group(group, line)
        for name in expand_range(name_pattern, self.path, line):
            if len(self.hosts) >= MAX_HOSTS and name not in self.hosts:
                raise InventoryError(self.path, line, f"lists more than {MAX_HOSTS} hosts")
            host = self.hosts.setdefault(name, AnsibleHost(name, line))
            if group not in host.groups:
                host.groups.append(group)
            host.vars.update(host_vars)

    def resolve(self, defaults: Defaults) -> tuple[list[Host], list[str]]:
        """cmaudit Hosts in the order Ansible hosts were first declared, with warnings."""
        budget = _Budget(self.path)
        ancestors, depth = self._ancestry(budget)
        by_groups: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, Var]]] = {}
        hosts: list[Host] = []
        notes = _Notes()
        for entry in sorted(self.hosts.values(), key=lambda h: h.line):  # file order, also for YAML
            direct = tuple(entry.groups)
            if direct not in by_groups:  # hosts share group sets, so this runs once per distinct set
                by_groups[direct] = self._group_view(direct, ancestors, depth, budget, entry.line)
            tags, group_vars = by_groups[direct]
            merged = {**group_vars, **entry.vars}
            notes.look_at(entry, merged)
            connection = merged.get("ansible_connection")
            if connection is not None and str(connection.value).strip().lower() not in WINRM_CONNECTIONS:
                notes.skipped.append(f"{self.path}:{entry.line}: {entry.name} skipped: ansible_connection="
                                     f"{quote_value(str(connection.value))} is not winrm or psrp")
                continue
            hosts.append(self._host(entry, merged, tags, defaults))
            if connection is None:
                notes.unset.append((entry, hosts[-1]))
            else:
                notes.winrm_set = True
        return hosts, notes.warnings(self)

    def _ancestry(self, budget: _Budget) -> tuple[dict[str, dict[str, None]], dict[str, int]]:
        """Every group's ancestors (nearest first) and its depth below `all`."""
        ancestors: dict[str, dict[str, None]] = {}
        depth: dict[str, int] = {}
        for name in self._parents_first():
            parents = self.groups[name].parents
            found: dict[str, None] = {}
            for parent in parents:
                found[parent] = None
                found.update(ancestors[parent])
            ancestors[name] = found
            budget.spend(len(found) + 1, self.groups[name].line, "group nesting is too deep to resolve")
            depth[name] = 0 if name == "all" else 1 + max((depth[p] for p in parents), default=0)
        return ancestors, depth

    def _group_view(self, direct: tuple[str, ...], ancestors: dict[str, dict[str, None]], depth: dict[str, int],
                    budget: _Budget, line: int) -> tuple[tuple[str, ...], dict[str, Var]]:
        """A set of groups' tags (with their ancestors) and their variables, deeper groups winning."""
        groups: dict[str, None] = dict.fromkeys(direct)
        for name in direct:
            groups.update(ancestors[name])
        budget.spend(len(groups) + 1, line, "too many group combinations to resolve")
        group_vars: dict[str, Var] = {}
        for name in sorted({*groups, "all"} & self.groups.keys(), key=lambda g: (depth[g], g)):
            group_vars.update(self.groups[name].vars)
        return tuple(g for g in groups if g not in ("all", "ungrouped")), group_vars

    def _no_connection_warnings(self, unset: list[tuple[AnsibleHost, Host]], *, each: int = 5) -> list[str]:
        """In a file whose other groups say ansible_connection=winrm, a host whose groups do not is one Ansible
        reaches over ssh: cmaudit scans it over WinRM all the same, and says so (the first few, then a count)."""
        found = [f"{self.path}:{entry.line}: {entry.name} (group {', '.join(entry.groups)}) has no "
                 f"ansible_connection, unlike this file's WinRM groups: Ansible would reach it over ssh, cmaudit "
                 f"scans it over WinRM on port {host.port} (set ansible_connection=winrm for its group, or choose "
                 "hosts with --tag)" for entry, host in unset[:each]]
        if len(unset) > each:
            found.append(f"{self.path}: {len(unset) - each} more host(s) without ansible_connection are scanned over "
                         "WinRM too")
        return found

    def _host(self, entry: AnsibleHost, merged: dict[str, Var], tags: tuple[str, ...],
              defaults: Defaults) -> Host:
        values: dict[str, object] = {}
        for name, variables in _FIELDS:
            chosen = next((merged[v] for v in variables if v in merged), None)
            if chosen is not None:
                values[name] = _checked(name, chosen, self.path)
        extra_tags = values.pop("tags", ())
        assert isinstance(extra_tags, tuple)
        return build_host(entry.name, path=self.path, line=entry.line, defaults=defaults,
                          address=values.get("address"), port=values.get("port"), scheme=values.get("scheme"),
                          auth=values.get("auth"), site_code=values.get("site_code"),
                          tags=tuple(dict.fromkeys((*tags, *extra_tags))) if extra_tags else tags,
                          username=values.get("username"), password_env=values.get("password_env"),
                          cert_pem=values.get("cert_pem"), cert_key_pem=values.get("cert_key_pem"),
                          tls=values.get("tls"))

    def _parents_first(self) -> list[str]:
        """Groups ordered so every parent precedes its children; a `children` cycle is an error."""
        waiting = {name: len(group.parents) for name, group in self.groups.items()}
        ready = [name for name, count in waiting.items() if count == 0]
        order: list[str] = []
        while ready:
            name = ready.pop()
            order.append(name)
            for child in self.groups[name].children:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        if len(order) < len(self.groups):
            stuck = min((g for g in self.groups.values() if waiting[g.name] > 0), key=lambda g: g.line)
            raise InventoryError(self.path, stuck.line, f"group {stuck.name} is its own ancestor (children cycle)")
        return order


def _checked(name: str, var: Var, path: str) -> object:
    """A variable's value checked at the line that set it, so the error points where to fix it."""
    value, line = var.value, var.line
    if isinstance(value, str) and "{{" in value:
        raise InventoryError(path, line, f"{name} uses a Jinja template, which cmaudit cannot evaluate")
    if isinstance(value, dict):
        raise InventoryError(path, line, f"{name} must be a single value, not a mapping")
    if name == "tags":
        return parse_tags(value, path, line)
    if name == "auth":
        return parse_auth(value, path, line)
    if isinstance(value, list | tuple):
        raise InventoryError(path, line, f"{name} must be a single value, not a list")
    if name == "address":
        return check_host_name(str(value), path, line, "ansible_host")
    if name == "port":
        return parse_port(value, path, line)
    if name == "scheme":
        return parse_scheme(value, path, line)
    if name == "site_code":
        return parse_site_code(value, path, line)
    if name == "password_env":
        return parse_env_name(value, path, line)
    if name == "tls":
        return parse_tls(value, path, line)
    return parse_plain(value, path, line, name)


def split_ansible_pattern(pattern: str, path: str, line: int) -> tuple[str, str | None]:
    """`sms[01:03]:5986` -> ("sms[01:03]", "5986"); IPv6 as in split_host_port."""
    if (pattern.startswith("[") and not _RANGE.match(pattern)) or ("[" not in pattern and pattern.count(":") > 1):
        return split_host_port(pattern, path, line)
    outside = _RANGE.sub("", pattern)
    if ":" not in outside:
        return pattern, None
    head, _, port = pattern.rpartition(":")
    if not port or "]" in port:
        raise InventoryError(path, line, f"{quote_value(pattern)} is not a host pattern")
    return head, port


def expand_range(pattern: str, path: str, line: int) -> list[str]:
    """Ansible's ranges: `sms[01:03]` -> sms01 sms02 sms03, `x[a:c]`, `[1:9:2]`; bounded by MAX_HOSTS."""
    names = [""]
    position = 0
    for match in _RANGE.finditer(pattern):
        items = _range_items(match, path, line)
        if len(names) * len(items) > MAX_HOSTS:
            raise InventoryError(path, line, f"{quote_value(pattern)} expands to more than {MAX_HOSTS} hosts")
        head = pattern[position: match.start()]
        names = [f"{name}{head}{item}" for name in names for item in items]
        position = match.end()
    tail = pattern[position:]
    return [name + tail for name in names]


def _range_items(match: re.Match[str], path: str, line: int) -> list[str]:
    start, end, step_text = match.groups()
    shown = quote_value(match.group())
    if start.isdigit() != end.isdigit() or max(len(start), len(end), len(step_text or "")) > 9:
        raise InventoryError(path, line, f"range {shown} is not valid")
    step = int(step_text) if step_text else 1
    if step < 1:
        raise InventoryError(path, line, f"range {shown} has a zero step")
    if start.isdigit():
        low, high, width = int(start), int(end), len(start) if start.startswith("0") else 0
        if high < low or (high - low) // step >= MAX_HOSTS:
            raise InventoryError(path, line, f"range {shown} is empty or too large")
        return [str(n).zfill(width) for n in range(low, high + 1, step)]
    if ord(end) < ord(start):
        raise InventoryError(path, line, f"range {shown} is empty")
    return [chr(c) for c in range(ord(start), ord(end) + 1, step)]
