"""What each case of the verdict table says about a host: its reasons and the lines it used.

Every explainer reads only facts the case's rule already established (scanner/advisory/facts.py) and says
only what the lines say: an update id comes from "for update N", a line outside every legacy attempt is
never called "the last legacy sync attempt", a status id no public source confirms is marked so.
"""

from __future__ import annotations

from collections.abc import Callable

from scanner.advisory.attempts import Attempt, Outcome, Unfinished, closer_look
from scanner.advisory.cases import Case, Explanation
from scanner.advisory.facts import Facts
from scanner.advisory.timeline import Hit
from scanner.advisory.wording import cut_text, fact, file_name, hit_evidence, span, when, when_hit, window
from scanner.model.records import Evidence

UNVERIFIED = "no public source confirms its meaning"


def attempt_evidence(f: Facts, a: Attempt, prefix: str = "") -> list[Evidence]:
    parts = [(a.start, "sync-start"), (a.signature, "failure"), (a.other_error, "other-error"),
             (a.summary, "summary"), (a.end, "sync-done" if a.ended_ok else "sync-failed")]
    return hit_evidence(f, [(h, prefix + role) for h, role in parts])


def _statmsg_id(f: Facts, hit: Hit | None) -> str:
    """`STATMSG 6710` for an attempt's end line, marked when no public source confirms what the id means."""
    if hit is None:
        return "STATMSG"
    text = f.timeline.entry(hit).text
    for number in sorted(f.sig.statmsg_ids):
        if f"ID={number}" in text:
            return f"STATMSG {number}" + (f" ({UNVERIFIED})" if number in f.sig.unverified_statmsg else "")
    return "STATMSG"


def _update(f: Facts, hit: Hit) -> str:
    """` for update 1293995`, from the line's own "for update N" (never a STATMSG ID=)."""
    text = f.timeline.entry(hit).text
    for pattern in f.sig.failure_details:
        m = pattern.search(text)
        if m is not None:
            return f" for update {m.group(1)}"
    return ""


def _previous_end(f: Facts, a: Attempt) -> str:
    """When the attempt before `a` ended: its STATMSG done/failed line, else its summary."""
    attempts = list(f.findings.attempts)
    at = next((i for i, b in enumerate(attempts) if b is a), 0)
    ends = [end for b in attempts[:at] if (end := b.end or b.summary) is not None]
    return when_hit(f, ends[-1]) if ends else "earlier"


def last_attempt(f: Facts) -> str:
    """How reasons name the deciding attempt: never "the last" when a later one started and shows no outcome."""
    a = f.decisive
    words = "the last legacy sync attempt" + (" with an outcome" if f.later else "")
    return words + (" (its start is not in the logs)" if a is not None and a.start is None else "")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _quote(f: Facts, hit: Hit) -> str:
    text = " ".join(f.timeline.entry(hit).text.split())
    return f'"{text[:200]}{"…" if len(text) > 200 else ""}"'


def later_words(f: Facts, u: Unfinished, subject: str = "A later legacy sync attempt") -> str:
    """An attempt without an outcome, with what it shows: its error line, the NUL run a crash left."""
    assert u.attempt.start is not None
    text = f"{subject} started {when_hit(f, u.attempt.start)} and shows no outcome"
    if u.error is not None:
        text += f": its line {_quote(f, u.error)} {when_hit(f, u.error)}"
    if u.crash is not None and u.crash == u.error:
        text += f", cut short by a run of {u.nuls:,} NUL bytes: a crash cut the log there"
    elif u.crash is not None:
        entry = f.timeline.entry(u.crash)
        text += (f"{', then' if u.error is not None else ':'} a run of {u.nuls:,} NUL bytes "
                 f"({file_name(entry.file)}:{entry.line}): a crash cut the log there")
    if u.error is None and u.crash is None:
        text += " (still running when the log was read, or cut short)"
    return text + "."


def later_evidence(f: Facts, u: Unfinished) -> list[Evidence]:
    return hit_evidence(f, [(u.attempt.start, "later-start"), (u.error, "later-error"),
                            (u.crash if u.crash != u.error else None, "crash")])


