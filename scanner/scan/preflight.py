"""Checks that run before any host is contacted: an audit that cannot keep its results must not start.

A read-only or full output folder would otherwise cost a whole fleet's logons and end with every host as
"cannot save the evidence". Each check is a function of the run's inputs (`scanner.scan.run_plan.RunInputs`)
that raises UsageError with one line naming the file or host (exit 64, nothing contacted). `CHECKS` is what
the plan step runs, in order; another check joins by appending a function to it (or by passing its own list
to `run_checks`). Checks leave nothing behind: the run folder is created by `create_run_folder` (the
execute step's first act) only after all passed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scanner.history import database as history
from scanner.history.run_folder import holds_a_run, start_run
from scanner.model.errors import UsageError

if TYPE_CHECKING:
    from scanner.scan.run_plan import RunInputs

PROBE_BYTES = 4096  # a full disk refuses even this; a read-only one refuses creating the file at all


Check = Callable[["RunInputs"], None]


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder on `path` that exists (where creating the rest must start)."""
    current = path.absolute()
    while not os.path.lexists(current) and current.parent != current:
        current = current.parent
    return current


def probe_writable(folder: Path, what: str) -> None:
    """Write, flush and delete a small file in `folder`; UsageError saying why when that fails."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: is not a folder, so {what} cannot be created in it")
    probe = folder / f".cmaudit-write-test-{secrets.token_hex(6)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: {what} cannot be written there ({exc.strerror or exc}); no host was contacted"
                         ) from None


def check_output_folder(inputs: RunInputs) -> None:
    """The run folder is new, or an existing folder that is not an earlier run's (unless --force), and writable."""
    out = inputs.out_dir
    if not os.path.lexists(out):
        probe_writable(_existing_ancestor(out), f"the run folder {out}")
        return
    if not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder; give a folder for the run (-o)")
    if holds_a_run(out) and not inputs.settings.force:
        raise UsageError(f"{out}: holds an earlier run's results; writing this run there would mix old evidence "
                         "with new results: give a new folder with -o (or add --force)")
    probe_writable(out, "the run's results")


def check_history(inputs: RunInputs) -> None:
    """The history database (when the run records one) can be written, and an existing one is cmaudit's: it is
    opened and migrated here, so a history the run could not record in stops it before any host."""
    path = inputs.settings.history
    if path is None:
        return
    if os.path.lexists(path):
        if os.path.isfile(path) and not os.access(path, os.W_OK):
            raise UsageError(f"{path}: the history database is read-only; no host was contacted "
                             "(give another --history, or --no-history)")
        if os.path.isfile(path):
            probe_writable(path.parent, "the history database's journal")
        try:
            history.prepare_database(path)
        except history.HistoryError as exc:
            raise UsageError(f"{exc}; no host was contacted (or give --no-history)") from None
    else:
        probe_writable(_existing_ancestor(path.parent), f"the history database {path}")


def check_log_file(inputs: RunInputs) -> None:
    """The --log-file (appended to, its folder created if need be) can be written."""
    path = inputs.settings.log_file
    if path is None:
        return
    if os.path.lexists(path):
        if not os.path.isfile(path) or not os.access(path, os.W_OK):
            raise UsageError(f"{path}: the --log-file is not a file cmaudit may append to; no host was contacted")
        return
    folder = _existing_ancestor(path.parent)
    if not folder.is_dir():
        raise UsageError(f"{path}: cannot create the --log-file: {folder} is not a folder; no host was contacted")
    probe_writable(folder, f"the --log-file {path}")


CHECKS: list[Check] = [check_output_folder, check_history, check_log_file]


def run_checks(inputs: RunInputs, checks: Sequence[Check] | None = None) -> None:
    """Run every check in order; the first problem ends the run as a UsageError (exit 64)."""
    for check in CHECKS if checks is None else checks:
        check(inputs)


def create_run_folder(inputs: RunInputs) -> None:
    """Create the run folder (if new) and leave the marker that says what cmaudit made and wrote there."""
    out = inputs.out_dir
    created = not os.path.lexists(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        start_run(out, inputs.run_id, created=created)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the run folder: {exc.strerror or exc}; no host was contacted"
                         ) from None
