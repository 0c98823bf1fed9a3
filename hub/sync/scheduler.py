"""The scheduler: one per deployment, however many hub processes run.

Every process may run :class:`Scheduler`; only the holder of the lease runs jobs. On PostgreSQL the lease
is a row (:class:`Lease`), renewed every third of its term; when its holder stops (killed, cut off from the
database), another process takes it once the term runs out. APScheduler drives both loops (renewing the
lease on its own thread, so a long job never lets it lapse) and its triggers give the fire times. SQLite
admits one writer at a time, so a renewal would wait behind the leader's own long transactions (ingest,
link, publish) and the lease would lapse under it; there the lease is an exclusive lock on a file beside
the database (:class:`hub.file_lock.FileLock`), held while the process lives and released the moment it
dies.

Which fire times have run is in the database, not in memory: each run claims its ``(job, fire time)`` row
(:data:`hub.db.schema.job_runs`, unique), so no fire time runs twice even if two processes briefly both
think they lead. Fire times missed while no scheduler ran (or while a run took longer than the interval)
are **coalesced**: recorded as such, and folded into one run at the newest, since syncing a source twice
in a row brings nothing. A job never run before runs at once, for its newest fire time. A run left
``running`` by a process that died is marked ``abandoned`` when another takes the lease.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, Engine, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from consent.clock import now, utc
from hub.context import Hub
from hub.db.schema import job_runs, scheduler_lease
from hub.errors import ConfigurationError
from hub.file_lock import FileLock
from hub.notify.delivery import DELIVERY_JOB, DELIVERY_SCHEDULE, run_delivery_job
from hub.sync.access import load_access
from hub.sync.jobs import finish_run, job_names, process_name, run_source_job
from hub.sync.schedule import fire_times, latest_fire_time, trigger

LEASE = "scheduler"
ACTOR = "system:scheduler"
#: Missed fire times recorded one by one, at most (after a longer outage, the first ones; the later ones
#: are folded into the run without a row of their own).
MAX_COALESCED_ROWS = 1000
_log = logging.getLogger(__name__)


class Lease:
    """The scheduler lease in the database, held by ``holder`` for ``seconds`` at a time."""

    def __init__(self, engine: Engine, holder: str, seconds: float):
        self.engine, self.holder, self.seconds = engine, holder, seconds

    def hold(self) -> bool:
        """Take the lease if it is free or expired, or renew it; whether this process now holds it."""
        moment = now()
        until = moment + dt.timedelta(seconds=self.seconds)
        t = scheduler_lease
        with self.engine.begin() as conn:
            taken = conn.execute(update(t).where(t.c.name == LEASE, or_(t.c.holder == self.holder,
                                                                        t.c.expires_at < moment))
                                 .values(holder=self.holder, expires_at=until)).rowcount
            if taken:
                return True
            if conn.scalar(select(func.count()).select_from(t).where(t.c.name == LEASE)):
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t).values(name=LEASE, holder=self.holder, expires_at=until))
            return True
        except IntegrityError:  # another process created it first
            return False

    def release(self) -> None:
        t = scheduler_lease
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.name == LEASE, t.c.holder == self.holder)
                         .values(expires_at=now() - dt.timedelta(seconds=1)))


def _insert_ignoring_duplicates(conn: Connection, rows: list[dict]) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(job_runs).on_conflict_do_nothing(), rows)


class Scheduler:
    """Runs each scheduled source's job (sync, link, publish) on its contract's schedule while this
    process holds the lease. ``start`` returns at once; ``stop`` waits for a running job."""

    def __init__(self, hub: Hub, *, lease_seconds: float = 30.0, tick_seconds: float = 1.0):
        self.hub = hub
        self.holder = process_name(f"scheduler-{secrets.token_hex(3)}")
        self.lease_seconds = lease_seconds
        self.lease = Lease(hub.engine, self.holder, lease_seconds) if hub.engine.dialect.name != "sqlite" else \
            FileLock(Path(hub.engine.url.database).with_suffix(".scheduler-lock"))
        self.leading = threading.Event()
        self._tick_seconds = tick_seconds
        self._aps = BackgroundScheduler(
            timezone=dt.UTC,
            executors={"default": ThreadPoolExecutor(1), "lease": ThreadPoolExecutor(1)},
            # A loop that falls behind runs once, late, rather than in a burst.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})

    def jobs(self) -> dict[str, str]:
        """Job name -> schedule, one per source its contract schedules and ``sources.toml`` registers
        (``hub sources add``, after a dry run), and the delivery of partners' webhooks. While
        ``sources.toml`` cannot be read, every scheduled source runs, so each run fails saying why."""
        schedules = self.hub.contracts.schedules()
        try:
            registered = set(load_access(self.hub.settings.resolved_sources_file))
        except ConfigurationError:
            registered = set(schedules)
        sources = sorted((s, when) for s, when in schedules.items() if s in registered)
        return {**{job_names(source)[0]: schedule for source, schedule in sources}, DELIVERY_JOB: DELIVERY_SCHEDULE}

    def start(self) -> None:
        self._aps.add_job(self._keep_lease, "interval", seconds=self.lease_seconds / 3, executor="lease",
                          next_run_time=now(), id="lease")
        self._aps.add_job(self.tick, "interval", seconds=self._tick_seconds, next_run_time=now(), id="tick")
        self._aps.start()

    def stop(self) -> None:
        self._aps.shutdown(wait=True)
        if self.leading.is_set():
            try:
                self.lease.release()
            except SQLAlchemyError:
                pass

    def _keep_lease(self) -> None:
        try:
            held = self.lease.hold()
        except SQLAlchemyError as exc:  # the database is away: lead no more until it is back
            _log.warning("cannot renew the scheduler lease: %s", exc)
            held = False
        if held and not self.leading.is_set():
            self._abandon_runs_of_others()
        (self.leading.set if held else self.leading.clear)()

    def _abandon_runs_of_others(self) -> None:
        with self.hub.engine.begin() as conn:
            conn.execute(update(job_runs).where(job_runs.c.status == "running", job_runs.c.holder != self.holder,
                                                job_runs.c.job.like("sync:%") | (job_runs.c.job == DELIVERY_JOB))
                         .values(status="abandoned", finished_at=now(),
                                 detail="its scheduler stopped during the run"))

    def tick(self) -> None:
        """Run every job that is due, while this process leads (the lease confirmed before each run)."""
        for job, schedule in self.jobs().items():
            if not self.leading.is_set():
                return
            try:
                self._run_if_due(job, schedule)
            except SQLAlchemyError as exc:
                _log.warning("job %s could not be started: %s", job, exc)

    def _run_if_due(self, job: str, schedule: str) -> None:
        trig, moment = trigger(schedule), now()
        with self.hub.engine.connect() as conn:
            last = conn.scalar(select(func.max(job_runs.c.fire_time)).where(job_runs.c.job == job))
        if last is None:
            newest = latest_fire_time(trig, moment)
            if newest:
                self._run(job, newest, [])
            return
        due = []
        for fire_time in fire_times(trig, utc(last), moment):
            due.append(fire_time)
            if len(due) > MAX_COALESCED_ROWS:  # a long outage: run at the newest, list the first missed
                self._run(job, latest_fire_time(trig, moment), due)
                return
        if due:
            self._run(job, due[-1], due[:-1])

    def _run(self, job: str, fire_time: dt.datetime, missed: list[dt.datetime]) -> None:
        if not self.lease.hold():  # lost while an earlier job ran
            self.leading.clear()
            return
        try:
            with self.hub.engine.begin() as conn:
                conn.execute(insert(job_runs).values(job=job, fire_time=fire_time, status="running",
                                                     holder=self.holder, started_at=now()))
                if missed:
                    _insert_ignoring_duplicates(conn, [
                        {"job": job, "fire_time": t, "status": "coalesced", "holder": self.holder, "started_at": now(),
                         "finished_at": now(), "detail": f"missed; folded into the run at {fire_time.isoformat()}"}
                        for t in missed])
        except IntegrityError:  # another scheduler claimed this fire time
            return
        try:
            detail = run_delivery_job(self.hub, actor=ACTOR) if job == DELIVERY_JOB else \
                run_source_job(self.hub, job.removeprefix("sync:"), actor=ACTOR)
            status = "succeeded"
        except Exception as exc:  # noqa: BLE001 - a failed run is recorded, and the scheduler goes on
            detail, status = f"{type(exc).__name__}: {exc}", "failed"
            _log.warning("job %s at %s failed: %s", job, fire_time, detail)
        finish_run(self.hub, job, fire_time, status, detail, actor=ACTOR)
