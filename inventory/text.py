"""Plain-text inventories: one `host[:port]` per line, `#` comments, blank lines.

A WinRM URL (`https://sms01:5986/wsman`) is accepted too, since that is what admins copy from
`winrm enumerate winrm/config/listener` notes; its scheme sets the host's scheme.
"""

from __future__ import annotations

from inventory.fields import build_host, quote_value, split_host_port
from inventory.model import Defaults
from scanner.model.errors import InventoryError
from scanner.model.host import Host


def parse(text: str, path: str, defaults: Defaults) -> tuple[list[Host], list[str]]:
    """Every host line in order; a line that is not a host is an error, never skipped."""
    hosts: list[Host] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        if len(entry.split()) > 1:
            raise InventoryError(path, number, f"{quote_value(entry)} is not one host[:port] per line")
        scheme: str | None = None
        if "://" in entry:
            scheme, _, entry = entry.partition("://")
            entry = entry.split("/", 1)[0]
        name, port = split_host_port(entry, path, number)
        hosts.append(build_host(name, port=port, scheme=scheme, path=path, line=number, defaults=defaults))
    return hosts, []
