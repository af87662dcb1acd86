"""After a scan: record it in the history, say what changed, mail it, prune old runs.

Two steps around the report writing, because the reports need the changes and the mail needs the
report: `prepare` (history + changes + trend) before `write_reports`, `finish` (mail + retention) after.
Nothing here may cost the run its results: every failure becomes a one-line message for stderr/log.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from markupsafe import Markup

from reports import trend
from scanner.config.mail_settings import MailSettings
from scanner.history import changes as changes_mod
from scanner.history import database as history
from scanner.model.changes import Changes
from scanner.model.errors import UsageError
from scanner.model.records import RunResults
from scanner.publish import retention
from scanner.publish.mail import MailOutcome, mail_run

TREND_RUNS = 12


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What the post-scan steps produced; `messages` are one-line notes for the user (never secrets)."""

    history_path: Path | None = None
    run_id: int | None = None  # the run's id in the history; None when not recorded
    changes: Changes | None = None
    trend: Markup | None = None
    trend_runs: int = 0  # how many runs the trend chart shows
    mail: MailOutcome | None = None
    pruned: retention.PruneResult | None = None
    messages: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # the messages that say something failed (shown even with --quiet)


def audit_key(results: RunResults) -> str:
    """Runs are compared per audit name (`--audit`, else the inventory file's name without a date)."""
    return history.audit_for(results)


def prepare(results: RunResults, *, history_path: Path | None, output_dir: Path | None) -> FollowUp:
    """Record the run (history_path None: don't) and compute the changes since the last run and the trend."""
    if history_path is None:
        return FollowUp()
    key = audit_key(results)
    try:
        run_id = history.record_run(history_path, results, key,
                                    output_dir=output_dir.resolve() if output_dir else None)
        found = changes_mod.changes_since_last(history_path, run_id)
        points = history.trend_points(history.recent_counts(history_path, key, limit=TREND_RUNS, until=run_id))
    except UsageError as exc:  # HistoryError: locked past the busy timeout, disk full, not a database...
        note = f"history not updated: {exc}"
        return FollowUp(history_path=history_path, messages=(note,), problems=(note,))
    return FollowUp(history_path=history_path, run_id=run_id, changes=found, trend=trend.trend_svg(points),
                    trend_runs=len(points))


def finish(follow: FollowUp, results: RunResults, *, mail: MailSettings | None, keep_runs: int | None,
           report_path: Path | None, output_dir: Path | None) -> FollowUp:
    """Mail (when settings are given) and prune (keep_runs); never raises, and a mail failure never stops pruning."""
    messages, problems = list(follow.messages), list(follow.problems)
    outcome: MailOutcome | None = None
    if mail is not None:
        try:
            outcome = mail_run(results, follow.changes, mail, report_path=report_path,
                               run_folder=str(output_dir) if output_dir else None)
        except Exception as exc:  # noqa: BLE001 - whatever mail does, retention below still runs
            outcome = MailOutcome(False, f"mail not sent: {type(exc).__name__}: {exc}")
        messages.append(outcome.message)
        if not outcome.sent and not outcome.skipped:
            problems.append(outcome.message)
    pruned: retention.PruneResult | None = None
    if keep_runs and follow.history_path is not None and follow.run_id is not None:
        try:
            pruned = retention.prune(follow.history_path, keep_runs, audit=audit_key(results),
                                     protect=[follow.run_id], keep_folders=[output_dir] if output_dir else [])
            if pruned.deleted_runs:
                messages.append(f"retention: removed {len(pruned.deleted_runs)} old run(s) "
                                f"and {len(pruned.removed_folders)} run folder(s), keeping {keep_runs}")
            messages.extend(f"retention: {p}" for p in pruned.problems)
            problems.extend(f"retention: {p}" for p in pruned.problems)
        except (UsageError, ValueError) as exc:
            messages.append(f"retention skipped: {exc}")
            problems.append(f"retention skipped: {exc}")
    return replace(follow, mail=outcome, pruned=pruned, messages=tuple(messages), problems=tuple(problems))
