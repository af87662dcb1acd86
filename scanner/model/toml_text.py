"""The one TOML reader for cmaudit's own files (advisories, cmaudit.toml, waivers): bounded, one-line errors.

`parse_toml` is pure (bytes in), so the advisory engine can use it without doing I/O; `read_bounded`
reads at most `limit` + 1 bytes so a path typo pointing at a disk image cannot eat the jump box.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class TomlTextError(ValueError):
    """Why a file is not usable TOML, as one line; the caller names the file (and key)."""


def read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes; TomlTextError when it cannot be read or holds more than `limit` bytes."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise TomlTextError(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise TomlTextError(f"larger than {limit} bytes")
    return raw


def parse_toml(raw: bytes, limit: int) -> dict[str, Any]:
    """The document as a dict; TomlTextError for oversize, non-UTF-8 or invalid TOML (with its line)."""
    if len(raw) > limit:
        raise TomlTextError(f"larger than {limit} bytes")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise TomlTextError("not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise TomlTextError(f"not valid TOML: {exc}") from None
