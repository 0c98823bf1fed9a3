"""Times as the consent registry uses them: aware UTC datetimes, also when a database returns them naive
(SQLite) or in its session's zone (PostgreSQL)."""
from __future__ import annotations

import datetime as dt

from hub.errors import HubError

THAI = dt.timezone(dt.timedelta(hours=7), "ICT")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def parse_day(text: str, *, field: str) -> dt.datetime:
    """``YYYY-MM-DD`` (Christian era, or Buddhist era when the year is 2400 or later) as midnight UTC+7,
    the start of that day in Thailand."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise HubError(f"{field}: expected a date YYYY-MM-DD") from None
    if day.year >= 2400:
        day = day.replace(year=day.year - 543)
    return dt.datetime.combine(day, dt.time(), tzinfo=THAI).astimezone(dt.UTC)


def thai_day(value: dt.datetime) -> str:
    """The calendar day in Thailand of an instant, ``YYYY-MM-DD``."""
    return utc(value).astimezone(THAI).date().isoformat()
