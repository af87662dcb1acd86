"""Shared pieces of the hardening tests: a scan call with an explicit inventory, and the read-only check."""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.cli.scan_console import ScanOutcome, run_scan
from scanner.scan.settings import ScanSettings


def new_password() -> str:
    """A fresh password per run, shaped so a grep cannot miss it."""
    return "Pw-" + secrets.token_urlsafe(18)


def write_inventory(path: Path, rows: Iterable[Mapping[str, str]]) -> Path:
    """A CSV inventory with every column the rows use (host,port,transport,auth[,password_env])."""
    rows = list(rows)
    fields = ["host", "port", "transport", "auth"]
    fields += sorted({k for row in rows for k in row} - set(fields))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class Scan:
    outcome: ScanOutcome
    stdout: str
    stderr: str

    def by_port(self) -> dict[int, Any]:
        return {h.port: h for h in self.outcome.results.hosts}


def scan(inventory: Path, out: Path, environ: Mapping[str, str], *, on_runner: Callable[[Any], None] | None = None,
         **overrides: Any) -> Scan:
    """Run the code of `cmaudit scan` on `inventory` with short test timeouts; output captured.

    `on_runner` is called once the inventory is read and the runner is built, just before hosts start.
    """
    settings: dict[str, Any] = dict(inventory=inventory, output=out, username="LAB\\auditor", timeout=20.0,
                                    retries=2, concurrency=16, backoff_base=0.05, grace=0.5, connect_timeout=2.0,
                                    operation_timeout=2, quiet=True)
    settings.update(overrides)
    stdout, stderr = io.StringIO(), io.StringIO()
    outcome = run_scan(ScanSettings(**settings), environ=dict(environ), out=stdout, err=stderr,
                       on_runner=on_runner, install_signal_handlers=False)
    return Scan(outcome, stdout.getvalue(), stderr.getvalue())


# -- read-only proof ------------------------------------------------------------------------------------
# The only programs a scan may run, each with the arguments it may take. Anything else - another
# program, a reg sub-command that writes, a redirection to a file, a pipe, a variable expansion - is
# refused. The one redirection allowed is `2>&1` (stderr into the same stream, never a file), and the
# one conditional `|| echo MARKER` (a marker saying the command failed). Inside double quotes cmd takes
# `&` literally, so a quoted argument may hold one (nothing else special).
_ARG = r'(?:"[^"<>|^%!\r\n]*"|[^\s"<>|&^%!]+)'
_ECHO = r"echo [A-Za-z0-9=:_.\-]+"
_CHECKED = rf"(?: 2>&1 \|\| {_ECHO})?"
READ_ONLY_PATTERNS = (
    re.compile(_ECHO),
    re.compile(rf"reg query {_ARG}(?: /(?:v {_ARG}|ve|s))*{_CHECKED}", re.IGNORECASE),
    re.compile(rf"type {_ARG}(?: {_ARG})*{_CHECKED}", re.IGNORECASE),
    re.compile(rf"dir {_ARG}{_CHECKED}", re.IGNORECASE),  # a listing, no switches
)


def split_command(command_line: str) -> list[str]:
    """The `&`-separated parts of a cmd line (a `&` inside double quotes, or in `2>&1`, is not a separator)."""
    parts, current, quoted = [], [], False
    for i, ch in enumerate(command_line):
        if ch == '"':
            quoted = not quoted
        if ch == "&" and not quoted and not (i and command_line[i - 1] == ">"):
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def is_read_only(command_line: str) -> bool:
    """Every part is an allowed read-only program with allowed arguments, and nothing else."""
    if "&&" in command_line or "\n" in command_line or "\r" in command_line:
        return False
    return all(any(p.fullmatch(part) for p in READ_ONLY_PATTERNS) for part in split_command(command_line))
