"""A scan target (`Host`) and the identity rules every layer relies on.

Identity rules, relied on by de-duplication and by history across weekly runs:

- `Host.key` is (normalised address, port). Normalising lower-cases, drops one trailing dot and writes
  IP addresses in their canonical form (`::0001` -> `::1`), so `SMS01.corp.example.` and
  `sms01.corp.example` are one host while two simulated hosts on 127.0.0.1 with different ports are two.
- A short name and an FQDN (`sms01` / `sms01.corp.example`) are only merged by `inventory.load`, and only
  when the inventory holds exactly one FQDN with that first label and port: the key alone cannot know.
- `Host.stable_name` is the normalised *name* (not the address, which may be an IP that changes), with
  `:port` appended only for a port that is not one of WinRM's well-known ports (80, 443, 5985, 5986): a
  server moved from WinRM 1.1 (80) to 2.0 (5985) stays the same server, two simulated hosts on one
  address stay apart.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

SCHEMES = ("http", "https")
AUTH_METHODS = ("ntlm", "negotiate", "kerberos", "credssp", "certificate", "basic")
# How HTTPS may be spoken to a host: "modern" (TLS 1.2+, today's certificate rules) or "legacy" (TLS 1.0/1.1 and
# SHA-1 / RSA-1024 certificates allowed, as Server 2003/2008 listeners need; chosen per host, never on its own).
TLS_MODES = ("modern", "legacy")

DEFAULT_PORTS = {"http": 5985, "https": 5986}
# WinRM 2.0 listens on 5985/5986, WinRM 1.1 (Server 2003 R2, 2008) on 80/443.
WELL_KNOWN_PORTS = {80: "http", 5985: "http", 443: "https", 5986: "https"}


@dataclass(frozen=True, slots=True)
class Host:
    """One scan target, as the inventory describes it (never holds a password, only where to find one)."""

    name: str  # as written in the inventory
    address: str  # what to connect to: ansible_host, or the name
    port: int
    scheme: str  # "http" | "https"
    auth: str  # one of AUTH_METHODS
    site_code: str | None = None
    tags: tuple[str, ...] = ()
    username: str | None = None
    password_env: str | None = None  # name of an environment variable holding this host's password
    cert_pem: str | None = None  # client certificate for auth="certificate"
    cert_key_pem: str | None = None
    source: str = ""  # "file:line"
    tls: str = "modern"  # one of TLS_MODES

    @property
    def key(self) -> tuple[str, int]:
        """Identity for de-duplication: (normalised address, port)."""
        return normalise_address(self.address), self.port

    @property
    def stable_name(self) -> str:
        """Identity across runs: the normalised name, plus the port when it is not a WinRM default."""
        return stable_key(self.name, self.port)

    @property
    def url(self) -> str:
        """The WS-Management endpoint, for messages and reports."""
        return f"{self.scheme}://{_bracket(self.address)}:{self.port}/wsman"

    @property
    def line(self) -> int:
        """The inventory line this host came from (0 when unknown)."""
        _, _, line = self.source.rpartition(":")
        return int(line) if line.isdigit() else 0


def normalise_address(address: str) -> str:
    """Lower-case, drop one trailing dot, canonical IP form; the spelling-independent name of a host."""
    text = address.strip().lower()
    if text.endswith("."):
        text = text[:-1]
    if not _could_be_ip(text):
        return text
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text


def is_ip_address(address: str) -> bool:
    if not _could_be_ip(address):
        return False
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _could_be_ip(text: str) -> bool:
    """Cheap pre-check: an IPv4 address starts with a digit, an IPv6 one holds a colon."""
    return bool(text) and (text[0].isdigit() or ":" in text)


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def stable_key(name: str, port: int | None = None) -> str:
    """The key a host is matched by across runs (`Host.stable_name`, the history, evidence folders).

    The name normalised; `:port` appended only for a port that is not one of WinRM's well-known ones, so
    a server moved from WinRM 1.1 (80) to 2.0 (5985) stays one host, and two simulated hosts on one
    address stay two.
    """
    text = normalise_address(name)
    if port is None or port in WELL_KNOWN_PORTS:
        return text
    return f"{_bracket(text)}:{port}"


def display_name(name: str, port: int) -> str:
    """How lists of changes name a host: as in the inventory, with its port when that is not a default."""
    if port in WELL_KNOWN_PORTS:
        return name
    return f"{_bracket(name)}:{port}"
