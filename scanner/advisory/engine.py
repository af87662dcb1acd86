"""The advisory engine: `evaluate(snapshot, advisory) -> Judgement`, a pure function (no I/O).

Two tables decide, in the README verdict table's words; a reviewer checks them against it:
- RULES: which case a host is, in order: the first rule that holds. Registry facts first, then the last legacy
  sync attempt with an outcome, then what the logs show without one.
- VERDICTS: per case, the verdict on a build the advisory affects (RTM/SP1), on one with the fix (SP2 and later)
  and on an unknown build.
What each case says (its reasons, the lines it used) is in scanner/advisory/explain.py; the facts every verdict
adds (build, site role, window, clock, ITMU, catalog, hotfix evidence) in scanner/advisory/context.py.

The rules in words:
- no SMS Setup key; another product's build; Setup\\Type secondary (SMS 2.0 coding, assumed for 2007) with no
  SMS\\SQL Server key and no legacy sync attempt in the logs           -> NOT_APPLICABLE
- the last legacy sync attempt with an outcome (an error line beats any status; a 6710 alone never outweighs
  the advisory's error; a summary that processed nothing is a failure; a warning is not; a lone 6710 or 6711
  outside any attempt decides nothing):
    the advisory's error (also a line of it outside any attempt)       -> AFFECTED
    a later attempt never finished and shows an error line or a crash  -> AT_RISK (fixed build: NOT_AFFECTED)
    success after that error, shown only by a 6710 (unverified)        -> AFFECTED
    success after that error, on a catalog written before 10 June 2008 -> AFFECTED
    success after that error, file order trusted                       -> RECOVERED
  (a build with the fix: NOT_AFFECTED from here on)
    success shown only by a 6710 (unverified), no summary              -> AT_RISK (unknown build: UNKNOWN)
    success of an attempt not shown to start after 10 June 2008 (UTC)  -> AT_RISK (unknown build: UNKNOWN)
    success on a catalog written before 10 June 2008                   -> AT_RISK (unknown build: UNKNOWN)
    success, file order trusted                                        -> NOT_AFFECTED
    failure for another reason                                         -> AT_RISK (unknown build too)
    success, but several servers in one log, time running backwards or
    a GMTDATE that disagrees with its file                             -> AT_RISK (unknown build: UNKNOWN)
- no attempt with an outcome: only unfinished attempts; a log cut by --max-log-bytes; no completed sync cycle,
  or one ending less than `cycle_settle_minutes` before the logs do (with ITMU not known absent); ITMU installed
  yet no legacy sync after the cycles; the log missing, incomplete or undated -> AT_RISK (unknown build: UNKNOWN);
  whole logs, two completed cycles (or one and activity well after it, or one on a server without ITMU), file
  order trusted                                                        -> NOT_AFFECTED (not in use)
"""

from __future__ import annotations

from collections.abc import Callable

from scanner.advisory.attempts import Outcome
from scanner.advisory.builds import BuildStatus
from scanner.advisory.cases import Case
from scanner.advisory.context import context
from scanner.advisory.explain import EXPLAIN, notes
from scanner.advisory.facts import Facts
from scanner.advisory.loader import CAUSE, Advisory
from scanner.advisory.logs import iso_utc
from scanner.advisory.stop import NEVER, ShouldStop, Stopper
from scanner.advisory.wording import window
from scanner.model.records import Judgement, Verdict, Window
from scanner.model.snapshot import Snapshot

A, R, N, X = Verdict.AFFECTED, Verdict.AT_RISK, Verdict.NOT_AFFECTED, Verdict.NOT_APPLICABLE
RECOVERED, UNKNOWN = Verdict.RECOVERED, Verdict.UNKNOWN

# case: (build the advisory affects, build with the fix, unknown build)
VERDICTS: dict[Case, tuple[Verdict, Verdict, Verdict]] = {
    Case.NO_SETUP_KEY: (X, X, X),
    Case.OTHER_PRODUCT: (X, X, X),
    Case.SECONDARY_SITE: (X, X, X),
    Case.ADVISORY_FAILURE: (A, A, A),
    Case.LATER_TROUBLE: (R, N, R),
    Case.UNCONFIRMED_RECOVERY: (A, A, A),
    Case.RECOVERY_ON_OLD_CATALOG: (A, A, A),
    Case.RECOVERED: (RECOVERED, RECOVERED, RECOVERED),
    Case.FIXED_BUILD: (N, N, N),
    Case.UNCONFIRMED_SUCCESS: (R, N, UNKNOWN),
    Case.SUCCESS_BEFORE_CUTOFF: (R, N, UNKNOWN),
    Case.SUCCESS_ON_OLD_CATALOG: (R, N, UNKNOWN),
    Case.SUCCEEDED: (N, N, N),
    Case.OTHER_FAILURE: (R, N, R),
    Case.ORDER_UNTRUSTED: (R, N, UNKNOWN),
    Case.UNFINISHED: (R, N, UNKNOWN),
    Case.CUT: (R, N, UNKNOWN),
    Case.NOT_OBSERVED: (R, N, UNKNOWN),
    Case.ITMU_IDLE: (R, N, UNKNOWN),
    Case.NOT_IN_USE: (N, N, N),
    Case.MISSING: (R, N, UNKNOWN),
    Case.INCOMPLETE: (R, N, UNKNOWN),
    Case.UNREADABLE: (R, N, UNKNOWN),
}
_COLUMN = {BuildStatus.AFFECTED: 0, BuildStatus.NOT_APPLICABLE: 0, BuildStatus.FIXED: 1, BuildStatus.UNKNOWN: 2}


