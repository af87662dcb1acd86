"""Checking one inventory entry's values and turning them into a `Host`, the same way for every format.

Each check raises `InventoryError(path, line, message)` naming the value, except for password-like
values, which are never echoed (an admin who pastes a password into `password_env` must not find it in
a scheduler's mail).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from inventory.model import Defaults
from scanner.model.errors import InventoryError
from scanner.model.host import (
    AUTH_METHODS,
    DEFAULT_PORTS,
    SCHEMES,
    TLS_MODES,
    WELL_KNOWN_PORTS,
    Host,
    check_host_text,
)
from scanner.model.options import is_env_name

# pywinrm/Ansible spellings of our auth methods: "plaintext" and "ssl" are Basic (over HTTP/HTTPS).
AUTH_ALIASES = {"plaintext": "basic", "ssl": "basic", "cert": "certificate"}

_SITE_CODE = re.compile(r"[A-Za-z0-9]{3}")
_TAG_SPLIT = re.compile(r"[;,\s]+")
_MAX_VALUE = 1024


def _text(value: object) -> str | None:
    """A scalar inventory value as stripped text; None/"" mean "not given"."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = str(value).lower()
    text = str(value).strip() if isinstance(value, str | int | float) else None
    return text or None


def quote_value(value: str) -> str:
    """A value for an error message: bounded and printable, so a hostile file cannot flood the terminal."""
    shown = value if len(value) <= 60 else value[:57] + "..."
    return repr(shown)


def check_host_name(value: str, path: str, line: int, what: str = "host name") -> str:
    """A DNS name, an IPv6 address (brackets removed) or an IPv4 address, written canonically.

    Numeric forms a resolver would read as another address (octal, hexadecimal, one number) and names
    DNS cannot carry (a label over 63 characters) are refused here, with the line, rather than failing
    as a host error mid-scan or reaching another machine. Nothing is resolved.
    """
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text or len(text) > _MAX_VALUE:
        raise InventoryError(path, line, f"{what} {quote_value(value)} is not a valid host name or IP address")
    try:
        return check_host_text(text)
    except ValueError as exc:
        raise InventoryError(path, line, f"{what} {quote_value(value)} {exc}") from None


def parse_port(value: object, path: str, line: int) -> int | None:
    text = _text(value)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):
        raise InventoryError(path, line, f"port {quote_value(text)} is not a number")
    port = int(text[:6])
    if len(text) > 5 or not 1 <= port <= 65535:
        raise InventoryError(path, line, f"port {quote_value(text)} is out of range 1-65535")
    return port


def parse_scheme(value: object, path: str, line: int) -> str | None:
    text = _text(value)
    if text is None:
        return None
    scheme = text.lower()
    if scheme not in SCHEMES:
        raise InventoryError(path, line, f"transport {quote_value(text)} is not http or https")
    return scheme


def parse_tls(value: object, path: str, line: int) -> str | None:
    """`modern` or `legacy` (TLS 1.0 and SHA-1 / RSA-1024 certificates allowed for a 2003/2008 listener)."""
    text = _text(value)
    if text is None:
        return None
    mode = text.lower()
    if mode not in TLS_MODES:
        raise InventoryError(path, line, f"tls {quote_value(text)} is not modern or legacy")
    return mode


