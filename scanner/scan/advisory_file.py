"""Read an advisory file from disk (the advisory package itself does no I/O) and validate it."""

from __future__ import annotations

from pathlib import Path

import scanner.advisory
from scanner.advisory.loader import DEFAULT_ADVISORY, MAX_ADVISORY_BYTES, Advisory, parse_advisory
from scanner.model.errors import AdvisoryFileError
from scanner.model.toml_text import TomlTextError, read_bounded

ADVISORY_DIR = Path(scanner.advisory.__file__).resolve().parent / "data"


def builtin_advisories() -> list[Path]:
    """The advisory files shipped with cmaudit."""
    return sorted(ADVISORY_DIR.glob("*.toml"))


def load_advisory(path: Path | None = None) -> Advisory:
    """Load and validate an advisory file (None: the built-in ms-954474); AdvisoryFileError names the file."""
    path = ADVISORY_DIR / f"{DEFAULT_ADVISORY}.toml" if path is None else Path(path)
    try:
        raw = read_bounded(path, MAX_ADVISORY_BYTES)
    except TomlTextError as exc:
        raise AdvisoryFileError(str(path), None, str(exc)) from None
    return parse_advisory(raw, source=str(path), expected_id=path.stem)
