"""The audit name runs are compared by in the history (`--audit`, `audit =`, else the inventory's file name).

It is shown in reports and is a key in the history, so every way a name comes in (the command line, cmaudit.toml,
a results file read back) passes the same check, and the default made from a file name always passes it.
"""

from __future__ import annotations

import re

MAX_AUDIT_NAME = 100
NO_INVENTORY = "(no inventory)"
_DATE_SUFFIX = re.compile(r"[-_. ]*(?:\d{4}-\d{2}-\d{2}|\d{8}(?:T\d{4,6}Z?)?|\d{4}-?[wW]\d{1,2})$")


def check_audit_name(name: str) -> str:
    """A usable audit NAME (stripped); ValueError says why not."""
    text = name.strip()
    if not text or len(text) > MAX_AUDIT_NAME or not text.isprintable():
        raise ValueError(f"must be 1 to {MAX_AUDIT_NAME} printable characters")
    return text


def audit_name_for(inventory_path: str | None) -> str:
    """The default audit name: the inventory file's name without its extension and a trailing date
    (`servers-2026-11-29.csv`, `servers_20261129.csv`, `servers-2026-w48.csv` -> `servers`); characters a name
    may not hold become `?` and a long name is cut, so the default is always a usable name."""
    if not inventory_path:
        return NO_INVENTORY
    stem = re.split(r"[\\/]", inventory_path.strip())[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
    name = _DATE_SUFFIX.sub("", stem) or stem
    name = "".join(c if c.isprintable() else "?" for c in name).strip()[:MAX_AUDIT_NAME].strip()
    return name or NO_INVENTORY
