"""CSV inventories with a header row: `host,port,transport,auth,site_code,tags,username,password_env,tls`.

The header is case-insensitive and only a host column is required (`host`, or what an Active Directory or
ConfigMgr export calls it: Name, DNSHostName, Server...); unknown columns are reported and ignored.
Excel in many European locales saves with `;`, so the delimiter is taken from the header line.
A `password` column is never read: passwords do not belong in inventory files.
"""

from __future__ import annotations

import csv
import io

from inventory.fields import build_host, quote_value, split_host_port
from inventory.model import Defaults
from scanner.model.errors import InventoryError
from scanner.model.host import Host

# header spelling -> build_host() argument. Exports from Active Directory (Get-ADComputer: Name, DNSHostName,
# IPv4Address) and the ConfigMgr console (Name, "Site Code", "IP Address") are read as they are.
COLUMNS = {
    "host": "host", "dnshostname": "host", "fqdn": "host", "hostname": "host", "computername": "host",
    "servername": "host", "server": "host", "computer": "host", "name": "host",
    "address": "address", "ansible_host": "address", "ip": "address", "ipaddress": "address", "ip_address": "address",
    "ipv4address": "address", "ipv4_address": "address",
    "port": "port",
    "transport": "scheme", "scheme": "scheme",
    "auth": "auth", "authentication": "auth",
    "site_code": "site_code", "sitecode": "site_code", "site": "site_code",
    "tags": "tags", "tag": "tags", "groups": "tags",
    "username": "username", "user": "username",
    "password_env": "password_env",
    "cert_pem": "cert_pem", "cert_key_pem": "cert_key_pem",
    "tls": "tls",
}
# Fields an export may hold in several columns (AD: Name and DNSHostName): the first of these spellings that has
# a value in a row wins (the FQDN before the short name, since Kerberos and certificates name it).
PREFERRED = {field: [name for name, f in COLUMNS.items() if f == field] for field in ("host", "address")}
HOST_COLUMNS = ", ".join(PREFERRED["host"])
_SECRET_COLUMNS = {"password", "pass", "pwd", "secret"}
_ORDER = {name: rank for names in PREFERRED.values() for rank, name in enumerate(names)}


Column = tuple[str, int] | None  # (the build_host() argument it feeds, its rank among that field's columns)


def _delimiter(header_line: str) -> str:
    for candidate in (",", ";", "\t"):
        if candidate in header_line:
            return candidate
    return ","


def parse(text: str, path: str, defaults: Defaults) -> tuple[list[Host], list[str]]:
    """Hosts from every data row; comment rows (`#...`) and empty rows are skipped."""
    lines = text.splitlines()
    start = next((i for i, raw in enumerate(lines) if raw.strip() and not raw.lstrip().startswith("#")), None)
    if start is None:
        return [], []
    reader = csv.reader(io.StringIO("\n".join(lines[start:])), delimiter=_delimiter(lines[start]), strict=True)
    hosts: list[Host] = []
    warnings: list[str] = []
    columns: list[Column] = []
    row_start = start + 1
    try:
        for row in reader:
            number, row_start = row_start, start + reader.line_num + 1
            if not columns:
                columns = _header(row, path, number, warnings)
                continue
            if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            hosts.append(_row(row, columns, path, number, defaults))
    except csv.Error as exc:
        raise InventoryError(path, row_start, f"not valid CSV ({exc})") from None
    return hosts, warnings


def _header(row: list[str], path: str, line: int, warnings: list[str]) -> list[Column]:
    """The argument each column feeds (None: ignored); a host column must be there. A field other than the host
    and the address in two columns is an error; unknown columns are named in one warning."""
    columns: list[Column] = []
    unknown: list[str] = []
    for cell in row:
        name = _header_key(cell)
        field = COLUMNS.get(name)
        if field is None:
            if name in _SECRET_COLUMNS:
                warnings.append(f"{path}:{line}: column {quote_value(cell.strip())} ignored: passwords never come "
                                "from an inventory file")
            else:
                unknown.append(quote_value(cell.strip()))
            columns.append(None)
            continue
        if field not in PREFERRED and any(c is not None and c[0] == field for c in columns):
            raise InventoryError(path, line, f"column {quote_value(cell.strip())} repeats an earlier column")
        if field in PREFERRED and any(c == (field, _ORDER[name]) for c in columns):
            raise InventoryError(path, line, f"column {quote_value(cell.strip())} repeats an earlier column")
        columns.append((field, _ORDER.get(name, 0)))
    if unknown:
        shown = ", ".join(unknown[:12]) + (" ..." if len(unknown) > 12 else "")
        what = "columns {} ignored: not known columns" if len(unknown) > 1 else "column {} ignored: not a known column"
        warnings.append(f"{path}:{line}: {what.format(shown)}")
    if not any(c is not None and c[0] == "host" for c in columns):
        found = ", ".join(quote_value(c.strip()) for c in row[:12] if c.strip()) or "none"
        raise InventoryError(path, line, f"the header has no host column (found: {found}); name the column of host "
                                         f"names one of: {HOST_COLUMNS}")
    return columns


def _header_key(cell: str) -> str:
    """`Site Code`, `site-code` and `SITE_CODE` are one column; `IP Address(es)` is ip_addresses."""
    return "".join(ch for ch in cell.strip().lower().replace(" ", "_").replace("-", "_") if ch.isalnum() or ch == "_")


def _row(row: list[str], columns: list[Column], path: str, line: int, defaults: Defaults) -> Host:
    if len(row) > len(columns):
        raise InventoryError(path, line, f"row has {len(row)} fields but the header has {len(columns)}")
    values: dict[str, str] = {}
    ranks: dict[str, int] = {}
    for column, cell in zip(columns, row, strict=False):
        if column is None:
            continue
        field, rank = column
        held = values.get(field)
        if held is None or (cell.strip() and (not held.strip() or rank < ranks[field])):
            values[field], ranks[field] = cell, rank
    name = values.pop("host", "").strip()
    if not name:
        raise InventoryError(path, line, "the host column is empty")
    name, inline_port = split_host_port(name, path, line)  # `sms01:5986` in the host column, as in text lists
    if inline_port is not None:
        if values.get("port", "").strip() not in ("", inline_port):
            raise InventoryError(path, line, f"port {quote_value(inline_port)} in the host column contradicts "
                                             f"the port column {quote_value(values['port'].strip())}")
        values["port"] = inline_port
    return build_host(name, path=path, line=line, defaults=defaults, **values)
