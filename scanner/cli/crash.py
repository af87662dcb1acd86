"""When cmaudit itself fails: one line on the console, the traceback in a file, and an exit status of its own.

A scheduler reads the exit status: 1 means "findings present", so a crash must never end as 1 (or as any
status an audit can end with). It ends as 70, EX_SOFTWARE in BSD's sysexits.h: the program, not the audit
or the user's input, went wrong. The traceback goes to the `--debug` trace when the command has one, else to
a crash file of its own under the user's log folder; the console line names where.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import tempfile
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from scanner import __version__
from scanner.model.redaction import REDACTOR

EXIT_SOFTWARE = 70
MAX_MESSAGE = 200  # the console line shows the error's start; the file holds all of it

log = logging.getLogger(__name__)


def _one_line(exc: BaseException) -> str:
    text = " ".join(REDACTOR.redact(str(exc)).split())
    text = text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def crash_folders() -> list[Path]:
    """Where a crash file may go, first choice first: the user's log folder, then the temp folder."""
    from platformdirs import user_log_dir

    return [Path(user_log_dir("cmaudit", appauthor=False)), Path(tempfile.gettempdir())]


def _crash_text(exc: BaseException, argv: Sequence[str]) -> str:
    lines = [f"cmaudit {__version__}, Python {platform.python_version()} on {sys.platform}",
             f"command line: cmaudit {' '.join(argv)}", ""]
    lines += "".join(traceback.format_exception(exc)).splitlines()
    return "\n".join(REDACTOR.redact(line) for line in lines) + "\n"


def _write_crash_file(exc: BaseException, argv: Sequence[str]) -> tuple[Path | None, str]:
    """The crash file written (created 0600, never through a link), or None and why none could be."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = _crash_text(exc, argv).encode("utf-8", "replace")
    problem = "no folder to write it in"
    for folder in crash_folders():
        path = folder / f"cmaudit-crash-{stamp}-{os.getpid()}.txt"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(text)
            return path, ""
        except OSError as exc_write:
            problem = f"{folder}: {exc_write.strerror or exc_write}"
    return None, problem


def report_crash(exc: BaseException, debug: Path | None, argv: Sequence[str]) -> str:
    """Save the traceback of an unexpected exception and return the one console line that says where."""
    head = f"internal error (a bug in cmaudit, not an audit result): {_one_line(exc)}"
    if debug is not None:
        log.error("internal error", exc_info=exc)  # the --debug trace is open: it gets the traceback
        return f"{head}; the traceback is in {debug}"
    path, problem = _write_crash_file(exc, argv)
    if path is None:
        return f"{head}; the traceback could not be saved ({problem})"
    return f"{head}; the traceback is in {path}"
