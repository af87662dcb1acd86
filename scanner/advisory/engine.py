"""The advisory engine: `evaluate(snapshot, advisory) -> Judgement`, a pure function (no I/O).

The verdict table (issue 3) in one place:
- no SMS Setup key, or a known build of another product          -> NOT_APPLICABLE
- the last legacy sync attempt with an outcome decides:
    the advisory's failure signature                             -> AFFECTED
    success, after an earlier attempt with that signature        -> RECOVERED
    success, no such failure                                     -> NOT_AFFECTED
    failure for another reason (6711, an error code before the summary, or a summary that processed
    nothing): RTM/SP1 or unknown build                           -> AT_RISK; fixed build -> NOT_AFFECTED
- no attempt with an outcome:
    fixed build                                                  -> NOT_AFFECTED
    logs readable and whole, no attempt at all, and a completed sync cycle (6701 then 6702) in the
    window, after which a legacy sync would have run             -> NOT_AFFECTED (stating the window)
    otherwise: only attempts that never finished, a log cut by --max-log-bytes (the part cut away may
    hold the deciding attempt), no completed sync cycle in the window ("legacy sync not observed"),
    or logs missing/unreadable: RTM/SP1                          -> AT_RISK; unknown build -> UNKNOWN
"""

from __future__ import annotations

import re

from scanner.advisory.attempts import Attempt, Outcome, completed_sync_cycle, judge_attempts
from scanner.advisory.builds import BuildStatus, classify
from scanner.advisory.loader import Advisory
from scanner.advisory.logs import LogEntry
from scanner.advisory.stop import NEVER, ShouldStop, Stopper
from scanner.advisory.timeline import Timeline
from scanner.model.records import Evidence, Judgement, Verdict, Window
from scanner.model.snapshot import LogBlob, Snapshot
from scanner.model.times import parse_utc

MAX_EVIDENCE_TEXT = 1000


def evidence(entry: LogEntry, role: str) -> Evidence:
    """A log entry as evidence (text capped: a 1 MB line is not a useful report cell)."""
    text = entry.text if len(entry.text) <= MAX_EVIDENCE_TEXT else entry.text[:MAX_EVIDENCE_TEXT] + "…"
    return Evidence(file=entry.file, line=entry.line, time=entry.iso_time, text=text, role=role)


def _attempt_evidence(t: Timeline, a: Attempt, prefix: str = "") -> list[Evidence]:
    parts = [(a.start, "sync-start"), (a.signature, "failure"), (a.other_error, "other-error"),
             (a.summary, "summary"), (a.end, "sync-done" if a.ended_ok else "sync-failed")]
    return [evidence(t.entry(h), prefix + role) for h, role in parts if h is not None]


def _cut(blob: LogBlob) -> str:
    """What --max-log-bytes cut from a log: the judged tail, of how much."""
    of = f" of {blob.size:,}" if blob.size is not None and blob.size > len(blob.data) else ""
    return f"{_file(blob.name)} was cut to its last {len(blob.data):,}{of} bytes (--max-log-bytes)"


def _time(iso_time: str | None) -> str:
    """A time in a reason, to the second: 2008-06-24 09:06:57 UTC (the evidence keeps the milliseconds)."""
    moment = parse_utc(iso_time)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else (iso_time or "?")


def _file(path: str) -> str:
    """A log in a reason by its file name (wsyncmgr.lo_ or .log): the evidence and facts give the full path."""
    return re.split(r"[\\/]", path)[-1] or path


def _when(e: LogEntry | None) -> str:
    if e is None:
        return "at an unknown time"
    where = f"{_file(e.file)}:{e.line}"
    return f"at {_time(e.iso_time)} ({where})" if e.iso_time else f"at an unknown time ({where})"


