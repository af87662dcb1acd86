"""What collection hands to judgement: facts and raw log bytes, no opinions.

Collection (WinRM, or files given to `cmaudit check`) builds a Snapshot; the advisory engine's
`evaluate(snapshot, advisory)` is a pure function of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scanner.model.records import FileStamp


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
    # Everything below is None (or empty) when it was not read: `cmaudit check` without --registry, say.
    site_type: str | None = None  # Setup\Type as the registry holds it ("1", "2"), raw
    site_database: bool | None = None  # the SMS\SQL Server key that sites with a database have: found or absent
    itmu_installed: bool | None = None  # ITMU's PkgSource (share or folder) or its catalog found on the server
    itmu_folder: str | None = None  # where, when found
    catalog: FileStamp | None = None  # ITMU's wsusscn2.cab as dir listed it (or its date given to `check`)
    program: FileStamp | None = None  # updatewuscatalog.exe: date, size, version (evidence only)
    hotfix: tuple[str, ...] | None = None  # registrations naming the advisory's KB (evidence only, never a verdict)
    taken_at: datetime | None = None  # when the logs were read (UTC): a line dated well after it is no evidence
