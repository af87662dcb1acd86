"""Read an advisory file from disk (the advisory package itself does no I/O) and validate it."""

from __future__ import annotations

from pathlib import Path

import scanner.advisory
from scanner.advisory.loader import DEFAULT_ADVISORY, MAX_ADVISORY_BYTES, Advisory, parse_advisory
from scanner.model.errors import AdvisoryFileError

ADVISORY_DIR = Path(scanner.advisory.__file__).resolve().parent / "data"


def builtin_advisories() -> list[Path]:
    """The advisory files shipped with cmaudit."""
    return sorted(ADVISORY_DIR.glob("*.toml"))


def load_advisory(path: Path | None = None) -> Advisory:
    """Load and validate an advisory file (None: the built-in ms-954474); AdvisoryFileError names the file."""
    path = ADVISORY_DIR / f"{DEFAULT_ADVISORY}.toml" if path is None else Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_ADVISORY_BYTES + 1)
    except OSError as exc:
        raise AdvisoryFileError(str(path), None, f"cannot read: {exc.strerror or exc}") from exc
    return parse_advisory(raw, source=str(path), expected_id=path.stem)
