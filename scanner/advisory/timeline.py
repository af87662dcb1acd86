"""A host's sync logs as one timeline: the rolled-over `.lo_` (older) first, then the `.log`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from scanner.advisory.logs import LogBuffer, LogEntry
from scanner.advisory.stop import NEVER, Stopper
from scanner.model.snapshot import LogBlob


def is_rolled(name: str) -> bool:
    """`wsyncmgr.lo_` is the rolled-over (older) half of `wsyncmgr.log`; so are the gzip copies a scan keeps
    of it (`wsyncmgr.lo_.gz`, and `wsyncmgr.lo.gz` from cmaudit 0.1, which dropped the underscore)."""
    path = PurePath(name.replace("\\", "/"))
    if path.suffix.lower() == ".gz":
        return path.with_suffix("").suffix.lower() in (".lo_", ".lo")
    return path.suffix.lower() == ".lo_"


def older_first(names: Iterable[str]) -> list[str]:
    """Order log file names as they were written: `x.lo_` before `x.log`, whatever order they came in."""
    return sorted(names, key=lambda n: not is_rolled(n))


@dataclass(frozen=True, slots=True)
class Hit:
    """A line found by a bytes search: which file, and where; parsed only if it becomes evidence."""

    file: int  # index into Timeline.files
    start: int
    end: int


class Timeline:
    """Entries of several log files, oldest file first, read lazily."""

    def __init__(self, logs: Sequence[LogBlob], stop: Stopper = NEVER) -> None:
        # Collection hands them older first already; a `.lo_` after its `.log` is put back (stable sort).
        self.blobs = tuple(sorted(logs, key=lambda b: not is_rolled(b.name)))
        self.stop = stop
        self.files = tuple(LogBuffer(b.name, b.data, stop) for b in self.blobs)

    def entries(self) -> Iterator[LogEntry]:
        """Every entry of every file, in timeline order."""
        for f in self.files:
            yield from f.entries()

    def entry(self, hit: Hit) -> LogEntry:
        """The full entry (with its line number) holding a hit."""
        return self.files[hit.file].entry_at(hit.start)

    def first_timed(self) -> LogEntry | None:
        return next((e for f in self.files if (e := f.first_timed()) is not None), None)

    def last_timed(self) -> LogEntry | None:
        return next((e for f in reversed(self.files) if (e := f.last_timed()) is not None), None)

    def index_of(self, entry: LogEntry) -> int:
        """The index of the file an entry is from."""
        return next((i for i, f in enumerate(self.files) if f.name == entry.file), 0)

    def timed_before(self, entry: LogEntry) -> LogEntry | None:
        """The dated entry before `entry` in timeline order (None: it is the first)."""
        index = self.index_of(entry)
        found = self.files[index].last_timed(entry.start)
        return found if found is not None else next(
            (e for f in reversed(self.files[:index]) if (e := f.last_timed()) is not None), None)
