"""`cmaudit scan` as a function: plan, execute, publish, and the console lines between them.

Kept apart from the argparse layer so `cmaudit scan`, `cmaudit demo`, the tests and the benchmarks drive the
very same code. The steps below print nothing; this is where their notes, the progress and the summary reach
stdout and stderr.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from reports.changes_text import render_text
from reports.console import exit_status, print_summary
from scanner.cli.progress import Progress
from scanner.model.notes import Note
from scanner.publish.publish_run import publish_run
from scanner.scan.execute import execute
from scanner.scan.plan import read_inputs, settle_logons

if TYPE_CHECKING:
    from scanner.config.mail_settings import MailSettings
    from scanner.model.records import RunResults
    from scanner.scan.execute import AnyRunner, Run
    from scanner.scan.settings import ScanSettings

EXIT_INTERRUPTED = 130  # stopped (Ctrl-C, SIGTERM) before every step finished: as a shell reports SIGINT


@dataclass(slots=True)
class ScanOutcome:
    results: RunResults
    out_dir: Path
    paths: dict[str, Path]
    exit_status: int
    runner: AnyRunner | None = None
    notes: list[Note] = field(default_factory=list)  # every line shown (or held back by --quiet) on stderr
    workers: int = 1  # processes the hosts ran in (1: this one)
    worker_stats: list[dict[str, Any]] = field(default_factory=list)  # per worker: hosts, slots, peak RSS


def run_scan(
    settings: ScanSettings,
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    on_runner: Callable[[AnyRunner], None] | None = None,
    on_host_done: Callable[[Run], None] | None = None,
    install_signal_handlers: bool = True,
    mail: MailSettings | None = None,
    logon_notes: Iterable[Note] = (),
) -> ScanOutcome:
    """Scan every host of the inventory; always writes results.json covering every host. `logon_notes` are said
    once every host's logon is settled (a run that cannot log on says only why)."""
    out = out or sys.stdout
    err = err or sys.stderr
    inputs = read_inputs(settings)
    notes = _show(inputs.notes, err, settings.quiet)
    if inputs.earlier is not None and inputs.nothing_to_rescan:
        return ScanOutcome(inputs.earlier, inputs.out_dir, {}, exit_status(inputs.earlier), notes=notes)
    with settle_logons(inputs, environ=environ, prompt=getpass.getpass) as plan:
        notes += _show([*logon_notes, *plan.notes], err, settings.quiet)
        executed = execute(plan, progress=Progress(len(inputs.hosts), err, quiet=settings.quiet),
                           on_runner=on_runner, on_host_done=on_host_done,
                           install_signal_handlers=install_signal_handlers)
        notes += _show(executed.notes, err, settings.quiet)
        published = publish_run(executed.results, inputs.out_dir, history=settings.history,
                                keep_runs=settings.keep_runs, mail=mail,
                                install_signal_handlers=install_signal_handlers)
    results = executed.results
    print_summary(results, out, results_path=published.paths.get("json"))
    since_last_run = render_text(published.changes) if published.changes is not None else ""
    if since_last_run:
        out.write("\n" + since_last_run)
    for name, path in published.paths.items():
        out.write(f"{name:>5}: {path}\n")
    notes += _show(published.notes, err, settings.quiet)
    if executed.runner.interrupted or published.stopped:
        where = published.paths.get("json", inputs.out_dir)
        notes += _show([Note(f"interrupted; results for every host written to {where}")], err, settings.quiet)
    if published.internal_error is not None:  # results and reports are written: now end as the crash it is (70)
        raise published.internal_error
    status = EXIT_INTERRUPTED if published.stopped else exit_status(results)
    return ScanOutcome(results, inputs.out_dir, published.paths, status, executed.runner, notes, executed.workers,
                       executed.worker_stats)


def _show(notes: Iterable[Note], err: TextIO, quiet: bool) -> list[Note]:
    """Each note on stderr as `cmaudit: ...` (under --quiet only those that say something failed)."""
    notes = list(notes)
    for note in notes:
        if note.problem or not quiet:
            err.write(f"cmaudit: {note.text}\n")
    return notes