class _Judge:
    """Holds what every verdict of one snapshot shares (build, window, advisory) while deciding."""

    def __init__(self, snapshot: Snapshot, advisory: Advisory, stop: Stopper = NEVER) -> None:
        self.snapshot, self.advisory, self.stop = snapshot, advisory, stop
        self.status, match = classify(snapshot.build, advisory.builds)
        self.build_name = match.name if match else None
        self.window: Window | None = None
        self.timeline = Timeline(())
        self.facts: list[str] = []

    def verdict(self, verdict: Verdict, reasons: list[str], ev: list[Evidence]) -> Judgement:
        return Judgement(
            verdict=verdict,
            reasons=(self.advisory.verdict_text[verdict.value], *reasons, *self.facts),
            evidence=tuple(ev),
            build=self.snapshot.build,
            build_name=self.build_name,
            window=self.window,
            advisory_id=self.advisory.id,
        )

    def build_fact(self) -> str:
        b = self.snapshot.build
        if b is None:
            return "Build unknown (no Full Version)."
        if self.status is BuildStatus.UNKNOWN:
            return f"Build {b} is not one this advisory lists; judged by the logs."
        meaning = {BuildStatus.AFFECTED: "a build the advisory affects", BuildStatus.FIXED: "a build with the fix",
                   BuildStatus.NOT_APPLICABLE: "another product"}[self.status]
        return f"Build {b} ({self.build_name}) is {meaning}."

    def build_evidence(self) -> list[Evidence]:
        b = self.snapshot.build
        if b is None or self.status is BuildStatus.UNKNOWN:
            return []
        return [Evidence(file="Full Version", line=0, time=None, text=f"{b} ({self.build_name})", role="build")]

    def run(self) -> Judgement:
        snap, sig = self.snapshot, self.advisory.signatures
        # The window is cheap (first and last dated entries) and every verdict reports it.
        self.stop.poll()
        self.timeline = timeline = Timeline(snap.logs, self.stop)
        first = timeline.first_timed()
        self.stop.poll()
        last = timeline.last_timed()
        self.stop.poll()
        if first is not None and last is not None:
            self.window = Window(first.iso_time, last.iso_time)
        if snap.setup_key_found is False:
            return self.verdict(Verdict.NOT_APPLICABLE, ["No SMS Setup registry key: not a ConfigMgr site server."],
                                [Evidence("SMS\\Setup", 0, None, "registry key not found", "no-setup-key")])
        self.facts.append(self.build_fact())
        if self.status is BuildStatus.NOT_APPLICABLE:
            return self.verdict(Verdict.NOT_APPLICABLE, [], self.build_evidence())
        if first is not None and last is not None:
            files = ", ".join(dict.fromkeys(_file(b.name) for b in snap.logs))
            self.facts.append(f"The logs ({files}) cover {_time(first.iso_time)} to {_time(last.iso_time)}.")
        cut = [b for b in snap.logs if b.truncated]
        self.facts += [f"{_cut(b)}: only that tail was judged, and its line numbers count from its start."
                       for b in cut]
        if snap.log_error:
            self.facts.append(f"Log problem: {snap.log_error}")
        found = judge_attempts(timeline, sig)
        attempts = found.attempts
        if found.decisive is not None:
            return self.decide(found.decisive, found.earlier_failure, cut=bool(cut))
        readable = first is not None and not snap.log_error
        window_ev = [evidence(e, r) for e, r in ((first, "window-start"), (last, "window-end")) if e is not None]
        if self.status is BuildStatus.FIXED:
            why = "No legacy sync attempt with an outcome in the logs, and the build has the fix."
            return self.verdict(Verdict.NOT_AFFECTED, [why], self.build_evidence() + window_ev)
        span = f"{_time(first.iso_time) if first else '?'} to {_time(last.iso_time) if last else '?'}"
        ids = "/".join(str(i) for i in sorted(sig.start_statmsg))
        cycle = completed_sync_cycle(timeline, sig) if readable and not attempts and not cut else None
        if cycle is not None:
            done = timeline.entry(cycle[1])
            why = (f"No legacy update sync (STATMSG {ids}) in the logs: legacy sync for SMS 2003 clients is not in "
                   f"use from {span}; the sync cycle that ended {_when(done)} was not followed by one.")
            cycle_ev = [evidence(timeline.entry(cycle[0]), "cycle-start"), evidence(done, "cycle-done")]
            return self.verdict(Verdict.NOT_AFFECTED, [why], window_ev + cycle_ev)
        if readable and not attempts and not cut:
            starts = "/".join(str(i) for i in sorted(sig.sync_start_statmsg))
            dones = "/".join(str(i) for i in sorted(sig.sync_done_statmsg))
            why = (f"Legacy sync not observed: the logs cover only {span}, without a completed sync cycle "
                   f"(STATMSG {starts} then {dones}) after which a legacy sync (STATMSG {ids}) would run.")
            ev = window_ev
        elif attempts:
            why = ("Legacy sync attempts were started but none shows an outcome in the logs: an attempt that never "
                   "finished does not show that legacy sync works.")
            ev = _attempt_evidence(timeline, attempts[-1])
            if cut:
                why += f" {'; '.join(_cut(b) for b in cut)}, so an outcome may have been cut away."
        elif readable and cut:
            why = (f"{'; '.join(_cut(b) for b in cut)}, and the part kept shows no legacy sync attempt: the part cut "
                   "away may hold the deciding one.")
            ev = window_ev
        elif not snap.logs:
            why, ev = f"The sync log is missing{': ' + snap.log_error if snap.log_error else ''}.", []
        elif snap.log_error:
            why, ev = f"The sync logs are incomplete: {snap.log_error}.", window_ev
        else:
            why, ev = "The sync log is unreadable: no entry with a time in it.", window_ev
        if self.status is BuildStatus.AFFECTED:
            return self.verdict(Verdict.AT_RISK, [why], self.build_evidence() + ev)
        return self.verdict(Verdict.UNKNOWN, [why], ev)

    def decide(self, last: Attempt, before: Attempt | None, *, cut: bool = False) -> Judgement:
        outcome, t = last.outcome, self.timeline
        ev = _attempt_evidence(t, last)
        entry = t.entry
        if outcome is Outcome.FAILED_ADVISORY and last.signature is not None:
            detail = self.advisory.signatures.failure_detail
            signature = entry(last.signature)
            m = detail.search(signature.text) if detail else None
            update = f" for update {m.group(1)}" if m else ""
            why = [f"The last legacy sync attempt failed {_when(signature)} with the advisory's error{update}."]
            if self.status is BuildStatus.FIXED:
                why.append("The build is listed as fixed, but the log shows the failure: check the build.")
            return self.verdict(Verdict.AFFECTED, why, ev)
        if outcome is Outcome.SUCCEEDED:
            ok_hit = last.end or last.summary
            ok = entry(ok_hit) if ok_hit else None
            if before is not None:
                earlier_failure = entry(before.signature) if before.signature else None
                why = [f"The last legacy sync attempt succeeded {_when(ok)}, after the advisory's failure "
                       f"{_when(earlier_failure)}."]
                return self.verdict(Verdict.RECOVERED, why, _attempt_evidence(t, before, "earlier-") + ev)
            why = [f"The last legacy sync attempt succeeded {_when(ok)}."]
            if cut:  # the part cut away may hold the advisory's failure that would make this RECOVERED
                why.append("Older attempts were cut away with the start of the log: an earlier failure with the "
                           "advisory's error (which would make this RECOVERED) cannot be seen.")
            return self.verdict(Verdict.NOT_AFFECTED, why, ev)
        failure_hit = last.other_error or last.end or last.summary
        failure = entry(failure_hit) if failure_hit else None
        text = failure.text if failure else "?"
        # the error first: it is what tells this host from the others in a one-line "why"
        why = [f"The last legacy sync attempt failed for another reason ({text[:200]}) {_when(failure)}: "
               f"not the signature of {self.advisory.id}."]
        if self.status is BuildStatus.FIXED:
            return self.verdict(Verdict.NOT_AFFECTED, why, self.build_evidence() + ev)
        why.append("The build may be affected (RTM/SP1) and legacy sync is not working: the advisory's fix "
                   "cannot be confirmed." if self.status is BuildStatus.UNKNOWN else
                   "On this build legacy sync must work before the advisory's fix can be confirmed.")
        return self.verdict(Verdict.AT_RISK, why, self.build_evidence() + ev)


def evaluate(snapshot: Snapshot, advisory: Advisory, *, should_stop: ShouldStop | None = None) -> Judgement:
    """Judge one host's snapshot against an advisory (pure: the same snapshot gives the same judgement).

    `should_stop` is asked now and then; when it answers True, judging ends with `Abandoned`.
    """
    return _Judge(snapshot, advisory, Stopper(should_stop) if should_stop else NEVER).run()
