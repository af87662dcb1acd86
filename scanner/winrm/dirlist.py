"""Reading a file's date and size from cmd's `dir` listing, in the date format of the account that ran it.

`dir` prints the last write time in the local time of the server and the short date format of the user the
shell runs as (`06/11/2008  03:12 AM` for en-US, `11.06.2008  03:12` for nb-NO). The order of day, month and
year comes from the same account's `HKCU\\Control Panel\\International` (`sShortDate`, else `iDate`), read in
the same batch; where neither is there, a date is read only when it cannot be taken two ways (a year first,
or a day above 12). Sizes may carry any thousands separator. The text comes from a server: lines that do
not fit are skipped, never fatal.
"""

from __future__ import annotations

import functools
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


def _fold(marker: str) -> str:
    """An AM/PM marker without case, dots or spaces: es-MX's `p. m.` is `pm`."""
    return re.sub(r"[\s.]", "", marker).casefold()


def _hour_minute(time_token: str, marker: str, style: DateStyle) -> tuple[int, int] | None:
    """The time, on a 24-hour clock; None where a marker is not one this account's AM/PM words (or AM/PM) name:
    a time 12 hours off is worse than none."""
    m = _TIME.match(time_token)
    if m is None:
        return None
    hour, minute = int(m.group(1)), int(m.group(2))
    folded = _fold(marker)
    if folded:
        if folded in {_fold(style.pm), "pm", "p"} - {""}:
            hour = hour % 12 + 12 if hour <= 12 else 99
        elif folded in {_fold(style.am), "am", "a"} - {""}:
            hour = hour % 12 if hour <= 12 else 99
        else:
            return None
    return (hour, minute) if hour < 24 and minute < 60 else None


@functools.lru_cache(maxsize=8)
def _line(name: str) -> re.Pattern[str]:
    """A `dir` line for exactly `name`: date (hu-HU writes `2008. 06. 24.`), an AM/PM word before the time (ko-KR,
    zh-TW) or after it (en-US `AM`, es-MX `p. m.`), the size with any thousands separator, then the name alone."""
    return re.compile(
        r"\s*(?P<date>\d{1,4}[./-]\s?\d{1,2}[./-]\s?\d{1,4}\.?)\s+"
        r"(?:(?P<pre>[^\d\s<][^\d<]{0,15}?)\s+)?"
        r"(?P<time>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)"
        r"(?:\s*(?P<post>[^\d\s<][^\d<]{0,15}?))?"
        r"\s+(?P<size>\d[\d.,'\s\u00a0\u202f]{0,40}?)\s+" + re.escape(name) + r"\s*", re.IGNORECASE)


def file_stamp(listing: str, folder: str, name: str, style: DateStyle) -> FileStamp | None:
    """The line for `name` (exactly: not `Copy of <name>`) in a `dir` listing of `folder`, as a FileStamp (None
    when it is not listed). A date or time that cannot be read for sure is left out, never guessed."""
    pattern = _line(name)
    for line in listing.splitlines():
        m = pattern.fullmatch(line) if len(line) <= _MAX_LINE else None
        if m is None:
            continue
        marker = m.group("pre") or m.group("post") or ""
        ymd, hm = _ymd(m.group("date"), style), _hour_minute(m.group("time"), marker, style)
        written = None
        if ymd is not None:
            written = f"{ymd[0]:04d}-{ymd[1]:02d}-{ymd[2]:02d}" + (f" {hm[0]:02d}:{hm[1]:02d}" if hm else "")
        digits = re.sub(r"\D", "", m.group("size"))
        return FileStamp(path=f"{folder.rstrip(chr(92))}\\{name}", written=written,
                         size=int(digits) if digits and len(digits) < 16 else None)
    return None
