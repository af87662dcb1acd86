"""Reading a results.json back: bounded, and every problem one line naming the file.

`cmaudit report`, `cmaudit diff` and `--rescan-failed` read runs written earlier; a file may come from
another machine or be damaged, so it is size-capped before it is parsed.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from scanner.model.records import ResultsFormatError, RunResults, results_from_dict

MAX_RESULTS_BYTES = 256 << 20  # far above a 5,000-host results.json (bench/RESULTS.md, reports): room for 100,000
MAX_INT_DIGITS = 40  # ports, counts, fault codes and byte sizes: far below Python's own 4,300-digit limit


class ResultsFileError(ResultsFormatError):
    """A results file that cannot be read or merged; str() is one line naming the file."""


def _read_capped(path: str | os.PathLike[str], name: str) -> bytes:
    """The file's bytes, refusing devices and anything over MAX_RESULTS_BYTES before reading it all."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISDIR(st.st_mode):
                raise ResultsFileError(f"{name}: not a regular file (a device or folder); not a results file")
            if stat.S_ISREG(st.st_mode) and st.st_size > MAX_RESULTS_BYTES:
                raise ResultsFileError(f"{name}: larger than {MAX_RESULTS_BYTES:,} bytes; not a results file")
            chunks: list[bytes] = []
            total = 0
            while chunk := fh.read(1 << 20):  # a pipe's size is unknown: read it a bounded piece at a time
                total += len(chunk)
                if total > MAX_RESULTS_BYTES:
                    raise ResultsFileError(f"{name}: larger than {MAX_RESULTS_BYTES:,} bytes; not a results file")
                chunks.append(chunk)
    except OSError as exc:
        raise ResultsFileError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    return b"".join(chunks)


def load_results(path: str | os.PathLike[str]) -> RunResults:
    """Read one results.json; any problem is a ResultsFileError naming the file."""
    name = os.fspath(path)
    raw = _read_capped(path, name)

    def bounded_int(text: str) -> int:  # read with its own bound before Python's (a ValueError naming a setting)
        if len(text.lstrip("-")) > MAX_INT_DIGITS:
            raise ResultsFileError(f"{name}: a number of {len(text.lstrip('-')):,} digits; not a results file")
        return int(text)

    try:
        doc = json.loads(raw.decode("utf-8-sig"), parse_int=bounded_int)
    except UnicodeDecodeError as exc:
        raise ResultsFileError(f"{name}: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except RecursionError as exc:
        raise ResultsFileError(f"{name}: JSON nested too deeply") from exc
    try:
        return results_from_dict(doc)
    except ResultsFormatError as exc:
        raise ResultsFileError(f"{name}: {exc}") from exc
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a field of the wrong JSON type
        raise ResultsFileError(f"{name}: malformed results file: {type(exc).__name__}: {exc}") from exc


MAX_SHOWN_PATH = 200


def recorded_file(text: str) -> Path | None:
    """A file path a results file recorded, when it names a regular file here; None for anything else (gone, or a
    name no file system takes: too long, a NUL), never an OSError."""
    try:
        path = Path(text)
        return path if path.is_file() else None
    except (OSError, ValueError):
        return None


def shown_path(text: str) -> str:
    """A recorded path for a one-line message: whole when short, else its start and its length."""
    return text if len(text) <= MAX_SHOWN_PATH else f"{text[:MAX_SHOWN_PATH]}... ({len(text):,} characters)"
