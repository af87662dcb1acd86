"""Reading a file's date and size from cmd's `dir` listing, in the date format of the account that ran it.

`dir` prints the last write time in the local time of the server and the short date format of the user the
shell runs as (`06/11/2008  03:12 AM` for en-US, `11.06.2008  03:12` for nb-NO). The order of day, month and
year comes from the same account's `HKCU\\Control Panel\\International` (`sShortDate`, else `iDate`), read in
the same batch; where neither is there, a date is read only when it cannot be taken two ways (a year first,
or a day above 12). Sizes may carry any thousands separator. The text comes from a server: lines that do
not fit are skipped, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.model.records import FileStamp
from scanner.winrm.regparse import RegKey

_NUMBERS = re.compile(r"\d+")
_TIME = re.compile(r"(\d{1,2})[:.](\d{2})(?:[:.]\d{2})?$")
_ORDERS = ("MDY", "DMY", "YMD")
_MAX_LINE = 4096


@dataclass(frozen=True, slots=True)
class DateStyle:
    """How this account's `dir` writes dates: field order, and its AM/PM words."""

    order: str | None = None  # "MDY", "DMY" or "YMD"; None: unknown
    am: str = "AM"
    pm: str = "PM"


def date_style(international: RegKey | None) -> DateStyle:
    """The style from `HKCU\\Control Panel\\International` (sShortDate "M/d/yyyy", else iDate 0/1/2)."""
    if international is None:
        return DateStyle()
    am = (international.text("s1159") or "AM").strip() or "AM"
    pm = (international.text("s2359") or "PM").strip() or "PM"
    short = (international.text("sShortDate") or "").casefold()
    letters = [c for c in short if c in "dmy"]
    order = "".join(dict.fromkeys(letters)).upper() if letters else ""
    if order not in _ORDERS:
        idate = (international.text("iDate") or "").strip()
        order = _ORDERS[int(idate)] if idate in ("0", "1", "2") else ""
    return DateStyle(order or None, am, pm)


def _ymd(token: str, style: DateStyle) -> tuple[int, int, int] | None:
    parts = [int(n) for n in _NUMBERS.findall(token)]
    if len(parts) != 3:
        return None
    order = style.order
    if order is None:  # only a date that cannot be read two ways
        if len(_NUMBERS.findall(token)[0]) == 4:
            order = "YMD"
        elif parts[0] > 12 >= parts[1]:
            order = "DMY"
        elif parts[1] > 12 >= parts[0]:
            order = "MDY"
        else:
            return None
    fields = dict(zip(order, parts, strict=True))
    year = fields["Y"] + (2000 if fields["Y"] < 80 else 1900 if fields["Y"] < 100 else 0)
    if not (1 <= fields["M"] <= 12 and 1 <= fields["D"] <= 31):
        return None
    return year, fields["M"], fields["D"]


def _hour_minute(time_token: str, marker: str, style: DateStyle) -> tuple[int, int] | None:
    m = _TIME.match(time_token)
    if m is None:
        return None
    hour, minute = int(m.group(1)), int(m.group(2))
    folded = marker.casefold()
    if folded and folded in (style.pm.casefold(), "pm", "p"):
        hour = hour % 12 + 12
    elif folded and folded in (style.am.casefold(), "am", "a"):
        hour %= 12
    return (hour, minute) if hour < 24 and minute < 60 else None


def file_stamp(listing: str, folder: str, name: str, style: DateStyle) -> FileStamp | None:
    """The line for `name` in a `dir` listing of `folder`, as a FileStamp (None when it is not listed)."""
    wanted = name.casefold()
    for line in listing.splitlines():
        if len(line) > _MAX_LINE or not line.rstrip().casefold().endswith(wanted):
            continue
        tokens = line.rstrip()[: -len(name)].split()
        if len(tokens) < 3 or "<dir>" in (t.casefold() for t in tokens):
            continue
        marker = tokens[2] if not any(c.isdigit() for c in tokens[2]) else ""
        size_text = "".join(tokens[3:] if marker else tokens[2:])
        ymd, hm = _ymd(tokens[0], style), _hour_minute(tokens[1], marker, style)
        written = None
        if ymd is not None:
            written = f"{ymd[0]:04d}-{ymd[1]:02d}-{ymd[2]:02d}" + (f" {hm[0]:02d}:{hm[1]:02d}" if hm else "")
        digits = re.sub(r"\D", "", size_text)
        return FileStamp(path=f"{folder.rstrip(chr(92))}\\{name}", written=written,
                         size=int(digits) if digits and len(digits) < 16 else None)
    return None
