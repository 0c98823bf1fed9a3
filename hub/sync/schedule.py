"""A source's schedule, as its contract writes it, and the fire times it gives.

``schedule = "every 6h"`` (also ``s``, ``m``, ``d``; counted from 1970-01-01 UTC, so every process
computes the same times) or a five-field cron line in Thai time (``"0 2 * * *"``: 02:00 every day).
The times come from APScheduler's triggers.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

THAI_TIME = ZoneInfo("Asia/Bangkok")
_EVERY = re.compile(r"^every\s+(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def trigger(schedule: str) -> BaseTrigger:
    """The trigger of ``schedule``; :class:`ValueError` saying what is accepted when it is neither form."""
    text = schedule.strip()
    if match := _EVERY.match(text):
        amount = int(match.group(1))
        if amount < 1:
            raise ValueError("an interval must be at least 1")
        return IntervalTrigger(**{_UNITS[match.group(2)]: amount}, start_date=EPOCH, timezone=dt.UTC)
    try:
        return CronTrigger.from_crontab(text, timezone=THAI_TIME)
    except ValueError as exc:
        raise ValueError(f"schedule {schedule!r}: expected 'every N[s|m|h|d]' or a five-field cron line "
                         f"({exc})") from None


def fire_times(trig: BaseTrigger, after: dt.datetime, until: dt.datetime) -> Iterator[dt.datetime]:
    """The trigger's fire times in (``after``, ``until``], oldest first."""
    previous = None
    moment = trig.get_next_fire_time(None, after + dt.timedelta(microseconds=1))
    while moment is not None and moment <= until:
        yield moment.astimezone(dt.UTC)
        previous = moment
        moment = trig.get_next_fire_time(previous, moment + dt.timedelta(microseconds=1))


#: Windows searched, smallest first, for the newest fire time (so a frequent schedule never enumerates a year).
_LOOKBACKS = tuple(dt.timedelta(**w) for w in ({"minutes": 1}, {"hours": 1}, {"days": 1}, {"days": 32},
                                                 {"days": 400}))


def latest_fire_time(trig: BaseTrigger, until: dt.datetime) -> dt.datetime | None:
    """The newest fire time at or before ``until`` (within 400 days)."""
    for window in _LOOKBACKS:
        if newest := max(fire_times(trig, until - window, until), default=None):
            return newest
    return None
