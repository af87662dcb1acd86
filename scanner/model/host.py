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
- Within one run, `run_keys` gives every target a unique key that does not depend on row order: the
  stable name, or `name@address:port` for each target of a name that the run holds more than once (one
  name on two ports or two addresses). Evidence folders and the history use it.
- A host is a DNS name, an IPv6 address, or an IPv4 address as four decimal numbers. Numeric forms a
  resolver reads differently (`0177.0.0.1` as octal, `2130706433`, `0`, `010.010.010.010` = 8.8.8.8)
  are refused by `host_text_problem`; zero padding that reads the same either way (`127.000.000.001`)
  is written in canonical form, so it merges with `127.0.0.1`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections import Counter
from collections.abc import Iterable, Sequence
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


@functools.lru_cache(maxsize=16384)  # Host.key is asked for many times per host in a run; parsing IPs is not free
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
        return _unambiguous_ipv4(text) or text


_NUMERIC_LABEL = re.compile(r"0[xX][0-9A-Fa-f]*|[0-9]+")
_DNS_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")
MAX_LABEL = 63
MAX_NAME = 253


def _unambiguous_ipv4(text: str) -> str | None:
    """`127.000.000.001` -> `127.0.0.1`: four decimal numbers whose zero padding every resolver reads alike."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
        return None
    decimal = ".".join(str(int(p)) for p in parts)
    try:
        ipaddress.IPv4Address(decimal)
        as_resolved = socket.inet_ntoa(socket.inet_aton(text))  # libc parsing only, no lookup
    except (OSError, ValueError):
        return None
    return decimal if as_resolved == decimal else None


def host_text_problem(text: str) -> str | None:
    """Why `text` cannot be a host (None: it can): see the module docstring. Parses only, never resolves."""
    if ":" in text:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return "is not a valid IPv6 address"
        return None
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if not all(_NUMERIC_LABEL.fullmatch(label) for label in labels) and labels[-1].isdigit():
        return "is not a valid host name: only an IPv4 address ends in a number"
    if all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        if canonical_ipv4(name) is not None:
            return None
        try:
            reached = socket.inet_ntoa(socket.inet_aton(name))  # what a resolver would connect to
        except OSError:
            return "is not a valid IPv4 address (write four decimal numbers, e.g. 10.0.0.1)"
        return (f"is not an IPv4 address in canonical form: a resolver reads it as {reached}; write the "
                "address as four decimal numbers without leading zeros")
    if len(name) > MAX_NAME:
        return f"is longer than {MAX_NAME} characters, the most a DNS name may have"
    for label in labels:
        if len(label) > MAX_LABEL:
            return f"has a label of {len(label)} characters ({label[:20]}...); DNS allows at most {MAX_LABEL}"
        if not _DNS_LABEL.fullmatch(label):
            return "is not a valid host name (letters, digits, '-' and '_' between dots)"
    try:
        name.encode("idna")
    except UnicodeError as exc:
        return f"is not a valid host name ({exc})"
    return None


def canonical_ipv4(text: str) -> str | None:
    """The canonical dotted quad for `text` when it is one (or unambiguously zero-padded), else None."""
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return _unambiguous_ipv4(text)


def check_host_text(text: str) -> str:
    """A host as it will be used: IPv4 in canonical form, anything else as written. ValueError if unusable."""
    problem = host_text_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return canonical_ipv4(text) or text


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
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def endpoint(address: str, port: int) -> str:
    """`address:port` as a URL writes it: an IPv6 address in brackets (`[2001:db8::7301]:5986`)."""
    return f"{_bracket(address)}:{port}"


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


def shared_name_key(name: str, address: str, port: int) -> str:
    """The key of a target whose name another target of the same run holds too: `name@address:port`."""
    return f"{normalise_address(name)}@{_bracket(normalise_address(address))}:{port}"


def run_keys(targets: Sequence[tuple[str, str, int]]) -> list[str]:
    """A key per (name, address, port) of one run: unique, and independent of the targets' order.

    The stable key (`stable_key(name, port)`) when no other target of the run shares it; else
    `name@address:port` for every target that does (a name on two ports or two addresses). Exact
    repeats, which an inventory never yields, get `#2`, `#3` in order.
    """
    plain = [stable_key(name, port) for name, _address, port in targets]
    shared = Counter(plain)
    keys: list[str] = []
    seen: Counter[str] = Counter()
    for key, (name, address, port) in zip(plain, targets, strict=True):
        if shared[key] > 1:
            key = shared_name_key(name, address, port)
        seen[key] += 1
        keys.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return keys


def shared_names(targets: Iterable[tuple[str, str, int]]) -> set[str]:
    """The names (case-folded) that more than one (address, port) of these targets holds: where a list must add
    the port to tell the hosts apart."""
    seen: dict[str, set[tuple[str, int]]] = {}
    for name, address, port in targets:
        seen.setdefault(name.casefold(), set()).add((normalise_address(address), port))
    return {name for name, places in seen.items() if len(places) > 1}


def display_name(name: str, port: int) -> str:
    """A host with its port when that is not a default: for lists where one name stands for several hosts."""
    if port in WELL_KNOWN_PORTS:
        return name
    return f"{_bracket(name)}:{port}"
