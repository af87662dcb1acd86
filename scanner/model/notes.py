"""A line for the admin from a layer below the CLI: returned, never printed there (only `scanner.cli` prints)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Note:
    """One line the CLI shows on stderr as `cmaudit: <text>`."""

    text: str
    problem: bool = True  # something failed or needs the admin: shown under --quiet too
