"""Per-host misbehaviour, off by default, so the scanner's reliability can be tested on purpose.

SPEC (for `cmaudit simulate --faults` and `Fleet(faults=...)`): comma-separated `HOSTS=FAULT[+FAULT...]`,
where HOSTS is a 0-based host index, a range `2-5`, or `*` for every host, and FAULT is one of

    latency:MS     add MS milliseconds before every answer
    refuse         the port is bound but not listening: connections are refused
    reset          the connection is reset (RST) half way through every answer
    hang           requests are read but never answered
    http500[xK]    answer HTTP 500 (only to the first K requests if `xK` is given, then recover)
    http503[xK]    answer HTTP 503 Service Unavailable (same `xK` rule)
    badauth        reject every credential with 401, like a wrong password
    badxml         answer WS-Management requests with truncated, malformed XML
    endless        a command never reaches CommandState Done; every Receive returns more output
    huge[:MB]      every command's stdout is followed by MB (default 64) megabytes of filler
    drip[:BPS]     answers are written BPS (default 1) bytes per second
    cmddelay:S     command output becomes available only S seconds after the Command request
    bigline[:MB]   every command's stdout carries, after its first line, one MB (default 50) megabyte line
                   without a newline
    nulflood[:MB]  every `type` command's stdout carries, inside the file it prints (after the first line
                   break past the middle of the output), MB (default 50) megabytes
                   of NUL bytes (a log padded by a crashed writer, grossly)
    xmlbomb        answer WS-Management requests with a billion-laughs document (DTD + nested entities)
    deepxml        answer WS-Management requests with a well-formed envelope nested 50,000 elements deep
    expiredcert    (HTTPS fleets) the host's certificate is signed by the fleet's CA but expired yesterday
    untrustedcert  (HTTPS fleets) the host's certificate is signed by some other CA

Switches for what 2003/2008-era servers really do (see simulator.eras; a host's era sets their defaults):

    tls10          (HTTPS) the listener speaks TLS 1.0 only, with a SHA-1 / RSA-1024 certificate
    cprefuse       Create with WINRS_CODEPAGE=65001 is refused with fault 2150859072
    cpsilent       a shell created with code page 65001 runs nothing: every command prints nothing, exit 0
    cpworks        code page 65001 works (UTF-8 output)
    shells:N[xK]   N shells of the audit account are still open (MaxShellsPerUser, fault 2150859173);
                   with xK they time out after K refused Creates
    users:N[xK]    N other users hold shells (MaxConcurrentUsers, fault 2150859179); xK as above
    noshell        AllowRemoteShellAccess=false: Create is refused with fault 2150859180
    nonadmin       the account logs on but is no administrator: Access is denied (w:AccessDenied)
    uacfilter      local accounts get a UAC-filtered token (LocalAccountTokenFilterPolicy=0): access denied
    denied401      an account without administrator rights (nonadmin, uacfilter, an era's UAC) is answered
                   HTTP 401 after its logon instead of the Access-denied fault. Unverified which Windows
                   sends which: pywinrm#114 and #188 report this 401 for a non-administrator and for a
                   UAC-filtered local administrator; DOMAIN.md names both replies
    regdenied      the SMS Setup keys deny reading: reg query says "Access is denied." and exits 1
    logdenied      the wsyncmgr log files deny reading: type says "Access is denied."
    nestedfault    faults carry their message in f:ProviderFault > f:WSManFault > f:Message
    iis404         IIS 6 answers the port: HTTP 404, `Server: Microsoft-IIS/6.0`, an HTML page. Unverified:
                   no capture of IIS 6 answering POST /wsman is public (status and header as IIS 6 documents)
    chunks:B       Receive replies hold little: rsp:Stream elements of at most B bytes, 8 per reply
    basiclocal     Basic authentication refuses domain accounts (local accounts only)
    chunked        replies are sent with `Transfer-Encoding: chunked` (8 KiB chunks) instead of Content-Length.
                   HTTP/1.1 allows it for any reply and HTTP.sys can send it; no public recording shows WinRM
                   doing so (unverified): a switch, so the client is tested against both framings

Logon policy switches (configuration rather than misbehaviour, kept in the same SPEC):

    nontlm         NTLM refused by domain policy ("Restrict NTLM: Incoming NTLM traffic = Deny all"): the
                   listener still offers Negotiate and Kerberos, an NTLM token (raw or inside SPNEGO) gets
                   401, Kerberos works (on a Kerberos fleet). Unverified: no public recording of the exact
                   reply; modelled as a plain 401 with the usual WWW-Authenticate.
    krbonly        WinRM's `Auth/Negotiate=false`: only `WWW-Authenticate: Kerberos` is offered and logons
                   under the Negotiate or NTLM scheme get 401. Unverified: the header set is inferred from
                   the WinRM auth settings, not from a recording.

Example: `2=refuse,5=hang,7=http503x2,*=latency:20`. Later items add to earlier ones for the same host.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["HostFaults", "FaultSpecError", "parse_spec", "NO_FAULTS"]


class FaultSpecError(ValueError):
    """A --faults SPEC that cannot be parsed; str() names the offending item."""


@dataclass(frozen=True, slots=True)
class HostFaults:
    latency_ms: float = 0.0
    refuse: bool = False
    reset: bool = False
    hang: bool = False
    http_status: int | None = None  # 500 or 503
    http_status_count: int | None = None  # None = every request
    badauth: bool = False
    badxml: bool = False
    endless: bool = False
    huge_mb: float = 0.0
    drip_bps: float = 0.0
    command_delay_s: float = 0.0
    bigline_mb: float = 0.0
    nulflood_mb: float = 0.0
    xmlbomb: bool = False
    deepxml: bool = False
    expiredcert: bool = False
    untrustedcert: bool = False
    # era switches: None means "as the host's era does"
    tls10: bool = False
    codepage_65001: str | None = None  # refuse | silent | works
    leaked_shells: int = 0
    leaked_release_after: int | None = None  # refused Creates before the leaked shells time out
    other_users: int = 0
    other_release_after: int | None = None
    noshell: bool = False
    nonadmin: bool = False
    uacfilter: bool = False
    denied401: bool = False
    regdenied: bool = False
    logdenied: bool = False
    nestedfault: bool = False
    iis404: bool = False
    stream_chunk: int = 0  # 0: as the era does
    basiclocal: bool = False
    nontlm: bool = False
    krbonly: bool = False
    chunked: bool = False

    @property
    def any(self) -> bool:
        return self != NO_FAULTS


NO_FAULTS = HostFaults()

_ITEM = re.compile(r"^(?P<hosts>\*|\d+(?:-\d+)?)=(?P<faults>.+)$")
_FAULT = re.compile(r"^(?P<name>[a-z0-9]+?)(?P<status>500|503)?(?::(?P<arg>[0-9.]+))?(?:x(?P<count>\d+))?$")
_FLAGS = frozenset({"refuse", "reset", "hang", "badauth", "badxml", "endless", "xmlbomb", "deepxml", "expiredcert",
                    "untrustedcert", "tls10", "noshell", "nonadmin", "uacfilter", "denied401", "regdenied", "logdenied",
                    "nestedfault", "iis404", "basiclocal", "nontlm", "krbonly", "chunked"})
_CODEPAGE_FLAGS = {"cprefuse": "refuse", "cpsilent": "silent", "cpworks": "works"}


def _number(item: str, arg: str | None, default: float | None) -> float:
    if arg is None:
        if default is None:
            raise FaultSpecError(f"fault {item!r} needs a value, e.g. {item}:1")
        return default
    try:
        value = float(arg)
    except ValueError:
        raise FaultSpecError(f"fault {item!r}: {arg!r} is not a number") from None
    if value < 0:
        raise FaultSpecError(f"fault {item!r}: value must not be negative")
    return value


def _whole(item: str, arg: str | None) -> int:
    value = _number(item, arg, None)
    if value != int(value):
        raise FaultSpecError(f"fault {item!r}: {arg!r} is not a whole number")
    return int(value)


# A fault with a value: how its `:ARG` (and, for shells/users, its `xK`) becomes HostFaults fields.
_Reader = Callable[[str, "str | None", "int | None"], dict[str, Any]]


def _amount(field: str, default: float | None) -> _Reader:
    """A number of milliseconds, megabytes or seconds (`default` when the value is left out; None: required)."""
    return lambda token, arg, _release: {field: _number(token, arg, default)}


def _holders(count_field: str, release_field: str) -> _Reader:
    """N shells or users already held, released after K refused Creates (`xK`) or never."""
    return lambda token, arg, release: {count_field: _whole(token, arg), release_field: release}


def _drip(token: str, arg: str | None, _release: int | None) -> dict[str, Any]:
    bps = _number(token, arg, 1.0)
    if bps == 0:
        raise FaultSpecError("fault 'drip' needs a rate above 0")
    return {"drip_bps": bps}


def _chunks(token: str, arg: str | None, _release: int | None) -> dict[str, Any]:
    size = _whole(token, arg)
    if size < 1:
        raise FaultSpecError("fault 'chunks' needs a size of at least 1 byte")
    return {"stream_chunk": size}


_VALUED: dict[str, _Reader] = {
    "latency": _amount("latency_ms", None),
    "huge": _amount("huge_mb", 64.0),
    "drip": _drip,
    "bigline": _amount("bigline_mb", 50.0),
    "nulflood": _amount("nulflood_mb", 50.0),
    "cmddelay": _amount("command_delay_s", None),
    "shells": _holders("leaked_shells", "leaked_release_after"),
    "users": _holders("other_users", "other_release_after"),
    "chunks": _chunks,
}
_COUNTED = frozenset({"shells", "users"})  # the only faults besides http500/http503 that take `xK`


def _switch(name: str, arg: str | None) -> dict[str, Any]:
    """A fault without a value: a flag, or one of the code page 65001 behaviours."""
    if arg is not None:
        raise FaultSpecError(f"fault {name!r} takes no value")
    return {"codepage_65001": _CODEPAGE_FLAGS[name]} if name in _CODEPAGE_FLAGS else {name: True}


def _apply(current: HostFaults, token: str) -> HostFaults:
    m = _FAULT.match(token)
    if not m:
        raise FaultSpecError(f"unknown fault {token!r}")
    name, status, count, arg = m["name"], m["status"], m["count"], m["arg"]
    if status is not None:
        if name != "http" or arg is not None:
            raise FaultSpecError(f"unknown fault {token!r}")
        return dataclasses.replace(current, http_status=int(status),
                                   http_status_count=int(count) if count is not None else None)
    if count is not None and name not in _COUNTED:
        raise FaultSpecError(f"fault {name!r} takes no xK count")
    if name in _FLAGS or name in _CODEPAGE_FLAGS:
        return dataclasses.replace(current, **_switch(name, arg))
    reader = _VALUED.get(name)
    if reader is None:
        raise FaultSpecError(f"unknown fault {token!r}")
    return dataclasses.replace(current, **reader(token, arg, int(count) if count is not None else None))


def parse_spec(spec: str | None, hosts: int) -> dict[int, HostFaults]:
    """Parse a SPEC into {host index: faults} for a fleet of `hosts` hosts (indices 0..hosts-1)."""
    result: dict[int, HostFaults] = {}
    if not spec or not spec.strip():
        return result
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        m = _ITEM.match(item)
        if not m:
            raise FaultSpecError(f"bad fault item {item!r}: expected HOST=FAULT, e.g. 2=refuse")
        if m["hosts"] == "*":
            indices = range(hosts)
        else:
            first, _, last = m["hosts"].partition("-")
            lo, hi = int(first), int(last or first)
            if lo > hi or hi >= hosts:
                raise FaultSpecError(f"fault item {item!r}: host index out of range 0..{hosts - 1}")
            indices = range(lo, hi + 1)
        for index in indices:
            current = result.get(index, NO_FAULTS)
            for token in m["faults"].split("+"):
                current = _apply(current, token.strip().lower())
            result[index] = current
    return result


def normalise(faults: str | Mapping[int, HostFaults] | None, hosts: int) -> dict[int, HostFaults]:
    """Accept either a SPEC string or an explicit mapping (as the Fleet API allows)."""
    if faults is None or isinstance(faults, str):
        return parse_spec(faults, hosts)
    for index in faults:
        if not 0 <= index < hosts:
            raise FaultSpecError(f"fault for host index {index} out of range 0..{hosts - 1}")
    return dict(faults)
