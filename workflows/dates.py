"""Dates as people read them (Babel), in the service's time zone, with UTC beside when asked."""

from __future__ import annotations

from datetime import datetime, UTC
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

UTC_PATTERN = "yyyy-MM-dd HH:mm:ss 'UTC'"


def parse(value: datetime | str | None) -> datetime | None:
    """A timezone-aware datetime from a datetime or an ISO 8601 text (a `Z` suffix too)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local(value: datetime | str | None, pattern: str, language: str, zone: str) -> str:
    """`value` in `zone` with a CLDR `pattern` (e.g. "d MMMM y 'à' H 'h' mm" gives
    `1 décembre 2026 à 14 h 05`); empty for no date."""
    at = parse(value)
    if at is None:
        return ""
    return format_datetime(at, pattern, tzinfo=ZoneInfo(zone), locale=language)


def utc(value: datetime | str | None) -> str:
    """`value` in UTC, to the second: what an auditor compares with the machine records."""
    at = parse(value)
    return "" if at is None else format_datetime(at, UTC_PATTERN, tzinfo=UTC,
                                                 locale="en")
