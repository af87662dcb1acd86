"""One host, end to end, in a worker thread: connect, collect, keep evidence, judge.

Judging happens here too (it is a pure function) so a host's raw log bytes are dropped as soon as its
result exists: memory grows with the concurrency, never with the number of hosts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from scanner.advisory.loader import Advisory
from scanner.model.errors import HostError
from scanner.model.records import HostFacts, Judgement
from scanner.model.snapshot import Snapshot
from scanner.scan.evidence import save_log
from scanner.winrm.collect import CollectOptions, collect
from scanner.winrm.faults import translate
from scanner.winrm.session import Aborted, HostSession, SessionOptions

if TYPE_CHECKING:
    from scanner.model.host import Host

Evaluate = Callable[[Snapshot, Advisory], Judgement]
PasswordFor = Callable[["Host"], "str | None"]


@dataclass(frozen=True, slots=True)
class HostOutcome:
    """A collected and judged host (no raw bytes left in it)."""

    facts: HostFacts
    judgement: Judgement


@dataclass(frozen=True, slots=True)
class ScanContext:
    """Everything a host job needs that is the same for the whole run."""

    session: SessionOptions
    collect: CollectOptions
    run_dir: Path
    advisory: Advisory
    evaluate: Evaluate
    password_for: PasswordFor | None = None  # per-host password (inventory's password_env), else session's
    secrets: tuple[str, ...] = field(default=(), repr=False)


class ScanJob:
    """An attempt at one host; `abort()` from the loop thread wakes the worker blocked in the network."""

    def __init__(self, host: Host, deadline: float, context: ScanContext) -> None:
        self.host = host
        self.deadline = deadline
        self.context = context
        self._session: HostSession | None = None
        self._aborted = threading.Event()
        self._lock = threading.Lock()

    @property
    def requests(self) -> int:
        return 0 if self._session is None else self._session.requests

    def abort(self) -> None:
        with self._lock:
            self._aborted.set()
            session = self._session
        if session is not None:
            session.abort()

    def run(self) -> HostOutcome:
        secrets = self.context.secrets
        try:
            return self._run()
        except HostError as exc:
            raise translate(exc, self.host.name, secrets=secrets) from None
        except Exception as exc:  # noqa: BLE001 - translated in the one place that knows how
            if self._aborted.is_set():
                raise Aborted(self.host.name, "aborted") from None
            raise translate(exc, self.host.name, secrets=secrets) from None

    def _run(self) -> HostOutcome:
        options = self.context.session
        if self.context.password_for is not None:
            password = self.context.password_for(self.host)
            if password is not None:
                options = replace(options, password=password)
        session = HostSession(self.host, options, deadline=self.deadline)
        with self._lock:
            self._session = session
            aborted = self._aborted.is_set()
        if aborted:
            session.abort()
        try:
            collected = collect(session, self.context.collect)
        finally:
            session.close()
        try:
            logs = tuple(
                save_log(self.context.run_dir, self.host.stable_name, blob.name, blob.data, truncated=blob.truncated)
                for blob in collected.snapshot.logs
            )
        except OSError as exc:
            # a local disk problem, not the host's: translate() would call an OSError a network error and retry
            raise HostError(self.host.name, f"cannot save the evidence under {self.context.run_dir}: "
                                            f"{exc.strerror or exc}") from None
        facts = replace(collected.facts, logs=logs)
        judgement = self.context.evaluate(collected.snapshot, self.context.advisory)
        return HostOutcome(facts=facts, judgement=judgement)
