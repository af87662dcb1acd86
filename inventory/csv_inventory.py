"""CSV inventories with a header row: `host,port,transport,auth,site_code,tags,username,password_env,tls`.

The header is case-insensitive and only `host` is required; unknown columns are reported and ignored.
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

# header spelling -> build_host() argument
COLUMNS = {
    "host": "host", "hostname": "host", "computername": "host",
    "address": "address", "ansible_host": "address", "ip": "address",
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
_SECRET_COLUMNS = {"password", "pass", "pwd", "secret"}


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
    columns: list[str | None] = []
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


def _header(row: list[str], path: str, line: int, warnings: list[str]) -> list[str | None]:
    """The argument each column feeds (None: ignored); checks that `host` is there, once."""
    columns: list[str | None] = []
    for cell in row:
        name = cell.strip().lower().replace(" ", "_").replace("-", "_")
        field = COLUMNS.get(name)
        if field is None:
            why = "passwords never come from an inventory file" if name in _SECRET_COLUMNS else "not a known column"
            warnings.append(f"{path}:{line}: column {quote_value(cell.strip())} ignored: {why}")
        elif field in columns:
            raise InventoryError(path, line, f"column {quote_value(cell.strip())} repeats an earlier column")
        columns.append(field)
    if "host" not in columns:
        raise InventoryError(path, line, "the header has no 'host' column (expected host,port,transport,auth,...)")
    return columns


def _row(row: list[str], columns: list[str | None], path: str, line: int, defaults: Defaults) -> Host:
    if len(row) > len(columns):
        raise InventoryError(path, line, f"row has {len(row)} fields but the header has {len(columns)}")
    values = {field: cell for field, cell in zip(columns, row, strict=False) if field}
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
