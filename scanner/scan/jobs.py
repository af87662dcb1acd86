"""What a process needs to build the host jobs of a run: settled once by the parent, picklable for workers.

The plan step (scanner.scan.plan) settles every credential before any host is contacted (passwords, NTLM
hashes, Kerberos ticket caches, refusals); `RunJobs` carries that to wherever the hosts run: the parent
itself with --workers 1, or each worker process over its pipe (never argv or the environment). Secrets are
repr=False throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scanner.advisory.engine import evaluate
from scanner.advisory.loader import Advisory
from scanner.model.errors import HostError
from scanner.model.records import HostResult
from scanner.scan.host_job import ScanContext, ScanJob
from scanner.winrm.collect import CollectOptions
from scanner.winrm.session import SessionOptions

if TYPE_CHECKING:
    from scanner.model.host import Host
    from scanner.scan.runner import HostJob, JobFactory

HostKey = tuple[str, int]


class FailedJob:
    """A host refused before any network traffic (e.g. Basic over HTTP without --insecure)."""

    requests = 0

    def __init__(self, error: HostError) -> None:
        self.error = error

    def run(self) -> HostResult:
        raise self.error

    def abort(self) -> None:
        pass


@dataclass(frozen=True)
class RunJobs:
    """The run's settled job ingredients; `factory()` builds one job per attempt at a host."""

    session: SessionOptions
    collect: CollectOptions
    run_dir: Path
    advisory: Advisory
    passwords: dict[HostKey, str | None] = field(repr=False)
    credentials: dict[HostKey, object] = field(repr=False)  # pyspnego credentials (NTLM hashes, ticket caches)
    refused: dict[HostKey, HostError] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    host_keys: dict[HostKey, str] = field(default_factory=dict)  # each host's folder name in the run

    def context(self) -> ScanContext:
        return ScanContext(session=self.session, collect=self.collect, run_dir=self.run_dir, advisory=self.advisory,
                           evaluate=evaluate, password_for=lambda host: self.passwords.get(host.key),
                           credential_for=lambda host: self.credentials.get(host.key), secrets=self.secrets,
                           host_keys=self.host_keys)

    def factory(self) -> JobFactory[Host, HostResult]:
        context = self.context()

        def make(host: Host, deadline: float, attempt: int) -> HostJob[HostResult]:
            if host.key in self.refused:
                return FailedJob(self.refused[host.key])
            return ScanJob(host, deadline, context)

        return make
