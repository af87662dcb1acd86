"""The facts every verdict states after its own reasons: the build, the site's role, the window, what was cut,
the clock, ITMU and its catalog, and the hotfix evidence (shown, never decided on)."""

from __future__ import annotations

from datetime import timedelta

from scanner.advisory.builds import BuildStatus
from scanner.advisory.cases import Case
from scanner.advisory.facts import Facts
from scanner.advisory.wording import cut_text, evidence, fact, file_name, hit_evidence, span
from scanner.model.records import Evidence, FileStamp

MAX_REGISTRATIONS = 5  # in the reason; the evidence lists up to four times as many (the server's text, bounded)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


_MEANING = {BuildStatus.AFFECTED: "a build the advisory affects", BuildStatus.FIXED: "a build with the fix",
            BuildStatus.NOT_APPLICABLE: "another product"}


def build(f: Facts) -> tuple[list[str], list[Evidence]]:
    b = f.snapshot.build
    if b is None:
        return ["Build unknown (no Full Version)."], []
    if f.status is BuildStatus.UNKNOWN:
        return [f"Build {b} is not one this advisory lists; judged by the logs."], []
    return ([f"Build {b} ({f.build_name}) is {_MEANING[f.status]}."],
            [fact("Full Version", f"{b} ({f.build_name})", "build")])


def site_role(f: Facts) -> tuple[list[str], list[Evidence]]:
    """Setup\\Type as the advisory's coding reads it, checked against the SMS\\SQL Server key."""
    raw, types, db = f.snapshot.site_type, f.advisory.site_types, f.snapshot.site_database
    if raw is None or types is None:
        return [], []
    says = f.site_type_says
    key = {True: "the SMS\\SQL Server key of a site database is there",
           False: "there is no SMS\\SQL Server key", None: "the SMS\\SQL Server key was not read"}[db]
    if says is None:
        text = f"Setup\\Type is {raw}: neither role in the {types.source}; {key}."
    elif f.secondary:  # and yet the logs show legacy sync attempts (else the case is SECONDARY_SITE)
        text = (f"Setup\\Type is {raw}, a secondary site in the {types.source}, and {key}, but the logs show legacy "
                "sync attempts, which secondary sites do not run: judged by the logs.")
    elif (says == "primary") == (db is True):
        text = f"Setup\\Type is {raw}: a {says} site ({types.source}); {key}."
    else:
        text = f"Setup\\Type is {raw}, a {says} site in the {types.source}, but {key}: judged by the logs."
    return [text], [fact("Setup\\Type", f"{raw} ({says or 'unknown role'}: {types.source})", "site-type")]


def logs(f: Facts) -> list[str]:
    snap, out = f.snapshot, []
    if f.first is not None:
        files = ", ".join(dict.fromkeys(file_name(b.name) for b in snap.logs))
        out.append(f"The logs ({files}) cover {span(f)}.")
    out += [f"{cut_text(b)}: only that tail was judged, and its line numbers count from its start." for b in f.cut]
    if snap.log_error:
        out.append(f"Log problem: {snap.log_error}")
    return out


def clock(f: Facts, case: Case) -> tuple[list[str], list[Evidence]]:
    """GMTDATE corrections, and STATMSG lines whose GMTDATE disagrees with the rest of their file (said with every
    verdict; which servers a log names and whether its time runs forward are asked only before a verdict would
    clear the host, and said in its reasons when they stop it)."""
    out: list[str] = []
    ev: list[Evidence] = []
    for name, offset, hit in f.clock.corrections():
        out.append(f"In {file_name(name)} the STATMSG lines' GMTDATE (UTC) disagrees with the time their own bias "
                   f"gives by {_signed(offset)}: GMTDATE is trusted, and that file's times are corrected by it.")
        ev.append(evidence(f, f.timeline.entry(hit), "clock"))
    if case is not Case.ORDER_UNTRUSTED:  # that case's own reasons name them
        for text, hits in f.clock.gmt_problems():
            out.append(f"Clock: {text}.")
            ev += hit_evidence(f, [(h, "clock") for h in hits])
    return out, ev


def _signed(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours} h {rest:02d} min"


def _stamp_words(stamp: FileStamp) -> str:
    parts = [f"written {stamp.written} (server time)" if stamp.written else "date not read"]
    if stamp.size is not None:
        parts.append(f"{stamp.size:,} bytes")
    if stamp.version:
        parts.append(f"file version {stamp.version}")
    return ", ".join(parts)


def itmu(f: Facts) -> tuple[list[str], list[Evidence]]:
    snap, out, ev = f.snapshot, [], []
    if snap.itmu_installed is True:
        out.append(f"ITMU is installed: PkgSource {snap.itmu_folder or '(found)'}.")
    elif snap.itmu_installed is False:
        out.append("ITMU is not installed: no PackageSrc share and no PkgSource folder found.")
    if snap.itmu_installed is not None:
        ev.append(fact("ITMU", snap.itmu_folder or "not found", "itmu"))
    cab = snap.catalog
    if cab is not None:
        text = f"ITMU's catalog {cab.path or 'wsusscn2.cab'}: {_stamp_words(cab)}."
        if not f.catalog_applies:
            text += f" The logs name another catalog ({f.named_catalog}), so its date was not used."
        out.append(text)
        ev.append(fact(cab.path or "wsusscn2.cab", _stamp_words(cab), "catalog"))
    return out, ev


def hotfix(f: Facts) -> tuple[list[str], list[Evidence]]:
    """KB 951376's traces, shown so "AFFECTED, fix installed, waiting for the next sync" can be read: never a
    verdict."""
    snap, kb = f.snapshot, f.advisory.kb
    ev: list[Evidence] = []
    parts: list[str] = []
    if snap.program is not None:
        parts.append(f"{file_name(snap.program.path)} {_stamp_words(snap.program)}")
        ev.append(fact(snap.program.path, _stamp_words(snap.program), "program"))
    if snap.hotfix is not None:
        shown = [_clip(text, 300) for text in snap.hotfix[:MAX_REGISTRATIONS]]
        more = f" and {len(snap.hotfix) - len(shown)} more" if len(snap.hotfix) > len(shown) else ""
        parts.append(f"registrations naming KB{kb}: {'; '.join(shown)}{more}" if snap.hotfix else
                     f"no registration naming KB{kb} under the Updates or Uninstall keys")
        ev += [fact("registry", text, "hotfix") for text in snap.hotfix[:MAX_REGISTRATIONS * 4]]
    if not parts:
        return [], []
    return [f"Hotfix evidence (shown, not judged: no public source gives KB {kb}'s install marker or its file "
            f"version): {'; '.join(parts)}."], ev


def context(f: Facts, case: Case) -> tuple[list[str], list[Evidence]]:
    """Every fact after the case's own reasons, and their evidence after the case's."""
    if case is Case.NO_SETUP_KEY:
        return [], []
    reasons: list[str] = []
    ev: list[Evidence] = []
    for part in (build(f), site_role(f) if case is not Case.SECONDARY_SITE else ([], []), (logs(f), []),
                 clock(f, case), itmu(f), hotfix(f)):
        reasons += part[0]
        ev += part[1]
    return reasons, ev