def notes(f: Facts, case: Case) -> tuple[list[str], list[Evidence]]:
    """What every case with a deciding attempt adds: an error line only a 6710 outweighed, later attempts without
    an outcome, and status lines outside any attempt (which decide nothing)."""
    a = f.decisive if "findings" in f.__dict__ else None
    if a is None:
        return [], []
    why: list[str] = []
    ev: list[Evidence] = []
    if a.outcome is Outcome.SUCCEEDED and a.other_error is not None and a.ended_ok:
        why.append(f"Its error line {_quote(f, a.other_error)} {when_hit(f, a.other_error)} is outweighed only by the "
                   f"{_statmsg_id(f, a.end)} that ended the attempt {when_hit(f, a.end)}, after a Security updates "
                   "summary that processed updates.")
    if case is not Case.LATER_TROUBLE:
        for u in f.later[:3]:
            why.append(later_words(f, u))
            ev += later_evidence(f, u)
    for stray in f.stray_statuses[:3]:
        why.append(f"The {_statmsg_id(f, stray.end)} {when_hit(f, stray.end)} lies outside any legacy sync attempt "
                   "the logs show (no start before it): it decides nothing.")
        ev += hit_evidence(f, [(stray.end, "outside-attempt")])
    return why, ev


def advisory_failure(f: Facts) -> Explanation:
    a = f.decisive
    assert a is not None and a.signature is not None
    at, update = when_hit(f, a.signature), _update(f, a.signature)
    if a.orphan:  # never "the last legacy sync attempt": the line lies outside every attempt the logs show
        why = [f"The advisory's error appears {at}{update}, outside any legacy sync attempt (the attempt before it "
               f"ended {_previous_end(f, a)})."]
    else:
        why = [f"{_cap(last_attempt(f))} failed {at} with the advisory's error{update}."]
    if a.ended_ok:
        why.append(f"The {_statmsg_id(f, a.end)} that ends the attempt does not outweigh the error line.")
    if f.status.value == "fixed":
        why.append("The build is listed as fixed, but the log shows the failure: check the build.")
    return Explanation(why, attempt_evidence(f, a))


def unconfirmed_recovery(f: Facts) -> Explanation:
    a, before = f.decisive, f.earlier_failure
    assert a is not None and before is not None and before.signature is not None
    why = [f"After the advisory's failure {when_hit(f, before.signature)}, {last_attempt(f)} shows only "
           f"{_statmsg_id(f, a.end)} {when_hit(f, a.end)} and no Security updates summary: that status alone does "
           "not outweigh the advisory's error line."]
    return Explanation(why, attempt_evidence(f, before, "earlier-") + attempt_evidence(f, a))


def _catalog_words(f: Facts) -> str:
    cab = f.snapshot.catalog
    assert cab is not None
    where = f" ({cab.path})" if cab.path else ""
    return f"the catalog{where} was written {cab.written} (server time)"


def recovery_on_old_catalog(f: Facts) -> Explanation:
    a, before = f.decisive, f.earlier_failure
    assert a is not None and before is not None
    cutoff = f.advisory.catalog_cutoff
    why = [f"{_cap(last_attempt(f))} succeeded {when_hit(f, f.success_line)}, after the advisory's failure "
           f"{when_hit(f, before.signature)}, but {_catalog_words(f)}, before {cutoff:%d %B %Y}: that success "
           "processed "
           "a catalog without the update that fails, so the fix is not shown; the last catalog that held it failed "
           "with the advisory's error."]
    return Explanation(why, attempt_evidence(f, before, "earlier-") + attempt_evidence(f, a))


def recovered(f: Facts) -> Explanation:
    a, before = f.decisive, f.earlier_failure
    assert a is not None and before is not None
    why = [f"{_cap(last_attempt(f))} succeeded {when_hit(f, f.success_line)}, after the advisory's failure "
           f"{when_hit(f, before.signature)}."]
    return Explanation(why, attempt_evidence(f, before, "earlier-") + attempt_evidence(f, a))


def _last_attempt_words(f: Facts) -> str:
    """What the last attempt with an outcome showed, for a verdict that does not rest on it."""
    a = f.decisive
    if a is None or a.outcome is None:
        if not f.snapshot.logs:
            return f"the sync log is missing{': ' + f.snapshot.log_error if f.snapshot.log_error else ''}"
        return "the logs show no legacy sync attempt with an outcome"
    if a.outcome is Outcome.SUCCEEDED:
        return f"{last_attempt(f)} succeeded {when_hit(f, f.success_line)}" + (
            f" (only its {_statmsg_id(f, a.end)} says so: there is no Security updates summary)" if a.status_only
            else "")
    hit = a.other_error or a.end or a.summary
    return f"{last_attempt(f)} failed for another reason {when_hit(f, hit)}"


def fixed_build(f: Facts) -> Explanation:
    ev = attempt_evidence(f, f.decisive) if f.decisive is not None else []
    return Explanation([f"The build has the fix, and the build decides: {_last_attempt_words(f)}."], ev)


