"""The contract between the WinRM front end (server.py) and the virtual Windows host behind it.

The server knows WS-Management; the machine knows Windows. A command line arrives exactly as the
client sent it in `<rsp:Command>`/`<rsp:Arguments>` and the machine answers as cmd.exe would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommandResult:
    stdout: bytes
    stderr: bytes
    exit_code: int


class Machine(Protocol):
    """A virtual Windows host: registry, file system and a cmd.exe that reads them."""

    hostname: str

    def run(self, command_line: str, codepage: int = 437) -> CommandResult:
        """Run one cmd.exe command line (`&`/`&&` chaining allowed) and return its output bytes."""
        ...
