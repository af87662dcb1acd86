"""Reading an inventory file: bounded, decoded, its format chosen, parsed, and de-duplicated.

Duplicates: hosts with the same `Host.key` (normalised address and port) are scanned once, keeping the
first in file order; each later one is reported as a warning naming both lines. A short name is the same
host as an FQDN only when the inventory holds exactly one FQDN with that first label on that port
(`sms01` and `sms01.corp.example`); the FQDN entry is kept since it is the one Kerberos and TLS
certificates name. With two candidates (`sms01.a.example`, `sms01.b.example`) nothing is merged and a
warning says so.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from inventory.ansible_ini import parse as parse_ansible_ini
from inventory.ansible_yaml import parse as parse_ansible_yaml
from inventory.csv_inventory import parse as parse_csv
from inventory.model import FORMATS, MAX_FILE_BYTES, MAX_HOSTS, MAX_LINE_CHARS, Defaults, Inventory
from inventory.text import parse as parse_text
from scanner.model.errors import InventoryError, UsageError
from scanner.model.host import AUTH_METHODS, SCHEMES, TLS_MODES, WELL_KNOWN_PORTS, Host, is_ip_address

Parser = Callable[[str, str, Defaults], tuple[list[Host], list[str]]]
PARSERS: dict[str, Parser] = {
    "text": parse_text,
    "csv": parse_csv,
    "ansible-ini": parse_ansible_ini,
    "ansible-yaml": parse_ansible_yaml,
}
_SUFFIXES = {".csv": "csv", ".yml": "ansible-yaml", ".yaml": "ansible-yaml", ".ini": "ansible-ini"}
_YAML_KEY = re.compile(r"[\w.-]+:\s*(#.*)?")
_YAML_FLOW = re.compile(r"[\w.-]+:\s+\{.*")
_INI_SECTION = re.compile(r"\[[A-Za-z0-9_.-]+(:\w+)?\]\s*([#;].*)?")
_INI_HOST_VAR = re.compile(r"\s\w+=")
_WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
_WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # ZIP (.xlsx, .ods), OLE (.xls)


def load_inventory(
    path: Path,
    *,
    default_port: int | None = None,
    default_scheme: str = "http",
    default_auth: str = "ntlm",
    format: str | None = None,
    default_tls: str = "modern",
) -> Inventory:
    """Parse one inventory file; raise InventoryError naming the file (and line) if it cannot be used."""
    defaults = Defaults(default_port, default_scheme, default_auth, default_tls)
    check_defaults(defaults)
    where = str(path)
    if path.is_dir():
        raise InventoryError(where, None, "is a directory; give one inventory file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InventoryError(where, None, f"cannot read it: {exc.strerror or exc}") from None
    return parse_inventory_bytes(data, path, defaults=defaults, format=format)


def parse_inventory_bytes(data: bytes, path: Path, *, defaults: Defaults, format: str | None = None) -> Inventory:
    """The bytes of an inventory file -> Inventory; `path` names it in messages and picks the format."""
    check_defaults(defaults)
    where = str(path)
    if len(data) > MAX_FILE_BYTES:
        raise InventoryError(where, None, f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; not an inventory")
    refuse_workbook(data, path)
    content = decode(data, where)
    chosen = format or detect_format(path, content)
    if chosen not in FORMATS:
        raise InventoryError(where, None, f"unknown inventory format {chosen!r}")
    parsed, warnings = PARSERS[chosen](content, where, defaults)
    if len(parsed) > MAX_HOSTS:
        raise InventoryError(where, None, f"lists more than {MAX_HOSTS} hosts")
    hosts, duplicate_warnings = deduplicate(parsed)
    return Inventory(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        format=chosen,
        hosts=tuple(hosts),
        warnings=tuple(warnings + duplicate_warnings),
    )


def check_defaults(defaults: Defaults) -> None:
    """The command-line defaults are checked like inventory values (UsageError -> exit 64)."""
    if defaults.scheme not in SCHEMES:
        raise UsageError(f"default scheme {defaults.scheme!r} is not one of {', '.join(SCHEMES)}")
    if defaults.auth not in AUTH_METHODS:
        raise UsageError(f"default auth {defaults.auth!r} is not one of {', '.join(AUTH_METHODS)}")
    if defaults.tls not in TLS_MODES:
        raise UsageError(f"default tls {defaults.tls!r} is not one of {', '.join(TLS_MODES)}")
    if defaults.port is not None and not 1 <= defaults.port <= 65535:
        raise UsageError(f"default port {defaults.port} is out of range 1-65535")
    if defaults.scheme == "https" and WELL_KNOWN_PORTS.get(defaults.port or 0) == "http":
        raise UsageError(f"port {defaults.port} is WinRM's http port; use --scheme http or another port")


def decode(data: bytes, where: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM as PowerShell 5's Out-File writes, or Windows-1252 as
    Excel's "CSV (Comma delimited)" writes on a western Windows (as logs are read); lines bounded."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            content = data.decode("utf-16")
        except UnicodeDecodeError:
            raise InventoryError(where, None, "is not valid UTF-16 text despite its byte-order mark") from None
    else:
        content = _utf8_or_windows_1252(data.removeprefix(codecs.BOM_UTF8), where)
    for number, line_text in enumerate(content.splitlines(), start=1):
        if len(line_text) > MAX_LINE_CHARS:
            raise InventoryError(where, number, f"line is longer than {MAX_LINE_CHARS} characters")
        if "\x00" in line_text:
            raise InventoryError(where, number, "holds NUL characters; not a text inventory")
    return content


def _utf8_or_windows_1252(body: bytes, where: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    try:
        return body.decode("cp1252")
    except UnicodeDecodeError as exc:  # the five bytes Windows-1252 leaves undefined: neither encoding
        line = body[: min(first_bad, exc.start)].count(b"\n") + 1
        raise InventoryError(where, line, f"is neither UTF-8 nor Windows-1252 text (byte 0x{body[exc.start]:02x}); "
                                          "save it as UTF-8") from None


def refuse_workbook(data: bytes, path: Path) -> None:
    """A spreadsheet saved as a workbook (.xlsx is a ZIP file, .xls an OLE file) is not read: say how to save it as
    CSV instead of reporting a binary file that is not UTF-8."""
    workbook = path.suffix.lower() in _WORKBOOK_SUFFIXES or data.startswith(_WORKBOOK_MAGIC)
    if workbook:
        raise InventoryError(str(path), None, "is a spreadsheet workbook, not a text inventory: in Excel use File > "
                                              "Save As > \"CSV UTF-8 (Comma delimited)\" (or \"CSV (Comma "
                                              "delimited)\") and give cmaudit the .csv file")


def detect_format(path: Path, content: str) -> str:
    """By extension (.csv, .yml/.yaml, .ini), else by content (for Ansible's extension-less `hosts` files).

    The first line that is not blank or a comment decides: `[group]` is INI; `---`, `name: {...}`, or
    `name:` followed by indented lines is YAML; `,`, `;` or a tab is CSV. Otherwise a `key=value` on any
    host line means INI, and anything else is a plain host list (so `sms01:5985` stays text).
    """
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    if by_suffix:
        return by_suffix
    meaningful = [raw for raw in content.splitlines() if raw.strip() and not raw.lstrip().startswith(("#", ";"))]
    if not meaningful:
        return "text"
    first = meaningful[0].strip()
    if _INI_SECTION.fullmatch(first):
        return "ansible-ini"
    if first.startswith("---") or _YAML_FLOW.fullmatch(first) or (
            _YAML_KEY.fullmatch(first) and any(raw[:1].isspace() for raw in meaningful[1:])):
        return "ansible-yaml"
    if any(sep in first for sep in (",", ";", "\t")):
        return "csv"
    if any(_INI_HOST_VAR.search(raw) for raw in meaningful):
        return "ansible-ini"
    return "text"


def deduplicate(hosts: Sequence[Host]) -> tuple[list[Host], list[str]]:
    """Keep the first host per key, then merge unambiguous short names into their FQDN; warn for each."""
    warnings: list[tuple[int, str]] = []
    first_by_key: dict[tuple[str, int], Host] = {}
    for host in hosts:
        kept = first_by_key.setdefault(host.key, host)
        if kept is not host:
            warnings.append((host.line, _duplicate_warning(host, kept)))
    unique = list(first_by_key.values())

    fqdns: dict[tuple[str, int], list[Host]] = {}
    for host in unique:
        address, port = host.key
        if "." in address and not is_ip_address(address):
            fqdns.setdefault((address.split(".", 1)[0], port), []).append(host)
    dropped: set[int] = set()
    for host in unique:
        address, port = host.key
        if "." in address or is_ip_address(address):
            continue
        candidates = fqdns.get((address, port), [])
        if len(candidates) == 1:
            dropped.add(id(host))
            warnings.append((host.line, _duplicate_warning(host, candidates[0])))
        elif len(candidates) > 1:
            names = ", ".join(c.name for c in candidates)
            warnings.append((host.line, f"{host.source}: {host.name} could be any of {names}; scanned as written"))
    warnings.sort(key=lambda item: item[0])
    return [host for host in unique if id(host) not in dropped], [text for _, text in warnings]


def _duplicate_warning(dropped: Host, kept: Host) -> str:
    same = "" if dropped.name == kept.name else f"{kept.name} at "
    differs = (dropped.scheme, dropped.auth, dropped.username, dropped.site_code, dropped.tls) != (
        kept.scheme, kept.auth, kept.username, kept.site_code, kept.tls)
    note = " (its other settings are ignored)" if differs else ""
    return f"{dropped.source}: {dropped.name} duplicates {same}line {kept.line}; scanned once{note}"
