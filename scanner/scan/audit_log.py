"""`--log-file`: an append-only audit trail of what a scan contacted, when, and what came of it.

One line per event, `UTC-time event key=value ...`, so `grep host=sms01` answers "did we touch it, and
when". Values are single-line and quoted when they hold spaces; control characters from servers are
dropped. Passwords never reach it: they are not in anything logged, and any known secret is masked
once more before a line is written.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from scanner.model.errors import UsageError
from scanner.model.records import HostResult

_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u202a-\u202e]")
MAX_VALUE = 300


def _value(raw: object, secrets: tuple[str, ...]) -> str:
    text = str(raw)
    for secret in secrets:  # first: the cut below would leave the start of a secret straddling it
        text = text.replace(secret, "***")
    text = _UNSAFE.sub(" ", text)[:MAX_VALUE]
    if not text or any(ch in text for ch in ' "='):
        text = '"' + text.replace('"', "'") + '"'
    return text


class AuditLog:
    """Appends events to a log file; a file that cannot be opened is bad usage (checked before the scan)."""

    def __init__(self, path: Path, secrets: tuple[str, ...] = ()) -> None:
        self.path = path
        self._secrets = tuple(s for s in secrets if s)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: TextIO | None = path.open("a", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise UsageError(f"{path}: cannot open the --log-file: {exc.strerror or exc}") from None

    def event(self, name: str, **fields: object) -> None:
        if self._fh is None:
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        parts = [now, name] + [f"{k}={_value(v, self._secrets)}" for k, v in fields.items() if v is not None]
        try:
            self._fh.write(" ".join(parts) + "\n")
            self._fh.flush()
        except OSError:  # a full disk must not stop the scan; the results still get written
            self.close()

    def host_done(self, result: HostResult, auth: str) -> None:
        self.event(
            "host-done", host=result.host, address=f"{result.address}:{result.port}", scheme=result.scheme,
            auth=auth, started=result.started, finished=result.finished, attempts=result.attempts,
            requests=result.requests, verdict=result.verdict.value,
            error=result.error.category.value if result.error else None,
            detail=result.error.message if result.error else None,
        )

    def close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fh.close()
