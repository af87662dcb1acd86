"""One host, end to end, in a worker thread: connect, collect, keep evidence, judge.

Errors are translated only around the WinRM exchange: a failure while saving evidence is the jump box's
(ERROR/local), a failure while judging is cmaudit's own bug (ERROR/internal, traceback in the debug
log); neither is ever reported as the server's fault nor retried.

Judging happens here too (it is a pure function) so a host's raw log bytes are dropped as soon as its
result exists: memory grows with the concurrency, never with the number of hosts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from scanner.advisory.loader import Advisory
from scanner.advisory.stop import Abandoned
from scanner.model.errors import HostError, HostInternalError, HostLocalError, HostTimeout
from scanner.model.records import HostResult, Judgement
from scanner.model.snapshot import Snapshot
from scanner.scan.evidence import save_log
from scanner.scan.results import judged_result
from scanner.winrm.collect import Collected, CollectOptions, collect
from scanner.winrm.faults import translate
from scanner.winrm.kerberos import ticket_only as kerberos_ticket_only
from scanner.winrm.session import Aborted, HostSession, SessionOptions

if TYPE_CHECKING:
    from scanner.model.host import Host

log = logging.getLogger(__name__)

class Evaluate(Protocol):
    """scanner.advisory.engine.evaluate: judging that gives up (Abandoned) when `should_stop` says so."""

    def __call__(self, snapshot: Snapshot, advisory: Advisory, *,
                 should_stop: Callable[[], bool] | None = None) -> Judgement: ...


PasswordFor = Callable[["Host"], "str | None"]
CredentialFor = Callable[["Host"], object]  # pyspnego credential(s) for a host, or None


@dataclass(frozen=True, slots=True)
class ScanContext:
    """Everything a host job needs that is the same for the whole run."""

    session: SessionOptions
    collect: CollectOptions
    run_dir: Path
    advisory: Advisory
    evaluate: Evaluate
    password_for: PasswordFor | None = None  # per-host password (inventory's password_env), else session's
    credential_for: CredentialFor | None = None  # the run's Kerberos ticket cache for the host's account
    secrets: tuple[str, ...] = field(default=(), repr=False)
    # Host.key -> the host's key in this run (scanner.model.host.run_keys): its evidence folder
    host_keys: Mapping[tuple[str, int], str] = field(default_factory=dict)


def _chain(exc: BaseException) -> str:
    """An exception and its causes, one `Type: text` each (the trace wants the library's own words)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 6:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {' '.join(str(current).split())[:300]}")
        base = getattr(current, "base_error", None)
        current = base if isinstance(base, BaseException) else (current.__cause__ or current.__context__)
    return " <- ".join(parts)


class ScanJob:
    """An attempt at one host; `abort()` from the loop thread wakes the worker blocked in the network."""

    def __init__(self, host: Host, deadline: float, context: ScanContext) -> None:
        self.host = host
        self.deadline = deadline
        self.context = context
        self._session: HostSession | None = None
        self._aborted = threading.Event()
        self._lock = threading.Lock()
        self._on_logon: Callable[[], None] | None = None

    def watch_logon(self, callback: Callable[[], None]) -> None:
        """`callback` runs (in the worker thread) when the session proved its logon (scanner.winrm.session)."""
        self._on_logon = callback

    @property
    def requests(self) -> int:
        return 0 if self._session is None else self._session.requests

    @property
    def password_sent(self) -> bool:
        """The password may have left for the host (or the KDC): the logon gate counts an unanswered one."""
        return self._session is not None and self._session.password_sent

    def abort(self) -> None:
        with self._lock:
            self._aborted.set()
            session = self._session
        if session is not None:
            session.abort()

    def run(self) -> HostResult:
        collected = self._collect()
        try:
            logs = tuple(
                save_log(self.context.run_dir, self.context.host_keys.get(self.host.key, self.host.stable_name),
                         blob.name, blob.data, truncated=blob.truncated)
                for blob in collected.snapshot.logs
            )
        except OSError as exc:
            # a problem of the jump box, not of the host: never translated into a network error, never retried
            raise HostLocalError(self.host.name, f"cannot save the evidence under {self.context.run_dir}: "
                                                 f"{exc.strerror or exc}") from None
        facts = replace(collected.facts, logs=logs)
        try:
            # Judging runs inside the host's deadline: past it (or once aborted) it gives up, so a hostile
            # log cannot keep this worker thread, and with it the process, alive after the host timed out.
            judgement = self.context.evaluate(replace(collected.snapshot, taken_at=datetime.now(UTC)),
                                              self.context.advisory, should_stop=self._past_deadline)
        except Abandoned:
            raise HostTimeout(self.host.name, "judging the logs did not finish within the per-host deadline",
                              retryable=False) from None
        except Exception as exc:  # our own bug: reported as such (logged), never blamed on the server
            log.debug("%s: judging failed", self.host.name, exc_info=True)
            raise HostInternalError(self.host.name, f"internal error while judging: {type(exc).__name__}") from None
        return judged_result(self.host, facts, judgement)  # no raw bytes left in it

    def _past_deadline(self) -> bool:
        return self._aborted.is_set() or time.monotonic() >= self.deadline

    def _collect(self) -> Collected:
        """The WinRM exchange, the only part whose exceptions are translated into the server's errors."""
        secrets = self.context.secrets
        options = self._options()
        ticket_only = kerberos_ticket_only(self.host.auth, options.password)
        # the account actually used: hints about local accounts (UAC) and Basic need it
        target = replace(self.host, username=self.host.username or options.username)
        try:
            return self._exchange(options)
        except HostError as exc:
            raise translate(exc, self.host.name, secrets=secrets, ticket_only=ticket_only, target=target) from None
        except Exception as exc:  # noqa: BLE001 - pypsrp/requests/pyspnego: translated in the one place that knows how
            if self._aborted.is_set():
                raise Aborted(self.host.name, "aborted") from None
            log.debug("%s: WinRM exchange failed: %s", self.host.name, _chain(exc))
            raise translate(exc, self.host.name, secrets=secrets, ticket_only=ticket_only, target=target) from None

    def _options(self) -> SessionOptions:
        options = self.context.session
        if self.context.password_for is not None:
            password = self.context.password_for(self.host)
            if password is not None:
                options = replace(options, password=password)
        if self.context.credential_for is not None:
            credential = self.context.credential_for(self.host)
            if credential is not None:
                options = replace(options, credential=credential)
        if self._on_logon is not None:
            options = replace(options, on_logon=self._on_logon)
        return options

    def _exchange(self, options: SessionOptions) -> Collected:
        session = HostSession(self.host, options, deadline=self.deadline)
        with self._lock:
            self._session = session
            aborted = self._aborted.is_set()
        if aborted:
            session.abort()
        advisory = self.context.advisory  # which KB's registrations, which failure calls for the program's version
        wanted = replace(self.context.collect, kb=advisory.kb, failure_token=advisory.signatures.failure_all_of[0],
                         fix_released=advisory.updated.isoformat())
        try:
            return collect(session, wanted)
        finally:
            session.close()
