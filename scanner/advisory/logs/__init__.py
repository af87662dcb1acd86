"""Reading ConfigMgr logs: encodings, server-format and CMTrace lines, entries with line numbers."""

from __future__ import annotations

from scanner.advisory.logs.buffer import LogBuffer, parse_log
from scanner.advisory.logs.entry import LogEntry, iso_utc

__all__ = ["LogBuffer", "LogEntry", "iso_utc", "parse_log"]