def later_trouble(f: Facts) -> Explanation:
    u, a = f.later_trouble, f.decisive
    assert u is not None and a is not None
    why = [later_words(f, u),
           f"Before it, {_last_attempt_words(f)}; a legacy sync that broke off on an error line or a crash after it "
           "is not shown working, so that outcome is not the last word."]
    if f.status.value == "fixed":
        why.append("The build has the fix, which decides; the broken-off attempt still needs a look.")
    return Explanation(why, later_evidence(f, u) + attempt_evidence(f, a), "a later legacy sync attempt broke off")


def unconfirmed_success(f: Facts) -> Explanation:
    a = f.decisive
    assert a is not None
    why = [f"{_cap(last_attempt(f))} shows only {_statmsg_id(f, a.end)} {when_hit(f, a.end)} and no Security "
           "updates summary: a success needs a summary with updates processed, so legacy sync is not shown working."]
    cause = ("its last legacy sync attempt shows only a STATMSG 6710, whose meaning no public source confirms, and no "
             "Security updates summary")
    return Explanation(why, attempt_evidence(f, a), cause)


def _started_words(f: Facts) -> str:
    """When the deciding attempt started, as far as the logs show (the cutoff is compared with its start)."""
    a = f.decisive
    assert a is not None
    if f.start_time is None:
        return f"{last_attempt(f)} succeeded {when_hit(f, f.success_line)}, at no time the logs show"
    if a.start is None:
        return (f"{last_attempt(f)} succeeded {when_hit(f, f.success_line)}, and its first line the logs hold is "
                f"{when_hit(f, a.hits[0])}, not from a day after it")
    return f"{last_attempt(f)} started {when_hit(f, a.start)}, before it, and succeeded {when_hit(f, f.success_line)}"


def success_before_cutoff(f: Facts) -> Explanation:
    cutoff = f.advisory.catalog_cutoff
    assert cutoff is not None and f.decisive is not None
    why = [f"Legacy sync has not yet processed a catalog from after {cutoff:%d %B %Y}: {_started_words(f)}. The "
           f"catalog of the June 2008 security release ({cutoff:%d %B %Y}) brought the update the advisory's error "
           "names; an attempt that started before it says nothing (it processes the catalog there when it starts)."]
    cause = (f"its last legacy sync success is from before {cutoff:%d %B %Y} (its attempt started before it)"
             if f.start_time is not None else
             f"its last legacy sync success is at no time the logs show, so not shown after {cutoff:%d %B %Y}")
    return Explanation(why, attempt_evidence(f, f.decisive), cause)


def success_on_old_catalog(f: Facts) -> Explanation:
    cutoff = f.advisory.catalog_cutoff
    assert cutoff is not None and f.decisive is not None
    why = [f"Legacy sync has not yet processed a catalog from after {cutoff:%d %B %Y}: {last_attempt(f)} "
           f"succeeded {when_hit(f, f.success_line)}, but {_catalog_words(f)}: ITMU's synchronisation host has not "
           "refreshed it, so a success on it says nothing about the advisory."]
    return Explanation(why, attempt_evidence(f, f.decisive),
                       f"its legacy sync processes a catalog from before {cutoff:%d %B %Y}")


def succeeded(f: Facts) -> Explanation:
    a = f.decisive
    assert a is not None
    why = [f"{_cap(last_attempt(f))} succeeded {when_hit(f, f.success_line)}."]
    if f.cut:  # the part cut away may hold the advisory's failure that would make this RECOVERED
        why.append("Older attempts were cut away with the start of the log: an earlier failure with the "
                   "advisory's error (which would make this RECOVERED) cannot be seen.")
    return Explanation(why, attempt_evidence(f, a))


def other_failure(f: Facts) -> Explanation:
    a = f.decisive
    assert a is not None
    hit = a.other_error or (a.summary if a.summary_empty else None) or a.end or a.summary
    text = f.timeline.entry(hit).text if hit else "?"
    status = f" ({_statmsg_id(f, a.end)})" if a.end is not None and hit is a.end else ""
    if hit is a.summary and a.summary_empty:
        status = ": nothing was processed"
    # the error first: it is what tells this host from the others in a one-line "why"
    why = [f"{_cap(last_attempt(f))} failed for another reason ({text[:200]}){status} {when_hit(f, hit)}: "
           f"not the signature of {f.advisory.id}."]
    why.append("The build may be affected (RTM/SP1) and legacy sync is not working: the advisory's fix cannot be "
               "confirmed." if f.status.value == "unknown" else
               "On this build legacy sync must work before the advisory's fix can be confirmed.")
    return Explanation(why, attempt_evidence(f, a))


