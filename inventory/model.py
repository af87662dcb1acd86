"""The record every inventory format produces: `Inventory` (one file of `scanner.model.host.Host`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scanner.model.host import Host

FORMATS = ("text", "csv", "ansible-ini", "ansible-yaml")

# Bounds for untrusted inventory files: a typo'd path to a disk image must not eat the jump box.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_LINE_CHARS = 64 * 1024
MAX_HOSTS = 100_000


@dataclass(frozen=True, slots=True)
class Defaults:
    """What a host gets when its inventory entry does not say (set by --port/--scheme/--auth/--tls)."""

    port: int | None = None
    scheme: str = "http"
    auth: str = "ntlm"
    tls: str = "modern"


@dataclass(frozen=True, slots=True)
class Inventory:
    """A parsed inventory file: its hosts (de-duplicated, in file order) and what was odd about it."""

    path: Path
    sha256: str  # of the file's bytes, recorded in the run metadata
    format: str  # one of FORMATS
    hosts: tuple[Host, ...]
    warnings: tuple[str, ...] = ()
