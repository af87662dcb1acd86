"""Generate the wsyncmgr log corpus under tests/data/logs/ (deterministic; the outputs are committed).

Run `python tests/data/logs/make_corpus.py` after changing it. Each case is a folder holding
wsyncmgr.log (and sometimes wsyncmgr.lo_); tests/engine/test_corpus.py lists the expected verdicts.
The logs imitate a ConfigMgr 2007 site server's SMS_WSUS_SYNC_MANAGER: hourly polling, daily WSUS
syncs with their status messages and, on sites serving SMS 2003 clients, a legacy sync after each.
"""

from __future__ import annotations

import codecs
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMP = "SMS_WSUS_SYNC_MANAGER"

EN = {
    "wakeup": "Wakeup for a polling cycle",
    "next": "Next scheduled sync is a regular sync at {when}",
    "request": "Found local sync request file",
    "wsus": "Synchronizing WSUS server CM01",
    "wsus_start": "sync: Starting WSUS synchronization",
    "categories": "sync: WSUS synchronizing categories",
    "updates": "sync: WSUS synchronizing updates",
    "db": "Synchronizing SMS database with WSUS server CM01",
    "update": "Synchronizing update {guid} - {title}",
    "done_db": "Done synchronizing SMS with WSUS Server CM01",
    "content": "Set content version of update source {{{guid}}} for site P01 to {n}",
    "sync_ok": "Sync succeeded. Setting sync alert to canceled state on site P01",
    "sync_time": "Sync time: 0d00h{m:02d}m{s:02d}s",
    "legacy": "Performing legacy sync",
    "cmdline": "Started with command line: C:\\Program Files\\Microsoft Configuration Manager\\bin\\i386\\"
               "updatewuscatalog.exe /i \"C:\\Program Files\\Microsoft Updates Inventory Tool\\PkgSource\\"
               "wsusscn2.cab\" /s",
    "catalog": "Processing security catalog C:\\Program Files\\Microsoft Updates Inventory Tool\\PkgSource\\"
               "wsusscn2.cab ...",
    "init": "Initializing catalog C:\\Program Files\\Microsoft Updates Inventory Tool\\PkgSource\\wsusscn2.cab "
            "for sync.",
    "pre": "Preprocessing updates...",
    "failure": "Error 0x80004005, unexpected DeploymentAction for update 1293995. Returned from CreateUpdateNode",
    "summary": "Security updates summary: {p} processed, {m} matched, {o} outdated, {u} updated",
    "other": "Failed to open catalog file C:\\Program Files\\Microsoft Updates Inventory Tool\\PkgSource\\"
             "wsusscn2.cab, error 0x80070020",
}
NB = dict(EN, **{
    "wakeup": "Vekking for en avspørringssyklus",
    "next": "Neste planlagte synkronisering er en vanlig synkronisering kl. {when}",
    "request": "Fant lokal fil for synkroniseringsforespørsel",
    "wsus": "Synkroniserer WSUS-server CM01",
    "db": "Synkroniserer SMS-databasen med WSUS-server CM01",
    "update": "Synkroniserer oppdatering {guid} - {title}",
    "done_db": "Ferdig med å synkronisere SMS med WSUS-server CM01",
    "sync_ok": "Synkroniseringen er fullført. Setter synkroniseringsvarsel til avbrutt tilstand på område P01",
    "legacy": "Utfører synkronisering av eldre enheter",
    "cmdline": "Begynte med kommandolinjen: C:\\Programfiler\\Microsoft Configuration Manager\\bin\\i386\\"
               "updatewuscatalog.exe …",
    "catalog": "Behandler sikkerhetskatalogen C:\\Programfiler\\Microsoft Updates Inventory Tool\\PkgSource\\"
               "wsusscn2.cab ...",
    "init": "Initialiserer katalogen C:\\Programfiler\\Microsoft Updates Inventory Tool\\PkgSource\\wsusscn2.cab "
            "for synkronisering.",
    "pre": "Forhåndsbehandle oppdateringer...",
    "failure": "Feil 0x80004005, uventet DeploymentAction for oppdatering 1293995. Returnert fra CreateUpdateNode",
    "summary": "Sammendrag av sikkerhetsoppdateringer: {p} behandlet, {m} samsvart, {o} utdatert, {u} oppdatert",
    "other": "Kan ikke åpne katalogfilen wsusscn2.cab, feil 0x80070020",
})
DE = dict(EN, **{
    "wakeup": "Reaktivierung für einen Abrufzyklus",
    "next": "Die nächste geplante Synchronisierung ist eine reguläre Synchronisierung um {when}",
    "update": "Update {guid} wird synchronisiert - {title}",
    "sync_ok": "Die Synchronisierung war erfolgreich. Der Synchronisierungsalarm für Standort P01 wird abgebrochen",
    "legacy": "Ältere Synchronisierung wird durchgeführt",
    "cmdline": "Gestartet mit Befehlszeile: C:\\Programme\\Microsoft Configuration Manager\\bin\\i386\\"
               "updatewuscatalog.exe …",
    "catalog": "Sicherheitskatalog C:\\Programme\\Microsoft Updates Inventory Tool\\PkgSource\\wsusscn2.cab "
               "wird verarbeitet ...",
    "pre": "Updates werden vorverarbeitet...",
    "failure": "Fehler 0x80004005, unerwartete DeploymentAction für Update 1293995. Rückgabe von CreateUpdateNode",
    "summary": "Zusammenfassung der Sicherheitsupdates: {p} verarbeitet, {m} übereinstimmend, {o} veraltet, "
               "{u} aktualisiert",
    "other": "Katalogdatei wsusscn2.cab kann nicht geöffnet werden, Fehler 0x80070020",
})
TITLES = ["Security Update for Windows Server 2003 (KB950760)", "Cumulative Security Update for Internet Explorer 7 "
          "for Windows Server 2003 (KB950759)", "Security Update for Microsoft Office Excel 2003 (KB950061)",
          "Update for Windows Server 2003 (KB948496)", "Security Update for Windows XP (KB951698)"]


