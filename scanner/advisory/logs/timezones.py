"""Windows time zone names, as the old long-form SMS timestamps print them, to their bias.

The bias is the Windows one: minutes to *add* to local time to get UTC (+480 is Pacific Standard Time).
Only names we are sure of are listed; an unknown name yields None, so the entry's time stays unknown
rather than becoming a wrong time.
"""

from __future__ import annotations

# Standard bias of common Windows zones (HKLM\...\Time Zones\<name>\TZI); "X Standard Time" is the key.
_STANDARD: dict[str, int] = {
    "Dateline": 720, "Samoa": 660, "Hawaiian": 600, "Alaskan": 540, "Pacific": 480, "Mountain": 420,
    "US Mountain": 420, "Central": 360, "Canada Central": 360, "Central America": 360, "Eastern": 300,
    "US Eastern": 300, "SA Pacific": 300, "Atlantic": 240, "SA Western": 240, "Pacific SA": 240,
    "Newfoundland": 210, "E. South America": 180, "SA Eastern": 180, "Greenland": 180, "Mid-Atlantic": 120,
    "Azores": 60, "Cape Verde": 60, "GMT": 0, "Greenwich": 0, "W. Europe": -60, "Central Europe": -60,
    "Romance": -60, "Central European": -60, "W. Central Africa": -60, "GTB": -120, "E. Europe": -120,
    "FLE": -120, "Israel": -120, "South Africa": -120, "Egypt": -120, "Russian": -180, "Arab": -180,
    "E. Africa": -180, "Arabic": -180, "Iran": -210, "Arabian": -240, "Caucasus": -240, "Afghanistan": -270,
    "West Asia": -300, "Ekaterinburg": -300, "India": -330, "Nepal": -345, "Central Asia": -360,
    "N. Central Asia": -360, "Myanmar": -390, "SE Asia": -420, "North Asia": -420, "China": -480,
    "Singapore": -480, "Taipei": -480, "W. Australia": -480, "North Asia East": -480, "Tokyo": -540,
    "Korea": -540, "Yakutsk": -540, "AUS Central": -570, "Cen. Australia": -570, "AUS Eastern": -600,
    "E. Australia": -600, "Tasmania": -600, "West Pacific": -600, "Vladivostok": -600,
    "Central Pacific": -660, "New Zealand": -720, "Fiji": -720, "Tonga": -780,
}

# Zones whose daylight saving time is one hour ahead of standard time and whose "X Daylight Time"
# name Windows prints while it is in effect.
_DAYLIGHT = (
    "Alaskan", "Pacific", "Mountain", "Central", "Eastern", "Atlantic", "Newfoundland", "E. South America",
    "GMT", "W. Europe", "Central Europe", "Romance", "Central European", "GTB", "E. Europe", "FLE",
    "Israel", "Egypt", "Russian", "Iran", "Cen. Australia", "AUS Eastern", "Tasmania", "New Zealand",
)


def _build() -> dict[str, int]:
    table = {f"{name} standard time".lower(): bias for name, bias in _STANDARD.items()}
    table.update({f"{name} daylight time".lower(): _STANDARD[name] - 60 for name in _DAYLIGHT})
    table["coordinated universal time"] = 0
    table["utc"] = 0
    return table


_TABLE = _build()


def bias_for(name: str) -> int | None:
    """The Windows bias (UTC = local + bias) for a zone name, or None when we do not know it for sure."""
    return _TABLE.get(" ".join(name.split()).lower())