def order_untrusted(f: Facts) -> Explanation:
    trouble = f.clock_trouble
    shown = "; ".join(text for text, _hits in trouble)
    why = [f"The logs cannot clear this host: {shown}."]
    if f.decisive is not None:
        why.append(f"(In file order, {last_attempt(f)} succeeded {when_hit(f, f.success_line)}.)")
    ev = hit_evidence(f, [(h, "clock") for _text, hits in trouble for h in hits])
    if f.decisive is not None:
        ev += attempt_evidence(f, f.decisive)
    return Explanation(why, ev, "the logs' file order is not time order")


def unfinished(f: Facts) -> Explanation:
    why = ["Legacy sync attempts were started but none shows an outcome in the logs: an attempt that never "
           "finished does not show that legacy sync works."]
    if f.cut:
        why[0] += f" {'; '.join(cut_text(b) for b in f.cut)}, so an outcome may have been cut away."
    last = f.findings.attempts[-1]
    ev = attempt_evidence(f, last)
    if last.start is not None:  # what the last one shows before the log ends: an error line, a crash
        u = closer_look(f.timeline, f.sig, last, None)
        if u.error is not None or u.crash is not None:
            why.append(later_words(f, u, "The last attempt"))
            ev += later_evidence(f, u)[1:]
    return Explanation(why, ev, "its only legacy sync attempts never finished")


def _window_evidence(f: Facts) -> list[Evidence]:
    first, last = window(f)
    ends = ((first, "window-start"), (last, "window-end"))
    return hit_evidence(f, [(s.hit if s else None, role) for s, role in ends])


def cut(f: Facts) -> Explanation:
    why = (f"{'; '.join(cut_text(b) for b in f.cut)}, and the part kept shows no legacy sync attempt: the part cut "
           "away may hold the deciding one.")
    return Explanation([why], _window_evidence(f), "its log was cut before any deciding attempt")


def _ids(ids: frozenset[int]) -> str:
    return "/".join(str(i) for i in sorted(ids))