@dataclass
class Writer:
    """Renders lines in one format with a running local clock (bias: UTC = local + bias)."""

    fmt: str  # "server", "cmtrace" or "long" (old SMS long-form timestamps)
    texts: dict[str, str]
    rng: random.Random
    clock: datetime
    bias: int = -60
    thread: int = 5976
    zone: str = "W. Europe Standard Time"
    multiline_failure: bool = False
    sys: str = "CM01"  # STATMSG SYS= and SITE=
    site: str = "P01"
    gmt_bias: int | None = None  # the server's real bias, where the lines' own bias is wrong (GMTDATE uses it)

    def tick(self, seconds: float) -> None:
        self.clock += timedelta(seconds=seconds, milliseconds=self.rng.randint(0, 999) if seconds else 0)

    def line(self, msg: str, *, kind: int = 1, seconds: float = 1.0) -> str:
        self.tick(seconds)
        t = self.clock
        if self.fmt == "cmtrace":
            frac = f"{t.microsecond // 1000:03d}" if self.rng.random() < 0.5 else f"{t.microsecond:06d}0"
            attrs = [f'time="{t:%H:%M:%S}.{frac}{self.bias:+04d}"', f'date="{t.month}-{t.day}-{t.year}"',
                     f'component="{COMP}"', 'context=""', f'type="{kind}"', f'thread="{self.thread}"',
                     f'file="wsyncmgr.cpp:{self.rng.randint(100, 3000)}"']
            if self.rng.random() < 0.2:
                self.rng.shuffle(attrs)
            return f"<![LOG[{msg}]LOG]!><{' '.join(attrs)}>"
        if self.fmt == "long":
            stamp = f"{t:%a %b %d %H:%M:%S}.{t.microsecond // 1000:03d} {t.year} {self.zone}"
        else:
            stamp = f"{t:%m-%d-%Y %H:%M:%S}.{t.microsecond // 1000:03d}{self.bias:+d}"
        sep = "  " if self.rng.random() < 0.8 else " "
        return f"{msg}{sep}$$<{COMP}><{stamp}><thread={self.thread} (0x{self.thread:X})>"

    def statmsg(self, number: int, sev: str = "I") -> str:
        """A status message line; its GMTDATE is the line's own time in UTC (local + bias)."""
        self.tick(1)
        utc = self.clock + timedelta(minutes=self.bias if self.gmt_bias is None else self.gmt_bias)
        gmt = f"{utc:%a %b %d %H:%M:%S}.{utc.microsecond // 1000:03d} {utc.year}"
        istr = " ".join(f'ISTR{i}=""' for i in range(10))
        msg = (f'STATMSG: ID={number} SEV={sev} LEV=M SOURCE="SMS Server" COMP="{COMP}" '
               f"SYS={self.sys} SITE={self.site} PID=1876 TID={self.thread} GMTDATE={gmt} {istr} NUMATTRS=0")
        return self.line(msg, kind=3 if sev == "E" else 1, seconds=0)

    def t(self, key: str, **kw: object) -> str:
        return self.texts[key].format(**kw)

    def polling(self, hours: int) -> list[str]:
        out = []
        for _ in range(hours):
            out.append(self.line(self.t("wakeup"), seconds=3600))
            when = (self.clock + timedelta(hours=6)).strftime("%d.%m.%Y %H:%M:%S")
            out.append(self.line(self.t("next", when=when)))
        return out

    def wsus_sync(self) -> list[str]:
        out = [self.line(self.t("request"), seconds=600), self.statmsg(6701), self.line(self.t("wsus")),
               self.statmsg(6704), self.line(self.t("wsus_start")), self.line(self.t("categories"), seconds=30),
               self.line(self.t("updates"), seconds=20), self.line(self.t("db"), seconds=60), self.statmsg(6705)]
        for _ in range(self.rng.randint(15, 40)):
            guid = f"{self.rng.getrandbits(128):032x}"
            guid = f"{guid[:8]}-{guid[8:12]}-{guid[12:16]}-{guid[16:20]}-{guid[20:]}"
            out.append(self.line(self.t("update", guid=guid, title=self.rng.choice(TITLES)), seconds=0.2))
        out += [self.line(self.t("done_db")),
                self.line(self.t("content", guid="00000000-0000-0000-0000-000000000000", n=self.rng.randint(2, 90))),
                self.line(self.t("sync_ok")), self.statmsg(6702),
                self.line(self.t("sync_time", m=self.rng.randint(1, 9), s=self.rng.randint(0, 59)))]
        return out

    def legacy(self, outcome: str) -> list[str]:
        """A legacy sync attempt: "ok", "fail" (the advisory's error), "other" or "open" (cut short); and for the
        rules of issue 21: "warn-ok" (a warning with an HRESULT, then updates processed and no status line),
        "status-only" (6710 and no summary), "zero-done" (nothing processed, then 6710)."""
        out = [self.line(self.t("legacy"), seconds=5), self.statmsg(6709), self.line(self.t("cmdline")),
               self.line(self.t("catalog"), seconds=2), self.line(self.t("init"), seconds=8),
               self.line(self.t("pre"), seconds=4)]
        if outcome == "ok":
            p = self.rng.randint(900, 2000)
            out += [self.line(self.t("summary", p=p, m=p // 5, o=self.rng.randint(0, 9), u=self.rng.randint(1, 40)),
                              seconds=40), self.statmsg(6710)]
        elif outcome == "fail":
            failure = self.t("failure")
            if self.multiline_failure:
                failure = failure.replace(". ", ".\r\n", 1)
            out += [self.line(failure, kind=3, seconds=3),
                    self.line(self.t("summary", p=0, m=0, o=0, u=0), kind=2)]
        elif outcome == "other":
            out += [self.line(self.t("other"), kind=3, seconds=2), self.statmsg(6711, "E")]
        elif outcome == "warn-ok":
            out += [self.line("Warning 0x80070002, the update file for KB948496 was not found: skipping", kind=2),
                    self.line(self.t("summary", p=1210, m=240, o=3, u=17), seconds=40)]
        elif outcome == "status-only":
            out += [self.statmsg(6710)]
        elif outcome == "zero-done":
            out += [self.line(self.t("summary", p=0, m=0, o=0, u=0), seconds=30), self.statmsg(6710)]
        return out


def render(plan: list[str], *, fmt: str = "server", lang: dict[str, str] = EN, seed: int = 1,
           start: datetime = datetime(2008, 6, 9, 1, 0, 0), **kw: object) -> list[str]:
    """Lines for a site whose daily syncs end with the legacy outcomes in `plan` ("none": no legacy sync)."""
    rng = random.Random(seed)
    w = Writer(fmt, lang, rng, start, **kw)  # type: ignore[arg-type]
    lines = w.polling(3)
    for outcome in plan:
        lines += w.wsus_sync()
        if outcome != "none":
            lines += w.legacy(outcome)
        lines += w.polling(rng.randint(8, 20))
    return lines


def encode(lines: list[str], encoding: str = "utf-8", newline: str = "\r\n") -> bytes:
    text = newline.join(lines) + newline
    if encoding == "utf-16-le-bom":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    if encoding == "utf-16-be-bom":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    return text.encode(encoding)


def index_of(lines: list[str], fragment: str, nth: int = 0) -> int:
    return [i for i, line in enumerate(lines) if fragment in line][nth]


def cases() -> dict[str, dict[str, bytes]]:
    """Case folder -> {file name: bytes}."""
    out: dict[str, dict[str, bytes]] = {}

    def log(name: str, data: bytes, file: str = "wsyncmgr.log") -> None:
        out.setdefault(name, {})[file] = data

    log("server-affected", encode(render(["ok", "none", "ok", "fail"], seed=1)))
    log("server-recovered-utf8bom", encode(render(["fail", "fail", "ok", "none"], seed=2), "utf-8-sig"))
    log("cmtrace-ok-utf16le", encode(render(["ok", "ok", "none", "ok"], fmt="cmtrace", seed=3), "utf-16-le-bom"))
    log("cmtrace-ok-utf16be", encode(render(["none", "ok", "ok"], fmt="cmtrace", seed=4, bias=480),
                                     "utf-16-be-bom"))
    log("cmtrace-multiline-affected-utf16le",
        encode(render(["ok", "fail"], fmt="cmtrace", seed=5, multiline_failure=True), "utf-16-le-bom"))
    log("server-other-failure-cp1252", encode(render(["ok", "other"], seed=6, lang=NB), "cp1252"))
    log("server-no-legacy", encode(render(["none"] * 5, seed=7)))
    log("localised-nb-cp1252-affected", encode(render(["ok", "none", "fail"], seed=8, lang=NB), "cp1252"))
    log("localised-de-utf8bom-recovered",
        encode(render(["fail", "ok"], fmt="cmtrace", seed=9, lang=DE), "utf-8-sig"))
    log("long-form-timestamps-ok", encode(render(["ok", "ok"], fmt="long", seed=10, zone="Eastern Standard Time",
                                                 bias=300, start=datetime(2008, 6, 11, 1, 0, 0))))
    log("in-progress-only", encode(render(["none", "none", "open"], seed=11)[:-6]))

    # Rolled over: failures in the older .lo_, recovery in the newer .log.
    lines = render(["ok", "fail", "fail", "ok", "none"], seed=12)
    cut = index_of(lines, "ID=6710", 1) - 8
    log("rolled-recovered", encode(lines[:cut]), "wsyncmgr.lo_")
    log("rolled-recovered", encode(lines[cut:]))
    # Rolled over in the middle of a failing attempt: start in .lo_, failure and summary in .log.
    lines = render(["ok", "none", "fail"], seed=13)
    cut = index_of(lines, "0x80004005") - 2
    log("rolled-split-affected", encode(lines[:cut]), "wsyncmgr.lo_")
    log("rolled-split-affected", encode(lines[cut:]))

    # Crash damage: a NUL run where a half-written line was, then the service restarted; NULs at the end.
    lines = render(["ok", "ok", "fail"], seed=14)
    crash = index_of(lines, "ID=6709", 1)
    data = encode(lines[:crash]) + lines[crash][:37].encode() + b"\x00" * 4096 + b"\r\n" + encode(lines[crash + 1:])
    log("nul-padding-affected", data + b"\x00" * 8192)
    # The last line cut in half; the last complete attempt failed.
    lines = render(["fail", "open"], seed=15)
    log("truncated-tail-affected", encode(lines[:-3])[:-2] + lines[-3][:50].encode())
    # Binary garbage and a 1 MB line between the first success and the failure.
    rng = random.Random(16)
    lines = render(["ok", "fail"], seed=16)
    at = index_of(lines, "ID=6709", 1) - 1
    garbage = bytes(rng.randrange(256) for _ in range(20000)).replace(b"\n", b"\x0b")
    big = ("Synchronizing update " + "x" * (1 << 20)).encode()
    log("garbage-and-huge-line-affected", encode(lines[:at]) + garbage + b"\r\n" + big + b"\r\n" + encode(lines[at:]))
    # Lines ending in a random mix of CRLF and LF.
    lines = render(["fail", "ok"], seed=17)
    log("mixed-newlines-recovered",
        b"".join(line.encode() + rng.choice([b"\r\n", b"\n"]) for line in lines))
    # The tail of a UTF-16LE log cut at an odd offset (no BOM), as a size cap leaves it.
    full = encode(render(["ok", "fail"], fmt="cmtrace", seed=18), "utf-16-le-bom")
    cut = len(full) // 3 | 1  # odd: the cut falls inside a UTF-16 code unit
    log("utf16le-tail-no-bom-affected", full[cut:])
    _rules_of_issue_21(log)
    _review_of_issue_21(log)
    # Not a log at all, and an empty one.
    log("garbage-only", bytes(rng.randrange(256) for _ in range(30000)))
    log("empty", b"")
    return out


def _rules_of_issue_21(log: Callable[[str, bytes], None]) -> None:
    """Logs written from the rules of issue 21 (and DOMAIN.md), one rule each; expected verdicts in test_check."""
    # 1. Legacy syncs that succeeded only in May 2008: before the June catalog that brought update 1293995.
    log("success-before-cutoff", encode(render(["ok", "ok"], seed=20, start=datetime(2008, 5, 20, 1, 0, 0))))
    # 2. The scan was taken right after the only completed sync cycle: the legacy sync may be about to start.
    lines = render(["none"], seed=21, start=datetime(2008, 6, 20, 1, 0, 0))
    log("ends-after-first-cycle", encode(lines[: index_of(lines, "ID=6702") + 2]))
    #    One cycle, then hours of polling: the legacy sync would have run by then.
    log("one-cycle-then-quiet", encode(render(["none"], seed=22, start=datetime(2008, 6, 20, 1, 0, 0))))
    # 3. A warning with an HRESULT, then updates processed: a success.
    log("warning-then-success", encode(render(["warn-ok"], seed=23, start=datetime(2008, 6, 20, 1, 0, 0))))
    # 4. The advisory's error after the last attempt had ended, outside any attempt; and one without an update id.
    lines = render(["ok", "none"], seed=24, start=datetime(2008, 6, 20, 1, 0, 0))
    log("stray-error-outside-attempt", encode([*lines, Writer("server", EN, random.Random(24), datetime(
        2008, 6, 22, 9, 0, 0)).line(EN["failure"], kind=3)]))
    lines = render(["ok", "fail"], seed=25, start=datetime(2008, 6, 20, 1, 0, 0))
    at = index_of(lines, "0x80004005")
    lines[at] = lines[at].replace(" for update 1293995", "").replace("CreateUpdateNode", "CreateUpdateNode (ID=6711)")
    log("failure-without-update-id", encode(lines))
    # 5. Two servers' logs in one file; time running backwards; GMTDATE against a wrong bias.
    w1 = Writer("server", EN, random.Random(26), datetime(2008, 6, 20, 1, 0, 0))
    w2 = Writer("server", EN, random.Random(27), datetime(2008, 6, 21, 1, 0, 0), sys="CM02", site="P02")
    log("mixed-servers", encode([*w1.polling(2), *w1.wsus_sync(), *w1.legacy("ok"), *w1.polling(3),
                                 *w2.wsus_sync(), *w2.legacy("ok"), *w2.polling(3)]))
    w = Writer("server", EN, random.Random(28), datetime(2008, 6, 20, 1, 0, 0))
    first = [*w.polling(2), *w.wsus_sync(), *w.legacy("ok"), *w.polling(2)]
    w.clock -= timedelta(hours=30)
    log("clock-backwards", encode([*first, *w.wsus_sync(), *w.legacy("ok"), *w.polling(3)]))
    w = Writer("server", EN, random.Random(29), datetime(2008, 6, 9, 23, 5, 0), bias=60, gmt_bias=-60)
    log("gmtdate-against-bias", encode([*w.wsus_sync(), *w.legacy("ok"), *w.polling(3)]))
    # 8. After the advisory's failure, only a 6710 (meaning unconfirmed); and a 6710 after nothing was processed.
    log("status-only-after-failure", encode(render(["fail", "status-only"], seed=30,
                                                   start=datetime(2008, 6, 20, 1, 0, 0))))
    log("zero-summary-then-done", encode(render(["zero-done"], seed=31, start=datetime(2008, 6, 20, 1, 0, 0))))


def _attempt(w: Writer, *middle: tuple[str, int], summary: bool = True, status: int | None = None) -> list[str]:
    """A legacy sync attempt with the given lines (text, CMTrace type) after "Preprocessing updates...", a summary
    that processed updates and, when given, a closing status message."""
    out = [w.line(w.t("legacy"), seconds=5), w.statmsg(6709), w.line(w.t("cmdline")),
           w.line(w.t("catalog"), seconds=2), w.line(w.t("init"), seconds=8), w.line(w.t("pre"), seconds=4)]
    out += [w.line(text, kind=kind, seconds=3) for text, kind in middle]
    if summary:
        out.append(w.line(w.t("summary", p=1210, m=240, o=3, u=17), seconds=40))
    if status is not None:
        out.append(w.statmsg(status, "E" if status == 6711 else "I"))
    return out


def _review_of_issue_21(log: Callable[[str, bytes], None]) -> None:
    """Logs written from the rules for what an expert review of issue 21 found; expected verdicts in
    tests/scanner/cli/test_check_review.py."""
    june = datetime(2008, 6, 20, 1, 0, 0)
    # Rule 8: a 6710 with no Security updates summary is all that says the last attempt worked.
    log("status-only-success", encode(render(["status-only", "none"], seed=40, start=june)))
    # Rule 5: one STATMSG line's GMTDATE two days off the rest of its file; the attempt ran on 9 June.
    w = Writer("server", EN, random.Random(41), datetime(2008, 6, 9, 21, 40, 0), bias=0)
    lines = [*w.wsus_sync(), *w.legacy("ok"), *w.polling(2)]
    at = index_of(lines, "ID=6710")
    lines[at] = lines[at].replace("GMTDATE=Mon Jun 09", "GMTDATE=Wed Jun 11")
    log("gmtdate-one-line-off", encode(lines))
    # Rule 3: error lines in Russian and Japanese (UTF-16, and Russian in its ANSI code page), "Failed ... hr=",
    # then updates processed and no status; a CMTrace warning whose text says Error; a warning that says failed.
    for name, text, encoding in (
            ("error-line-ru-utf16", "Ошибка 0x80070005: не удалось открыть каталог", "utf-16-le-bom"),
            ("error-line-ru-cp1251", "Ошибка 0x80070005: не удалось открыть каталог", "cp1251"),
            ("error-line-ja-utf16", "エラー 0x80070005: カタログを開けませんでした", "utf-16-le-bom"),
            ("failed-hr-then-summary", "Failed to open catalog, hr=0x80070005", "utf-8"),
            ("warning-failed-then-summary", "Warning: failed to delete a temporary file, hr=0x80070020; skipping",
             "utf-8")):
        w = Writer("server", EN, random.Random(42), june)
        log(name, encode([*w.polling(2), *w.wsus_sync(), *_attempt(w, (text, 1)), *w.polling(3)], encoding))
    w = Writer("cmtrace", EN, random.Random(43), june)
    log("cmtrace-warning-typed-error", encode([*w.polling(2), *w.wsus_sync(),
                                               *_attempt(w, ("Error 0x80070002 for update 1288831: skipping", 2)),
                                               *w.polling(3)], "utf-16-le-bom"))
    # Rule 4: a 6711 after the last attempt had ended, with no start before it.
    w = Writer("server", EN, random.Random(44), june)
    log("stray-failed-status", encode([*w.polling(2), *w.wsus_sync(), *_attempt(w, status=6710),
                                       w.line("Wakeup for a polling cycle", seconds=900), w.statmsg(6711, "E"),
                                       *w.polling(3)]))
    # Rules 4 and 5: a success, then a later attempt whose error line a crash cut short (NUL padding follows).
    w = Writer("server", EN, random.Random(45), june)
    head = [*w.polling(2), *w.wsus_sync(), *_attempt(w, status=6710), *w.polling(2), *w.wsus_sync(),
            *_attempt(w, summary=False)[:4]]
    cut = w.line(EN["failure"], kind=3)[:30].encode()
    log("crash-in-later-attempt", encode(head) + cut + b"\x00" * 4096)
    # Rules 3 and 8: an error line, then updates processed and a 6710 that outweighs it.
    w = Writer("server", EN, random.Random(46), june)
    log("error-then-6710", encode([*w.polling(2), *w.wsus_sync(),
                                   *_attempt(w, ("Error 0x80070005, failed to open catalog", 1), status=6710),
                                   *w.polling(3)]))
    # Rule 1: an attempt that started at 23:59 UTC on 9 June and succeeded on 10 June.
    w = Writer("server", EN, random.Random(47), datetime(2008, 6, 9, 23, 30, 0), bias=0)
    lines = w.wsus_sync()
    w.clock = max(w.clock, datetime(2008, 6, 9, 23, 59, 34))
    log("success-straddling-cutoff", encode([*lines, *_attempt(w, status=6710), *w.polling(3)]))
    # Rule 4: the log starts inside an attempt (its start rolled away): its summary and 6710 are the first lines.
    lines = render(["ok", "none"], seed=48, start=june)
    log("summary-before-rolled-start", encode(lines[index_of(lines, "Security updates summary"):]))
    # Rule 4: the advisory's error without "for update N", a status id later on the line.
    lines = render(["ok", "fail"], seed=49, start=june)
    at = index_of(lines, "0x80004005")
    lines[at] = lines[at].replace("DeploymentAction for update 1293995. Returned from CreateUpdateNode",
                                  "DeploymentAction. Returned from CreateUpdateNode (status ID 6711)")
    log("failure-id-after-status-text", encode(lines))
    # Rule 2: the only cycle, then one line dated 2030: no evidence of activity after it.
    lines = render(["none"], seed=50, start=june)
    future = Writer("server", EN, random.Random(50), datetime(2030, 1, 1, 0, 0, 0)).line(EN["wakeup"])
    log("one-cycle-then-future-line", encode([*lines[: index_of(lines, "ID=6702") + 2], future]))


def main() -> None:
    for folder in HERE.iterdir():
        if folder.is_dir() and not folder.name.startswith(("_", ".")):
            shutil.rmtree(folder)
    for name, files in cases().items():
        (HERE / name).mkdir()
        for file, data in files.items():
            (HERE / name / file).write_bytes(data)
        lines = sum(d.count(b"\n") for d in files.values())
        print(f"{name:40} {', '.join(files)}  ~{lines} lines")


if __name__ == "__main__":
    main()
