"""Reading the ISO 8601 UTC times results.json carries, in one place for every report."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_utc(value: str | None) -> datetime | None:
    """An aware datetime, or None for a missing or unreadable time; a time without an offset is UTC,
    as every time cmaudit writes is."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (ValueError, TypeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
