"""The publish step of a scan: results.json, the history, the reports, mail and retention, in that order.

results.json is written before anything that can block or fail (a locked history database, a report held
open in Excel, a mail relay), so a run never loses its results to a later step. A Ctrl-C (or SIGTERM) while
waiting for the history, the relay or retention ends that step only: the reports are still written, and the
caller exits 130. Nothing here prints: every problem is a `Note` for the CLI.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reports import REPORTERS, ReportWriteError, write_reports
from reports.weekly import write_weekly_reports
from scanner.history import run_folder
from scanner.history.database import HistoryError
from scanner.model.notes import Note
from scanner.model.records import RunResults
from scanner.publish import followup

if TYPE_CHECKING:
    from scanner.config.mail_settings import MailSettings
    from scanner.model.changes import Changes


# What a follow-up step may meet without a bug: a history it cannot use, a disk or a relay that fails.
EXPECTED_FAILURES = (HistoryError, OSError)


@dataclass(frozen=True, slots=True)
class Published:
    """What the publish step wrote and what the admin should be told."""

    paths: dict[str, Path]  # report name ("json", "html", ...) -> file written
    notes: tuple[Note, ...] = ()
    changes: Changes | None = None  # since the last run of the audit, when the history was recorded
    stopped: bool = False  # the user stopped a step (Ctrl-C, SIGTERM): exit status 130
    internal_error: BaseException | None = None  # a bug in a follow-up step: the CLI ends the run as a crash (70)


def publish_run(results: RunResults, out_dir: Path, *, history: Path | None, keep_runs: int | None,
                mail: MailSettings | None, install_signal_handlers: bool = True) -> Published:
    """Write and send what the run found (see the module doc); never raises for a step that fails."""
    with _sigterm_interrupts(install_signal_handlers):
        notes: list[Note] = []
        bugs: list[BaseException] = []
        follow, stopped = _json_and_history(results, out_dir, history, mail, notes, bugs)
        paths = _reports(results, out_dir, follow, notes)
        notes.extend(Note(problem) for problem in _record_files(results, out_dir, paths))
        if follow is None:
            return Published(paths, tuple(notes), None, stopped, _first(bugs))
        try:
            follow = followup.finish(follow, results, mail=mail, keep_runs=keep_runs,
                                     report_path=paths.get("html"), output_dir=out_dir)
        except KeyboardInterrupt:
            stopped = True
            notes.append(Note("interrupted while mailing or pruning old runs; the run is recorded and its reports "
                              "written"))
        except EXPECTED_FAILURES as exc:
            notes.append(Note(f"mail/retention skipped: {exc}"))
        except Exception as exc:  # noqa: BLE001 - a bug: kept for the CLI (exit 70), after the results are safe
            notes.append(Note(f"mail/retention skipped: internal error: {type(exc).__name__}"))
            bugs.append(exc)
        notes.extend(Note(message, message in follow.problems) for message in follow.messages)
        return Published(paths, tuple(notes), follow.changes, stopped, _first(bugs))


def _first(bugs: list[BaseException]) -> BaseException | None:
    return bugs[0] if bugs else None


def _json_and_history(results: RunResults, out_dir: Path, history: Path | None, mail: MailSettings | None,
                      notes: list[Note], bugs: list[BaseException]) -> tuple[followup.FollowUp | None, bool]:
    """results.json, then the history (changes, trend); whether the user stopped this stretch. A history that
    cannot be written is a problem note; a bug in this step goes to `bugs` (the run still gets its reports)."""
    json_reporter = REPORTERS["json"]
    json_written = False

    def write_json() -> None:
        nonlocal json_written
        try:
            json_reporter.write(results, out_dir / json_reporter.filename)
            json_written = True
        except OSError as exc:
            notes.append(Note(f"could not write {out_dir / json_reporter.filename}: {exc.strerror or exc}"))

    # One guarded stretch from results.json to the end of the history step: a Ctrl-C landing anywhere in it
    # (also between two statements) stops the history, never the reports.
    try:
        write_json()
        if history is not None or mail is not None:
            try:
                return followup.prepare(results, history_path=history, output_dir=out_dir), False
            except EXPECTED_FAILURES as exc:
                notes.append(Note(f"history not updated: {exc}"))
            except Exception as exc:  # noqa: BLE001 - a bug must not cost the run its reports; exit 70 after them
                notes.append(Note(f"history not updated: internal error: {type(exc).__name__}"))
                bugs.append(exc)
    except KeyboardInterrupt:
        notes.append(Note("interrupted while recording the history: this run is not in it (nothing mailed or "
                          "pruned); the results and reports are written"))
        if not json_written:  # the Ctrl-C came while results.json was written: the results are still in memory
            write_json()
        return None, True
    return None, False


def _reports(results: RunResults, out_dir: Path, follow: followup.FollowUp | None, notes: list[Note]
             ) -> dict[str, Path]:
    """Every report (with the changes and the trend when the run was recorded); what was written."""
    try:
        if follow is not None and follow.run_id is not None:
            return write_weekly_reports(results, out_dir, follow.changes, follow.trend, trend_runs=follow.trend_runs)
        return write_reports(results, out_dir)
    except ReportWriteError as exc:
        notes.append(Note(str(exc)))
        return dict(exc.written)


def _record_files(results: RunResults, out_dir: Path, paths: Mapping[str, Path]) -> list[str]:
    """List what this run wrote in its folder's marker: all that retention may ever delete for it."""
    files = [Path(p).relative_to(out_dir).as_posix() for p in paths.values() if Path(p).parent == out_dir]
    files += [lf.saved_as for h in results.hosts for lf in h.facts.logs if lf.saved_as]
    try:
        run_folder.record_files(out_dir, results.meta.run_id, files)
    except (OSError, run_folder.MarkerError) as exc:
        return [f"could not list this run's files in {out_dir / run_folder.MARKER}: {exc}; retention will keep them"]
    return []


@contextlib.contextmanager
def _sigterm_interrupts(install: bool) -> Iterator[None]:
    """While the publish step runs, SIGTERM stops its current step as Ctrl-C does (by default it would kill the
    process without the reports); the scan's own handlers are gone by then."""
    if not install or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
