"""The cases the verdict table knows, one per row of the README's verdict table."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from scanner.model.records import Evidence


class Case(StrEnum):
    NO_SETUP_KEY = "no-setup-key"  # no HKLM\...\SMS\Setup: not a site server
    OTHER_PRODUCT = "other-product"  # SMS 2003, ConfigMgr 2012 and later
    SECONDARY_SITE = "secondary-site"  # Setup\Type says secondary and there is no site database
    ADVISORY_FAILURE = "advisory-failure"  # the last attempt failed with the advisory's error
    LATER_TROUBLE = "later-trouble"  # a later attempt never finished and shows an error line or a crash
    UNCONFIRMED_RECOVERY = "unconfirmed-recovery"  # after that failure, only a 6710 (unverified) says it worked
    RECOVERY_ON_OLD_CATALOG = "recovery-on-old-catalog"  # it worked again, on a catalog from before the cutoff
    RECOVERED = "recovered"
    FIXED_BUILD = "fixed-build"  # SP2 and later, the logs show no advisory failure
    UNCONFIRMED_SUCCESS = "unconfirmed-success"  # only a 6710 (unverified), no summary, says the last attempt worked
    SUCCESS_BEFORE_CUTOFF = "success-before-cutoff"  # the last success is from before 10 June 2008 (or undated)
    SUCCESS_ON_OLD_CATALOG = "success-on-old-catalog"  # the catalog it processes was written before the cutoff
    SUCCEEDED = "succeeded"
    OTHER_FAILURE = "other-failure"
    ORDER_UNTRUSTED = "order-untrusted"  # the logs would clear the host, but file order is not time order
    UNFINISHED = "unfinished"  # only attempts without an outcome
    CUT = "cut"  # --max-log-bytes cut the log before any attempt
    NOT_OBSERVED = "not-observed"  # no attempt, and too little of the logs to say legacy sync is not in use
    ITMU_IDLE = "itmu-idle"  # no attempt over enough cycles, but ITMU is installed
    NOT_IN_USE = "not-in-use"  # no attempt over enough cycles, ITMU not known to be installed
    MISSING = "missing"  # no log at all
    INCOMPLETE = "incomplete"  # a log could not be read (the other may have been)
    UNREADABLE = "unreadable"  # no dated line


@dataclass(slots=True)
class Explanation:
    """What a case says about one host: its reasons (prose, with times and file:line), the lines behind them,
    and the cause its verdict's headline names (`{cause}` in the advisory's verdict text)."""

    reasons: list[str]
    evidence: list[Evidence] = field(default_factory=list)
    cause: str = ""
