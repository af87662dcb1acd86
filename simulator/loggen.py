"""Realistic wsyncmgr.log text for a ConfigMgr 2007 site server, deterministic from a seed.

The log follows the SMS_WSUS_SYNC_MANAGER server format
`text  $$<SMS_WSUS_SYNC_MANAGER><MM-DD-YYYY HH:MM:SS.mmm+BIAS><thread=N (0xN)>`: hourly polling cycles,
scheduled WSUS syncs with their STATMSG lines (6701, 6704, 6705, 6702, sometimes 6703), one line per
synchronised update (which is what makes real logs several MB), and, where the site serves SMS 2003
clients, a legacy sync after each sync (6709, then 6710 or 6711). The scenario decides how those
legacy syncs end over time, around the real dates of advisory 954474 (June 2008).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

COMPONENT = "SMS_WSUS_SYNC_MANAGER"
SIGNATURE_954474 = "Error 0x80004005, unexpected DeploymentAction for update 1293995. Returned from CreateUpdateNode"
ZERO_SUMMARY = "Security updates summary: 0 processed, 0 matched, 0 outdated, 0 updated"

FAILURES_START = date(2008, 6, 10)  # the catalog that trips 954474 arrived with June's updates
FIX_INSTALLED = date(2008, 6, 18)  # KB 951376 was released on 17 June 2008


# What a localised site server writes for the messages that matter; the tokens (ids, error codes, the
# update id, CreateUpdateNode) stay as they are. Norwegian text as in the advisory's nb-NO edition.
_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "legacy": "Performing legacy sync",
        "cmdline": "Started with command line: {exe} /SiteCode:{site} /Catalog:{cab}",
        "processing": "Processing security catalog {cab} ...",
        "disk_full": "Error 0x80070070, there is not enough space on the disk to extract {cab}. "
                     "Returned from ExtractCatalog",
        "initializing": "Initializing catalog {cab} for sync.",
        "preprocessing": "Preprocessing updates...",
        "error_954474": SIGNATURE_954474,
        "summary": "Security updates summary: {p} processed, {m} matched, {o} outdated, {u} updated",
        "wakeup": "Wakeup for a polling cycle",
        "next_sync": "Next scheduled sync is a regular sync at {alarm}",
        "starting": "Starting Sync",
        "sync_ok": "Sync succeeded. Setting sync alarm to {alarm}.",
    },
    "nb": {
        "legacy": "Utf\u00f8rer synkronisering av eldre enheter",
        "cmdline": "Begynte med kommandolinjen: {exe} /SiteCode:{site} /Catalog:{cab}",
        "processing": "Behandler sikkerhetskatalogen {cab} ...",
        "disk_full": "Feil 0x80070070, det er ikke nok plass p\u00e5 disken til \u00e5 pakke ut {cab}. "
                     "Returnert fra ExtractCatalog",
        "initializing": "Initialiserer katalogen {cab} for synkronisering.",
        "preprocessing": "Forh\u00e5ndsbehandle oppdateringer...",
        "error_954474": "Feil 0x80004005, uventet DeploymentAction for oppdatering 1293995. "
                        "Returnert fra CreateUpdateNode",
        "summary": "Sammendrag av sikkerhetsoppdateringer: {p} behandlet, {m} samsvart, {o} utdatert, {u} oppdatert",
        "wakeup": "Aktivering for en avsp\u00f8rringssyklus",
        "next_sync": "Neste planlagte synkronisering er en vanlig synkronisering {alarm}",
        "starting": "Starter synkronisering",
        "sync_ok": "Synkroniseringen var vellykket. Angir synkroniseringsalarm til {alarm}.",
    },
}
LANGUAGES = tuple(_TEXT)


class Scenario(StrEnum):
    HEALTHY = "healthy"  # every legacy sync succeeds
    AFFECTED = "affected"  # legacy syncs fail with the 954474 error from FAILURES_START on
    RECOVERED = "recovered"  # they fail from FAILURES_START and succeed again from FIX_INSTALLED
    OTHER_FAILURE = "other-failure"  # they fail from FAILURES_START, with an unrelated error
    NO_LEGACY = "no-legacy"  # no SMS 2003 clients: no legacy sync at all


@dataclass(frozen=True, slots=True)
class LogSpec:
    scenario: Scenario
    seed: int = 1
    server: str = "SMS01"
    domain: str = "contoso.com"
    site_code: str = "CEN"
    install_dir: str = "C:\\Program Files\\Microsoft Configuration Manager"
    itmu_dir: str = "C:\\Program Files\\Microsoft Updates Inventory Tool"
    bias: int = 420  # minutes; UTC = local + bias (420: Pacific daylight time)
    start: date = date(2008, 6, 1)
    days: int = 24
    sync_every_days: int = 1
    quiet_tail_days: int = 0  # polling-only days after the last sync (they become wsyncmgr.log when rolled)
    target_bytes: int = 300_000
    language: str = "en"  # a key of _TEXT
    quoted_catalog: bool = True  # the command line quotes the catalog's path (False: unquoted, as some hosts write it)


@dataclass(frozen=True, slots=True)
class GeneratedLog:
    text: str  # CRLF line endings, no BOM
    tail_offset: int  # where the quiet tail starts (== len(text) when there is none)
    head_last_write: datetime  # local time of the last line before the tail
    last_write: datetime  # local time of the last line, the file's mtime


_PRODUCTS = (
    "Windows XP", "Windows Server 2003", "Windows Server 2003 x64 Edition", "Windows 2000", "Windows Vista",
    "Office 2003", "the 2007 Microsoft Office System", "Exchange Server 2007", "SQL Server 2005",
    "Internet Explorer 7 for Windows XP", "Microsoft\u00ae Office Word 2003",
)
_KINDS = ("Security Update for", "Cumulative Security Update for", "Update for", "Critical Update for")


class _Writer:
    """Accumulates lines with advancing local timestamps on one thread."""

    def __init__(self, spec: LogSpec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.lines: list[str] = []
        self.size = 0
        self.now = datetime.combine(spec.start, datetime.min.time()) + timedelta(minutes=rng.randint(0, 59))
        self.thread = rng.randint(1200, 6000)
        self.pid = rng.randint(1100, 3000)

    def emit(self, text: str, step_ms: tuple[int, int] = (0, 40)) -> None:
        self.now += timedelta(milliseconds=self.rng.randint(*step_ms))
        stamp = f"{self.now:%m-%d-%Y %H:%M:%S}.{self.now.microsecond // 1000:03d}{self.spec.bias:+04d}"
        line = f"{text}  $$<{COMPONENT}><{stamp}><thread={self.thread} (0x{self.thread:X})>"
        self.lines.append(line)
        self.size += len(line) + 2

    def statmsg(self, msg_id: int, severity: str = "I", strings: tuple[str, ...] = ()) -> None:
        self.now += timedelta(milliseconds=self.rng.randint(1, 30))
        gmt = self.now + timedelta(minutes=self.spec.bias)
        istr = " ".join(f'ISTR{i}="{strings[i] if i < len(strings) else ""}"' for i in range(10))
        text = (
            f'STATMSG: ID={msg_id} SEV={severity} LEV=M SOURCE="SMS Server" COMP="{COMPONENT}" '
            f"SYS={self.spec.server} SITE={self.spec.site_code} PID={self.pid} TID={self.thread} "
            f"GMTDATE={gmt:%a %b %d %H:%M:%S}.{gmt.microsecond // 1000:03d} {gmt:%Y} {istr} NUMATTRS=0"
        )
        self.emit(text, (0, 0))


def _alarm(when: datetime, language: str = "en") -> str:
    """The `M/D/YYYY H:MM:SS AM` form the component prints for its next sync (the locale's form elsewhere)."""
    if language != "en":
        return f"{when:%d.%m.%Y %H:%M:%S}"
    hour = when.hour % 12 or 12
    return f"{when.month}/{when.day}/{when.year} {hour}:{when:%M:%S} {'AM' if when.hour < 12 else 'PM'}"


def _legacy_outcome(scenario: Scenario, day: date) -> str:
    if scenario is Scenario.HEALTHY or day < FAILURES_START:
        return "ok"
    if scenario is Scenario.AFFECTED:
        return "954474"
    if scenario is Scenario.RECOVERED:
        return "ok" if day >= FIX_INSTALLED else "954474"
    return "other"


def _legacy_sync(w: _Writer, outcome: str) -> None:
    spec, rng = w.spec, w.rng
    cab = f"{spec.itmu_dir}\\PkgSource\\wsusscn2.cab"
    words = _TEXT[spec.language]
    exe = f"{spec.install_dir}\\bin\\i386\\updatewuscatalog.exe"
    w.emit(words["legacy"], (200, 900))
    w.statmsg(6709)
    argument = f'"{cab}"' if spec.quoted_catalog else cab
    w.emit(words["cmdline"].format(exe=exe, site=spec.site_code, cab=argument), (300, 2000))
    w.emit(words["processing"].format(cab=cab), (100, 600))
    if outcome == "other":
        w.emit(words["disk_full"].format(cab=cab), (2000, 9000))
        w.statmsg(6711, "E")
        return
    w.emit(words["initializing"].format(cab=cab), (1000, 5000))
    w.emit(words["preprocessing"], (3000, 15000))
    if outcome == "954474":
        w.emit(words["error_954474"], (20000, 90000))
        w.emit(words["summary"].format(p=0, m=0, o=0, u=0), (5, 60))
        w.statmsg(6711, "E")
        return
    summary = words["summary"].format(p=rng.randint(380, 460), m=rng.randint(80, 120), o=rng.randint(0, 6),
                                     u=rng.randint(0, 9))
    w.emit(summary, (60000, 240000))
    w.statmsg(6710)


def _update_lines(w: _Writer, count: int) -> None:
    rng = w.rng
    for _ in range(count):
        guid = uuid.UUID(int=rng.getrandbits(128), version=4)
        title = f"{rng.choice(_KINDS)} {rng.choice(_PRODUCTS)} (KB{rng.randint(890000, 955999)})"
        w.emit(f"Synchronizing update {guid} - {title}", (20, 400))


def _sync(w: _Writer, day: date, per_sync_updates: int, wsus_fails: bool, next_sync: datetime) -> None:
    spec, rng = w.spec, w.rng
    fqdn = f"{spec.server}.{spec.domain}"
    words = _TEXT[spec.language]
    w.emit("Wakeup by SCF change" if rng.random() < 0.1 else words["wakeup"], (0, 0))
    w.emit(words["starting"])
    w.emit("Performing sync on regular schedule")
    w.emit(f"Read SUPs from SCF for {fqdn}")
    w.emit("Found 1 SUPs")
    w.emit(f"Found active SUP {fqdn} from SCF File.")
    w.emit(f"DB Server not detected for SUP {fqdn}")
    w.statmsg(6701)
    if wsus_fails:
        w.emit("Sync failed: WSUS server not configured. Please refer to WCM.log for configuration error details.. "
               "Source: getSiteUpdateSource", (500, 3000))
        w.statmsg(6703, "E", ("WSUS server not configured.", "getSiteUpdateSource"))
        w.emit("Sync failed. Will retry in 60 minutes")
        return
    w.emit(f"Synchronizing WSUS server {fqdn}")
    w.statmsg(6704, strings=(fqdn,))
    w.emit(f"Synchronizing WSUS server {fqdn} ...")
    w.emit("sync: Starting WSUS synchronization", (500, 3000))
    total = rng.randint(2100, 2600)
    for phase in ("categories", "updates"):
        w.emit(f"sync: WSUS synchronizing {phase}", (1000, 20000))
    for done in [*range(0, total, max(1, total // 4)), total]:
        w.emit(f"sync: WSUS synchronizing updates, processed {done} out of {total} items ({done * 100 // total}%)",
               (5000, 60000))
    w.emit(f"Done synchronizing WSUS Server {fqdn}", (1000, 5000))
    w.emit(f"Synchronizing SMS database with WSUS server {fqdn}")
    w.statmsg(6705, strings=(fqdn,))
    w.emit(f"Synchronizing SMS database with WSUS server {fqdn} ...")
    w.emit("sync: SMS synchronizing categories", (500, 3000))
    w.emit(f"sync: SMS synchronizing categories, processed 0 out of {rng.randint(240, 270)} items (0%)")
    w.emit("sync: SMS synchronizing updates", (500, 3000))
    _update_lines(w, per_sync_updates)
    w.emit(f"sync: SMS synchronizing updates, processed {total} out of {total} items (100%)")
    w.emit(f"Done synchronizing SMS with WSUS Server {fqdn}", (500, 3000))
    guid = uuid.UUID(int=rng.getrandbits(128), version=4)
    w.emit(f"Set content version of update source {{{guid}}} for site {spec.site_code} to {rng.randint(3, 60)}")
    outcome = _legacy_outcome(spec.scenario, day)
    if spec.scenario is not Scenario.NO_LEGACY:
        _legacy_sync(w, outcome)
    w.statmsg(6702)
    w.emit(words["sync_ok"].format(alarm=_alarm(next_sync, spec.language)))


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)


def generate(spec: LogSpec) -> GeneratedLog:
    """The log text for `spec`; the same spec always gives the same bytes."""
    if spec.language not in _TEXT:
        raise ValueError(f"unknown log language {spec.language!r}; known: {', '.join(LANGUAGES)}")
    words = _TEXT[spec.language]
    rng = random.Random(f"{spec.seed}:{spec.scenario}:{spec.server}")
    sync_days = [spec.start + timedelta(days=d) for d in range(0, spec.days, spec.sync_every_days)]
    total_days = spec.days + spec.quiet_tail_days
    base = total_days * 24 * 2 * 150 + len(sync_days) * 46 * 200  # polling cycles + fixed sync lines
    per_sync = max(8, (spec.target_bytes - base) // max(1, len(sync_days) * 190))
    # One WSUS sync fails for an unrelated reason (never the last one: the scenario's outcome stays visible).
    failing = sync_days[rng.randrange(len(sync_days) - 1)] if len(sync_days) > 2 else None
    restart_day = spec.start + timedelta(days=rng.randrange(max(1, spec.days)))
    w = _Writer(spec, rng)
    w.emit(f"SMS_EXECUTIVE started {COMPONENT} as thread ID {w.thread} (0x{w.thread:X}).", (0, 0))
    tail_line = None
    head_last_write = None
    for offset in range(total_days):
        day = spec.start + timedelta(days=offset)
        if offset == spec.days:
            tail_line, head_last_write = len(w.lines), w.now
        if day == restart_day and offset:
            w.now = max(w.now, _at(day, 0) + timedelta(minutes=rng.randint(5, 50)))
            w.thread = rng.randint(1200, 6000)
            w.pid = rng.randint(1100, 3000)
            w.emit(f"SMS_EXECUTIVE started {COMPONENT} as thread ID {w.thread} (0x{w.thread:X}).", (0, 0))
        later = [d for d in sync_days if d > day]
        next_sync = _at(later[0] if later else sync_days[-1] + timedelta(days=spec.sync_every_days), 2)
        for hour in range(24):
            slot = _at(day, hour) + timedelta(minutes=rng.randint(0, 2), seconds=rng.randint(0, 59))
            if day in sync_days and hour == 2:
                w.now = max(w.now, slot)
                _sync(w, day, per_sync, day == failing, next_sync)
                continue
            w.now = max(w.now, slot)
            w.emit(words["wakeup"], (0, 0))
            upcoming = _at(day, 2) if day in sync_days and hour < 2 else next_sync
            w.emit(words["next_sync"].format(alarm=_alarm(upcoming, spec.language)), (0, 20))
    text = "\r\n".join(w.lines) + "\r\n"
    tail_offset = len(text) if tail_line is None else len("\r\n".join(w.lines[:tail_line])) + 2
    return GeneratedLog(text, tail_offset, head_last_write or w.now, w.now)


@lru_cache(maxsize=64)
def generate_cached(spec: LogSpec) -> GeneratedLog:
    """`generate`, remembered per process: a fleet of a thousand hosts shares a handful of logs."""
    return generate(spec)