def not_observed(f: Facts) -> Explanation:
    sig, cycles = f.sig, f.cycles
    if cycles.last is None:
        why = (f"Legacy sync not observed: the logs cover only {span(f)}, without a completed sync cycle (STATMSG "
               f"{_ids(sig.sync_start_statmsg)} then {_ids(sig.sync_done_statmsg)}) after which a legacy sync "
               f"(STATMSG {_ids(sig.start_statmsg)}) would run.")
        return Explanation([why], _window_evidence(f), "the logs show no completed sync cycle")
    quiet = f.quiet_after_cycle
    after = f"{int(quiet.total_seconds() // 60)} min" if quiet is not None else "an unknown time"
    settle = int(sig.cycle_settle.total_seconds() // 60)
    done, last = f.time_of(cycles.last[1]), f.clock.time(f.last) if f.last is not None else None
    ends = f"the logs end {after} later"
    if quiet is not None and done is not None and last is not None and done + quiet != last:
        ends = (f"the logs run on plausibly for only {after}: their last line {when(f, f.last)} is in the future of "
                "the scan or more than a day after the line before it, which shows a clock, not activity")
    why = (f"Legacy sync not observed: the logs' only completed sync cycle ended {when_hit(f, cycles.last[1])} and "
           f"{ends}. A legacy sync starts right after a sync cycle (seconds after it in the advisory's log; no public "
           "source gives the delay), so this may be a scan taken just before it: two completed cycles, or a line "
           f"more than {settle} minutes after the cycle, would show that legacy sync is not in use.")
    ev = _window_evidence(f) + hit_evidence(f, [(cycles.last[0], "cycle-start"), (cycles.last[1], "cycle-done")])
    return Explanation([why], ev, "the logs end right after their only completed sync cycle")


def _cycle_evidence(f: Facts) -> list[Evidence]:
    c = f.cycles
    pairs: list[tuple[Hit, str]] = [(h, role) for cyc in (c.previous, c.last) if cyc is not None
                                    for h, role in zip(cyc, ("cycle-start", "cycle-done"), strict=True)]
    return hit_evidence(f, [(h, role) for h, role in sorted(pairs, key=lambda p: (p[0].file, p[0].start))])


def itmu_idle(f: Facts) -> Explanation:
    where = f.snapshot.itmu_folder or "its PkgSource folder"
    last = f.cycles.last
    assert last is not None
    why = (f"ITMU is installed on this server ({where}), so the site was set up to serve SMS 2003 clients, but no "
           f"legacy sync (STATMSG {_ids(f.sig.start_statmsg)}) followed the completed sync cycles up to the one that "
           f"ended {when_hit(f, last[1])}: legacy sync is not shown working.")
    return Explanation([why], _window_evidence(f) + _cycle_evidence(f), "ITMU is installed but no legacy sync runs")


def not_in_use(f: Facts) -> Explanation:
    c, ids = f.cycles, _ids(f.sig.start_statmsg)
    assert c.last is not None
    if c.previous is not None:
        ground = (f"the sync cycles that ended {when_hit(f, c.previous[1])} and {when_hit(f, c.last[1])} were not "
                  "followed by one")
    elif f.settled_after_cycle:
        ground = f"the sync cycle that ended {when_hit(f, c.last[1])} was not followed by one while the logs ran on"
    else:
        ground = (f"ITMU is not installed (no PackageSrc share or PkgSource folder found), and the sync cycle that "
                  f"ended {when_hit(f, c.last[1])} was not followed by one")
    why = (f"No legacy update sync (STATMSG {ids}) in the logs: legacy sync for SMS 2003 clients is not in use from "
           f"{span(f)}; {ground}.")
    return Explanation([why], _window_evidence(f) + _cycle_evidence(f))


def missing(f: Facts) -> Explanation:
    error = f.snapshot.log_error
    return Explanation([f"The sync log is missing{': ' + error if error else ''}."], [], "the sync log is missing")


def incomplete(f: Facts) -> Explanation:
    return Explanation([f"The sync logs are incomplete: {f.snapshot.log_error}."], _window_evidence(f),
                       "the sync logs are incomplete")


def unreadable(f: Facts) -> Explanation:
    return Explanation(["The sync log is unreadable: no entry with a time in it."], _window_evidence(f),
                       "the sync log has no entry with a time in it")


def no_setup_key(f: Facts) -> Explanation:
    return Explanation(["No SMS Setup registry key: not a ConfigMgr site server."],
                       [fact("SMS\\Setup", "registry key not found", "no-setup-key")],
                       "this is not a ConfigMgr site server")


def other_product(f: Facts) -> Explanation:
    return Explanation([], [], f"this is {f.build_name}, not ConfigMgr 2007")


def secondary_site(f: Facts) -> Explanation:
    types = f.advisory.site_types
    assert types is not None
    why = (f"Setup\\Type is {f.snapshot.site_type}: a secondary site ({types.source}), and there is no SMS\\SQL Server "
           "key, which sites with a site database have. A secondary site has no site database and its software "
           "update point is a replica of its parent's: it runs no legacy sync.")
    ev = [fact("Setup\\Type", f"{f.snapshot.site_type} (secondary: {types.source})", "site-type"),
          fact("SMS\\SQL Server", "registry key not found", "site-database")]
    return Explanation([why], ev, f"a secondary site runs no legacy sync (Setup\\Type {f.snapshot.site_type}, "
                                  f"{types.source})")


EXPLAIN: dict[Case, Callable[[Facts], Explanation]] = {
    Case.NO_SETUP_KEY: no_setup_key, Case.OTHER_PRODUCT: other_product, Case.SECONDARY_SITE: secondary_site,
    Case.ADVISORY_FAILURE: advisory_failure, Case.LATER_TROUBLE: later_trouble,
    Case.UNCONFIRMED_RECOVERY: unconfirmed_recovery, Case.UNCONFIRMED_SUCCESS: unconfirmed_success,
    Case.RECOVERY_ON_OLD_CATALOG: recovery_on_old_catalog, Case.RECOVERED: recovered, Case.FIXED_BUILD: fixed_build,
    Case.SUCCESS_BEFORE_CUTOFF: success_before_cutoff, Case.SUCCESS_ON_OLD_CATALOG: success_on_old_catalog,
    Case.SUCCEEDED: succeeded, Case.OTHER_FAILURE: other_failure, Case.ORDER_UNTRUSTED: order_untrusted,
    Case.UNFINISHED: unfinished, Case.CUT: cut, Case.NOT_OBSERVED: not_observed, Case.ITMU_IDLE: itmu_idle,
    Case.NOT_IN_USE: not_in_use, Case.MISSING: missing, Case.INCOMPLETE: incomplete, Case.UNREADABLE: unreadable,
}
