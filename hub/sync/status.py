"""Each source's state for operators: how it is reached and scheduled, its last success and last failure
(and why), its backlog and whether its data is stale.

A source is **stale** when its newest run failed, or when its last success is older than two of its
schedule's intervals (or it never succeeded). Its last good data stays published; views name their stale
sources so that readers know.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import asdict, dataclass
from itertools import islice

from sqlalchemy import Connection, select

from consent.clock import utc
from hub.context import Hub
from hub.db.schema import job_runs, source_cursors
from hub.sync.access import SourceAccess, load_access, reached_by
from hub.sync.inbox import waiting
from hub.sync.jobs import job_names
from hub.sync.schedule import fire_times, trigger


@dataclass(frozen=True)
class SourceStatus:
    source: str
    reached_by: str  # "api <url>", "inbox <dir>" or "not registered"
    schedule: str | None
    last_success: str | None
    last_failure: str | None
    last_failure_reason: str | None
    running_since: str | None
    backlog: str
    stale: bool

    def as_dict(self) -> dict:
        return asdict(self)


def _iso(value) -> str | None:
    return None if value is None else utc(value).isoformat(timespec="seconds")


def interval_of(schedule: str) -> dt.timedelta:
    """The gap between two fire times of ``schedule`` (the next two from now)."""
    moment = dt.datetime.now(dt.UTC)
    upcoming = list(islice(fire_times(trigger(schedule), moment, moment + dt.timedelta(days=400)), 2))
    return upcoming[1] - upcoming[0] if len(upcoming) == 2 else dt.timedelta(days=365)


def source_statuses(hub: Hub, conn: Connection) -> list[SourceStatus]:
    """Every source that is configured, scheduled or registered, by name."""
    access = load_access(hub.settings.resolved_sources_file)
    schedules = hub.contracts.schedules()
    return [_status(conn, source, access.get(source), schedules.get(source))
            for source in sorted(set(hub.adapters) | set(access) | set(schedules))]


def _status(conn: Connection, source: str, access: SourceAccess | None, schedule: str | None) -> SourceStatus:
    runs = select(job_runs).where(job_runs.c.job.in_(job_names(source)))
    success = conn.execute(runs.where(job_runs.c.status == "succeeded")
                           .order_by(job_runs.c.finished_at.desc()).limit(1)).first()
    failure = conn.execute(runs.where(job_runs.c.status == "failed")
                           .order_by(job_runs.c.finished_at.desc()).limit(1)).first()
    running = conn.execute(runs.where(job_runs.c.status == "running")
                           .order_by(job_runs.c.started_at.desc()).limit(1)).first()
    if access is None:
        backlog = "-"
    elif access.api is not None:
        cursor = conn.execute(select(source_cursors).where(source_cursors.c.source == source)).first()
        backlog = (f"a pull stopped after {cursor.pages} page(s); the next resumes there" if cursor and cursor.token
                   else f"changes since {cursor.since}" if cursor and cursor.since else "everything (never pulled)")
    else:
        backlog = f"{len(waiting(access.inbox))} file(s) waiting" if access.inbox.is_dir() else "inbox missing"
    stale = False
    if schedule is not None:
        finished = success.finished_at if success else None
        too_old = finished is None or dt.datetime.now(dt.UTC) - utc(finished) > 2 * interval_of(schedule)
        failed_last = failure is not None and (success is None or utc(failure.finished_at) > utc(finished))
        stale = too_old or failed_last
    return SourceStatus(source, reached_by(access), schedule, _iso(success.finished_at if success else None),
                        _iso(failure.finished_at if failure else None), failure.detail if failure else None,
                        _iso(running.started_at if running else None), backlog, stale)


_STALE_CACHE: dict[tuple[str, str], tuple[float, list[str]]] = {}
_STALE_REFRESH = threading.Lock()
#: Seconds a reading of which sources are stale is reused (views name them on every page they serve).
STALE_CACHE_SECONDS = 5.0


def _stale_key(hub: Hub) -> tuple[str, str]:
    return hub.settings.resolved_database_url, str(hub.settings.resolved_sources_file)


def recent_stale_sources(hub: Hub) -> list[str] | None:
    """What :func:`stale_sources` would answer without reading the database, or ``None`` when it would read
    (for a caller that must not block)."""
    cached = _STALE_CACHE.get(_stale_key(hub))
    return cached[1] if cached and time.monotonic() - cached[0] < STALE_CACHE_SECONDS else None


def stale_sources(hub: Hub) -> list[str]:
    """The sources whose data is stale now (as of at most :data:`STALE_CACHE_SECONDS` ago, or a moment
    more while one caller reads them afresh and the others keep the last reading)."""
    if (recent := recent_stale_sources(hub)) is not None:
        return recent
    key = _stale_key(hub)
    cached = _STALE_CACHE.get(key)
    if not _STALE_REFRESH.acquire(blocking=cached is None):
        return cached[1]
    try:
        with hub.engine.connect() as conn:
            stale = [s.source for s in source_statuses(hub, conn) if s.stale]
        _STALE_CACHE[key] = (time.monotonic(), stale)
        return stale
    finally:
        _STALE_REFRESH.release()