def _succeeded(f: Facts) -> bool:
    return f.outcome is Outcome.SUCCEEDED


def _recovered(f: Facts) -> bool:
    return _succeeded(f) and f.earlier_failure is not None


def _status_only(f: Facts) -> bool:
    return f.decisive is not None and f.decisive.status_only


Rule = tuple[Case, Callable[[Facts], bool]]

# In order; the first rule that holds names the case. Each test asks only for the facts it needs, so the logs
# are read only as far as the rules before it did not decide.
RULES: tuple[Rule, ...] = (
    (Case.NO_SETUP_KEY, lambda f: f.snapshot.setup_key_found is False),
    (Case.OTHER_PRODUCT, lambda f: f.status is BuildStatus.NOT_APPLICABLE),
    (Case.SECONDARY_SITE, lambda f: f.secondary and not f.findings.attempts),
    (Case.ADVISORY_FAILURE, lambda f: f.outcome is Outcome.FAILED_ADVISORY),
    (Case.LATER_TROUBLE, lambda f: f.later_trouble is not None),
    (Case.UNCONFIRMED_RECOVERY, lambda f: _recovered(f) and _status_only(f)),
    (Case.RECOVERY_ON_OLD_CATALOG, lambda f: _recovered(f) and f.catalog_old),
    (Case.RECOVERED, lambda f: _recovered(f) and f.clock_ok),
    (Case.FIXED_BUILD, lambda f: f.status is BuildStatus.FIXED),
    (Case.UNCONFIRMED_SUCCESS, lambda f: _succeeded(f) and _status_only(f)),
    (Case.SUCCESS_BEFORE_CUTOFF, lambda f: _succeeded(f) and f.success_before_cutoff),
    (Case.SUCCESS_ON_OLD_CATALOG, lambda f: _succeeded(f) and f.catalog_old),
    (Case.SUCCEEDED, lambda f: _succeeded(f) and f.clock_ok),
    (Case.OTHER_FAILURE, lambda f: f.outcome is Outcome.FAILED_OTHER),
    (Case.ORDER_UNTRUSTED, _succeeded),  # a success the clock check refused
    (Case.UNFINISHED, lambda f: bool(f.findings.attempts)),
    (Case.CUT, lambda f: f.readable and bool(f.cut)),
    (Case.NOT_OBSERVED, lambda f: f.whole and not f.enough_cycles),
    (Case.ITMU_IDLE, lambda f: f.whole and f.snapshot.itmu_installed is True),
    (Case.NOT_IN_USE, lambda f: f.whole and f.clock_ok),
    (Case.ORDER_UNTRUSTED, lambda f: f.whole),  # not in use, but the clock check refused
    (Case.MISSING, lambda f: not f.snapshot.logs),
    (Case.INCOMPLETE, lambda f: bool(f.snapshot.log_error)),
    (Case.UNREADABLE, lambda f: True),
)


def decide(f: Facts) -> tuple[Case, Verdict]:
    """The host's case (the first rule that holds) and its verdict for the build."""
    case = next(case for case, holds in RULES if holds(f))
    return case, VERDICTS[case][_COLUMN[f.status]]


def _judgement(f: Facts, case: Case, verdict: Verdict) -> Judgement:
    told = EXPLAIN[case](f)
    noted, noted_evidence = notes(f, case)
    more, more_evidence = context(f, case)
    headline = f.advisory.verdict_text[verdict.value].replace(CAUSE, told.cause or "the logs do not decide")
    first, last = window(f)
    return Judgement(
        verdict=verdict,
        reasons=(headline, *told.reasons, *noted, *more),
        evidence=(*told.evidence, *noted_evidence, *more_evidence),
        build=f.snapshot.build,
        build_name=f.build_name,
        window=Window(iso_utc(first.time), iso_utc(last.time)) if first and last else None,
        advisory_id=f.advisory.id,
        remediation=remediation(f.advisory, case, verdict),
    )


def remediation(advisory: Advisory, case: Case, verdict: Verdict) -> str:
    """What to do: the advisory's text for the verdict, then its line for the case where it has one (nothing for a
    verdict that needs nothing)."""
    general = advisory.verdict_remediation.get(verdict.value, "")
    specific = advisory.case_remediation.get(case.value, "") if general else ""
    return " ".join(t for t in (general, specific) if t)


def evaluate(snapshot: Snapshot, advisory: Advisory, *, should_stop: ShouldStop | None = None) -> Judgement:
    """Judge one host's snapshot against an advisory (pure: the same snapshot gives the same judgement).

    `should_stop` is asked now and then; when it answers True, judging ends with `Abandoned`.
    """
    facts = Facts(snapshot, advisory, Stopper(should_stop) if should_stop else NEVER)
    case, verdict = decide(facts)
    return _judgement(facts, case, verdict)
