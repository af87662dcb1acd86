"""Parsing one entry's text in the two ConfigMgr log formats (server lines and CMTrace).

Pure functions over already decoded text; anything that does not fit returns None and the caller keeps
the line as raw text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scanner.advisory.logs.timezones import bias_for

CMTRACE_OPEN = "<![LOG["
CMTRACE_CLOSE = "]LOG]!><"

_SERVER_TAIL = re.compile(
    r"\$\$<(?P<comp>[^<>]*)><(?P<ts>[^<>]*)><thread=(?P<tid>\d{1,10})(?:\s*\(0x[0-9A-Fa-f]{1,8}\))?>"
)
_SHORT_TS = re.compile(
    r"(\d{1,2})-(\d{1,2})-(\d{4}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?(?:([+-])(\d{1,4}))?\s*"
)
_LONG_TS = re.compile(
    r"[A-Za-z]{3} ([A-Za-z]{3}) +(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))? (\d{4}) ([A-Za-z .\-]{1,64})"
)
_CM_TIME = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?(?:([+-])(\d{1,4}))?")
_CM_DATE = re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})")
_ATTR = re.compile(r'([A-Za-z_]+)="([^"]*)"')
_GMTDATE = re.compile(
    r"\bGMTDATE=[A-Za-z]{3} ([A-Za-z]{3}) +(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))? (\d{4})\b")
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_MAX_BIAS = 24 * 60


@dataclass(frozen=True, slots=True)
class Parsed:
    text: str
    time: datetime | None
    component: str | None
    thread: int | None
    severity: int | None = None


def to_utc(year: int, month: int, day: int, hour: int, minute: int, second: int, fraction: str | None,
           bias: int | None) -> datetime | None:
    """Local wall time plus the Windows bias (UTC = local + bias) -> aware UTC; None if invalid/unknown."""
    if bias is None or abs(bias) > _MAX_BIAS:
        return None
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
        return local + timedelta(minutes=bias)
    except (ValueError, OverflowError):
        return None


def _bias(sign: str | None, digits: str | None) -> int | None:
    if not sign or not digits:
        return None
    return int(digits) if sign == "+" else -int(digits)


def parse_server_time(ts: str) -> datetime | None:
    """`MM-DD-YYYY HH:MM:SS.mmm+BIAS` or the older `Fri Mar 26 10:43:41.547 1999 Eastern Standard Time`."""
    m = _SHORT_TS.fullmatch(ts)
    if m:
        mo, d, y, h, mi, s, frac, sign, digits = m.groups()
        return to_utc(int(y), int(mo), int(d), int(h), int(mi), int(s), frac, _bias(sign, digits))
    m = _LONG_TS.fullmatch(ts.strip())
    if m:
        mon, d, h, mi, s, frac, y, zone = m.groups()
        month = _MONTHS.get(mon.lower())
        if month is None:
            return None
        return to_utc(int(y), month, int(d), int(h), int(mi), int(s), frac, bias_for(zone))
    return None


def parse_server(line: str) -> Parsed | None:
    """`message  $$<COMPONENT><timestamp><thread=N (0xN)>`; None if the line is not in that form."""
    idx = line.rfind("$$<")
    if idx < 0:
        return None
    m = _SERVER_TAIL.match(line, idx)
    if m is None:
        return None
    return Parsed(
        text=line[:idx].rstrip(" \t"),
        time=parse_server_time(m.group("ts")),
        component=m.group("comp") or None,
        thread=int(m.group("tid")),
    )


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    except ValueError:
        return None


def _cmtrace_time(attrs: dict[str, str]) -> datetime | None:
    tm = _CM_TIME.fullmatch(attrs.get("time", "").strip())
    dm = _CM_DATE.fullmatch(attrs.get("date", "").strip())
    if not (tm and dm):
        return None
    h, mi, s, frac, sign, digits = tm.groups()
    mo, d, y = dm.groups()
    return to_utc(int(y), int(mo), int(d), int(h), int(mi), int(s), frac, _bias(sign, digits))


def cmtrace_attribute_time(attributes: str) -> datetime | None:
    """The UTC time of a CMTrace entry from the attributes after its `]LOG]!><` (None when they hold none)."""
    return _cmtrace_time(dict(_ATTR.findall(attributes)))


def gmtdate(text: str) -> datetime | None:
    """A STATMSG's `GMTDATE=Tue Jun 10 09:12:33.123 2008` (UTC by definition); None when absent or invalid."""
    m = _GMTDATE.search(text)
    if m is None:
        return None
    mon, d, h, mi, s, frac, y = m.groups()
    month = _MONTHS.get(mon.lower())
    return None if month is None else to_utc(int(y), month, int(d), int(h), int(mi), int(s), frac, 0)


def parse_cmtrace(entry: str) -> Parsed | None:
    """`<![LOG[message]LOG]!><time="..." date="..." component="..." ...>`, message possibly multi-line."""
    a = entry.find(CMTRACE_OPEN)
    if a < 0:
        return None
    b = entry.find(CMTRACE_CLOSE, a + len(CMTRACE_OPEN))
    if b < 0:
        return None
    attrs = dict(_ATTR.findall(entry, b + len(CMTRACE_CLOSE)))
    return Parsed(
        text=entry[a + len(CMTRACE_OPEN):b],
        time=_cmtrace_time(attrs),
        component=attrs.get("component") or None,
        thread=_int(attrs.get("thread")),
        severity=_int(attrs.get("type")),
    )
