"""A worker process that wedges itself, for the --workers hung-worker tests (imported by spawned workers too).

`WedgingJobs` stands where a run's RunJobs goes: hosts named `wedge*` freeze their whole worker process inside a C
call that holds the GIL (no thread of it runs again, its pipe goes silent), as a worker stuck in C code or stopped
by SIGSTOP would; hosts named `slow*` take SLOW_SECONDS of work; every other host is judged at once. Works the same
on Windows and POSIX.
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass, field
from typing import Any

from scanner.model.host import Host

WEDGE_SECONDS = 3600
SLOW_SECONDS = 2.0


def wedge_this_process() -> None:
    """Sleep in C with the GIL held: every thread of this process stops until it is killed."""
    if os.name == "nt":
        ctypes.PyDLL("kernel32").Sleep(WEDGE_SECONDS * 1000)
    else:
        ctypes.PyDLL(None).sleep(WEDGE_SECONDS)


class _Job:
    requests = 0

    def __init__(self, host: Host) -> None:
        self.host = host

    def run(self) -> str:
        if self.host.name.startswith("wedge"):
            wedge_this_process()
        if self.host.name.startswith("slow"):
            time.sleep(SLOW_SECONDS)  # work that takes time, on the job's own thread
        return f"{self.host.name}-ok"

    def abort(self) -> None:
        pass


@dataclass(frozen=True)
class WedgingJobs:
    """What WorkerPool needs of a RunJobs: the jobs and the secrets (none)."""

    secrets: tuple[str, ...] = field(default=())

    def factory(self) -> Any:
        return lambda host, deadline, attempt: _Job(host)


def hosts(*names: str) -> list[Host]:
    return [Host(name=name, address="127.0.0.1", port=5985 + i, scheme="http", auth="ntlm")
            for i, name in enumerate(names)]