def parse_auth(value: object, path: str, line: int) -> str | None:
    """An auth method; a list ("ntlm,kerberos", ['ntlm', 'kerberos'] or a YAML list) means its first entry."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    text = _text(value)
    if text is None:
        return None
    first = text.strip("[]").split(",")[0].strip().strip("'\"").lower()  # also a Python-literal list in INI
    auth = AUTH_ALIASES.get(first, first)
    if auth not in AUTH_METHODS:
        raise InventoryError(path, line, f"auth {quote_value(text)} is not one of {', '.join(AUTH_METHODS)}")
    return auth


def parse_tags(value: object, path: str, line: int) -> tuple[str, ...]:
    """Tags separated by ';', ',' or spaces (or a YAML list); printable, bounded, first spelling kept."""
    items: Iterable[object] = value if isinstance(value, list | tuple) else [value]
    tags: dict[str, None] = {}
    for item in items:
        text = _text(item)
        if text:
            tags.update(dict.fromkeys(_TAG_SPLIT.split(text)))
    tags.pop("", None)
    for tag in tags:
        if len(tag) > _MAX_VALUE or not tag.isprintable():
            raise InventoryError(path, line, f"tag {quote_value(tag)} is too long or holds control characters")
    return tuple(tags)


def parse_site_code(value: object, path: str, line: int) -> str | None:
    text = _text(value)
    if text is None:
        return None
    if not _SITE_CODE.fullmatch(text):
        raise InventoryError(path, line, f"site code {quote_value(text)} is not 3 letters or digits")
    return text.upper()


def parse_env_name(value: object, path: str, line: int) -> str | None:
    """The *name* of an environment variable; its value is never shown, in case it is a password."""
    text = _text(value)
    if text is None:
        return None
    if not is_env_name(text):
        raise InventoryError(path, line, "password_env must name an environment variable "
                                         "(letters, digits and _), not hold a password; value not shown")
    return text


def parse_plain(value: object, path: str, line: int, what: str) -> str | None:
    """A free-text value (user name, certificate path): bounded, no control characters."""
    text = _text(value)
    if text is None:
        return None
    if len(text) > _MAX_VALUE or not text.isprintable():
        raise InventoryError(path, line, f"{what} {quote_value(text)} is too long or holds control characters")
    return text


def build_host(
    name: str,
    *,
    path: str,
    line: int,
    defaults: Defaults,
    address: object = None,
    port: object = None,
    scheme: object = None,
    auth: object = None,
    site_code: object = None,
    tags: object = None,
    username: object = None,
    password_env: object = None,
    cert_pem: object = None,
    cert_key_pem: object = None,
    tls: object = None,
) -> Host:
    """One validated Host.

    Scheme: as written; else implied by the host's port when it is a WinRM one (80/5985 http, 443/5986
    https); else implied by --port the same way (so `--port 443` alone means https, in the dry run and the
    scan alike); else --scheme.
    Port: as written; else --port; else 5985 for http, 5986 for https.
    """
    host_name = check_host_name(name, path, line)
    address_text = _text(address)
    host_address = check_host_name(address_text, path, line, "address") if address_text else host_name
    host_port = parse_port(port, path, line)
    host_scheme = parse_scheme(scheme, path, line)
    if host_scheme is None:
        implied_by = host_port or defaults.port
        host_scheme = WELL_KNOWN_PORTS.get(implied_by, defaults.scheme) if implied_by else defaults.scheme
    if host_port is None:
        host_port = defaults.port or DEFAULT_PORTS[host_scheme]
    return Host(
        name=host_name,
        address=host_address,
        port=host_port,
        scheme=host_scheme,
        auth=parse_auth(auth, path, line) or defaults.auth,
        site_code=parse_site_code(site_code, path, line),
        tags=tags if isinstance(tags, tuple) else parse_tags(tags, path, line),  # a tuple is already checked
        username=parse_plain(username, path, line, "user name"),
        password_env=parse_env_name(password_env, path, line),
        cert_pem=parse_plain(cert_pem, path, line, "cert_pem"),
        cert_key_pem=parse_plain(cert_key_pem, path, line, "cert_key_pem"),
        source=f"{path}:{line}",
        tls=parse_tls(tls, path, line) or defaults.tls,
    )


def split_host_port(token: str, path: str, line: int) -> tuple[str, str | None]:
    """`host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address -> (host, port text or None)."""
    if token.startswith("["):
        inside, bracket, rest = token[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InventoryError(path, line, f"{quote_value(token)} is not host[:port] (IPv6: [::1]:5985)")
        return inside, rest[1:] if rest else None
    if token.count(":") > 1:  # a bare IPv6 address cannot carry a port
        return token, None
    host, colon, port = token.partition(":")
    if colon and not port:
        raise InventoryError(path, line, f"{quote_value(token)} has an empty port")
    return host, port if colon else None
