"""What collection hands to judgement: facts and raw log bytes, no opinions.

Collection (WinRM, or files given to `cmaudit check`) builds a Snapshot; the advisory engine's
`evaluate(snapshot, advisory)` is a pure function of it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LogBlob:
    """One log file's exact bytes, as collected (no decoding has happened yet)."""

    name: str  # the path on the server, or the file name given to `cmaudit check`
    data: bytes
    truncated: bool = False  # the --max-log-bytes cap was hit; the bytes are the file's *tail*
    size: int | None = None  # how many bytes the file had when it was read (more than len(data) when cut)


@dataclass(frozen=True, slots=True)
class Snapshot:
    build: str | None = None  # `Full Version` from HKLM\...\SMS\Setup, or --full-version
    setup_key_found: bool | None = None  # False: no SMS Setup key; None: not known (`cmaudit check`)
    logs: tuple[LogBlob, ...] = ()  # older first: wsyncmgr.lo_, then wsyncmgr.log
    log_error: str | None = None  # why the log is missing or unreadable, when it is
