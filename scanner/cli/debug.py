"""`--debug FILE`: a trace of one run for diagnosing a failure on a real server after the fact.

The trace holds, per host (each line names it): every WS-Management action and its timing, HTTP status
and sizes, WSMan fault codes and texts, retries, the logon method negotiated, the TLS version, the
shell's code page, and the traceback of any internal error. It never holds a secret, an Authorization
header, a token or a log's content: cmaudit's code does not log them, and every record passes
scanner.model.redaction's filter before it is written (the file is created 0600 as well).
Only cmaudit's own loggers and urllib3's connection lines are traced; pypsrp's and pyspnego's debug
output (full SOAP bodies, tokens) never reaches the file.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import ssl
import sys
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path

from scanner import __version__
from scanner.model.errors import UsageError
from scanner.model.redaction import REDACTOR, RedactingFilter

TRACED_LOGGERS = ("scanner", "inventory", "reports", "urllib3.connectionpool")
_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)-5s [%(threadName)s] %(name)s: %(message)s"
_VERSIONS = ("pypsrp", "pyspnego", "requests", "urllib3", "gssapi", "krb5", "cryptography")

log = logging.getLogger(__name__)


def _open_private(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the --debug trace: {exc.strerror or exc}") from None
    return fd


@contextlib.contextmanager
def debug_trace(path: Path | None, argv: Sequence[str] = ()) -> Iterator[None]:
    """Write the trace of everything inside this block to `path` (nothing when path is None)."""
    if path is None:
        yield
        return
    stream = os.fdopen(_open_private(path), "w", encoding="utf-8", errors="replace")
    handler = logging.StreamHandler(stream)
    formatter = logging.Formatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    handler.setLevel(logging.DEBUG)
    saved: list[tuple[logging.Logger, int]] = []
    for name in TRACED_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        log.debug("cmaudit %s, Python %s on %s, %s; %s", __version__, platform.python_version(), sys.platform,
                  ssl.OPENSSL_VERSION, ", ".join(f"{name} {_version(name)}" for name in _VERSIONS))
        log.debug("command line: cmaudit %s", " ".join(argv))
        yield
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
        handler.close()
        stream.close()
        REDACTOR.forget()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """`--debug FILE` for a command; scanner.cli.main wraps the command in debug_trace when it is given."""
    parser.add_argument("--debug", metavar="FILE", type=Path, default=None,
                        help="write a trace of every host (WS-Man actions, HTTP status, faults, timings, retries, "
                             "TLS version, code page; never a secret, a token or log content) to FILE")
