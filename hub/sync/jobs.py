"""What a scheduled run of a source does: sync it (pull its API or take its inbox), then, when that stored
anything, link and publish. Every source is its own job, so one failing holds back no other."""
from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from consent.clock import utc
from hub.context import Hub
from hub.db.schema import ingest_runs, job_runs, view_versions
from hub.errors import ConfigurationError
from hub.linking.run import last_completed_run, link
from hub.sync.access import load_access
from hub.sync.events import JobRunFailed
from hub.sync.inbox import InboxReport, sync_inbox
from hub.sync.pull import pull
from hub.views.publish import publish


@dataclass(frozen=True)
class SyncResult:
    source: str
    changed: int  # records inserted, updated or deleted
    summary: str
    inbox: InboxReport | None = None  # an inbox's files, those that failed included


def sync_source(hub: Hub, source: str, *, actor: str) -> SyncResult:
    """Pull ``source`` from its API, or ingest what waits in its inbox, as ``sources.toml`` says."""
    access = load_access(hub.settings.resolved_sources_file).get(source)
    if access is None:
        raise ConfigurationError(f"{source} is not in {hub.settings.resolved_sources_file}: say how to reach it "
                                 f"(its API or its inbox)")
    if access.api is not None:
        report = pull(hub, source, actor=actor)
        changed = report.inserted + report.updated + report.deleted
        return SyncResult(source, changed, f"{report.pages} page(s), {report.items} item(s): {report.inserted} new, "
                                           f"{report.updated} updated, {report.deleted} deleted, "
                                           f"{report.quarantined} quarantined")
    done = sync_inbox(hub, source, actor=actor)
    changed = sum(r.inserted + r.updated + r.deleted for r in done.ingested)
    return SyncResult(source, changed, f"{len(done.ingested)} file(s), {changed} record(s) changed", done)


def unpublished_changes(hub: Hub) -> bool:
    """Whether some ingest changed records that no link run has taken yet, or the newest link run is newer
    than the newest publish (a run that failed to link or publish leaves them so: the next run finishes the
    job). Ingests are told by commit order (``ingest_runs.committed``), not by time: one that committed
    after a publish may be dated before it."""
    changed = ingest_runs.c.inserted + ingest_runs.c.updated + ingest_runs.c.deleted > 0
    with hub.engine.connect() as conn:
        newest_change = conn.scalar(select(func.max(ingest_runs.c.committed)).where(changed))
        linked = last_completed_run(conn)
        published = conn.scalar(select(func.max(view_versions.c.published_at)))
    if newest_change is not None and (linked is None or newest_change > linked.ingest_watermark):
        return True
    return linked is not None and (published is None or utc(linked.finished_at) > utc(published))


def run_source_job(hub: Hub, source: str, *, actor: str) -> str:
    """Sync ``source``; link and publish when it, or an earlier sync whose run failed before publishing,
    changed records. What happened, in a line. Inbox files that could not be read fail the run
    (:class:`~hub.sync.inbox.InboxFilesFailed`), after the others are linked and published."""
    result = sync_source(hub, source, actor=actor)
    if not (result.changed or unpublished_changes(hub)):
        outcome = f"{result.summary}; nothing to link or publish"
    else:
        linked = link(hub, actor=actor)
        published = publish(hub, actor=actor)
        outcome = (f"{result.summary}; linked {linked.records_in_play} record(s) into {linked.persons} person(s); "
                   f"published {sum(1 for p in published if not p.unchanged)} view(s)")
    if result.inbox:
        result.inbox.raise_failures()
    return outcome


def job_names(source: str) -> tuple[str, str]:
    """The scheduled job of ``source`` and its runs asked for by hand (``hub sync``)."""
    return f"sync:{source}", f"manual:{source}"


def finish_run(hub: Hub, job: str, fire_time: dt.datetime, status: str, detail: str, *, actor: str) -> None:
    """Record how the run of ``job`` at ``fire_time`` ended; a failure is audited."""
    with hub.engine.begin() as conn:
        conn.execute(update(job_runs).where(job_runs.c.job == job, job_runs.c.fire_time == fire_time)
                     .values(status=status, finished_at=dt.datetime.now(dt.UTC), detail=detail[:4000]))
        if status == "failed":
            hub.audit.append(conn, JobRunFailed(resource=job, job=job, fire_time=fire_time.isoformat(),
                                                reason=detail[:1000]), actor=actor)


def run_by_hand(hub: Hub, source: str, *, actor: str, link_and_publish: bool = True) -> str:
    """What ``hub sync`` does: the source's job (or its sync alone), recorded as a run of
    ``manual:SOURCE``. Raises what the job raised, after recording the failure."""
    job, started = job_names(source)[1], dt.datetime.now(dt.UTC)
    with hub.engine.begin() as conn:
        _abandon_runs_of_dead_processes(conn, job)
        conn.execute(insert(job_runs).values(job=job, fire_time=started, status="running", holder=process_name(actor),
                                             started_at=started))
    try:
        detail = run_source_job(hub, source, actor=actor) if link_and_publish else \
            sync_source(hub, source, actor=actor).summary
    except Exception as exc:
        finish_run(hub, job, started, "failed", f"{type(exc).__name__}: {exc}", actor=actor)
        raise
    finish_run(hub, job, started, "succeeded", detail, actor=actor)
    return detail


def process_name(label: str) -> str:
    """``host:pid:label``, naming the process that runs something."""
    return f"{socket.gethostname()}:{os.getpid()}:{label}"


def _abandon_runs_of_dead_processes(conn: Connection, job: str) -> None:
    """Mark ``abandoned`` the runs of ``job`` left ``running`` by processes of this host that are gone
    (a ``hub sync`` killed or crashed)."""
    host = socket.gethostname()
    rows = conn.execute(select(job_runs.c.id, job_runs.c.holder).where(job_runs.c.job == job,
                                                                      job_runs.c.status == "running")).all()
    gone = [r.id for r in rows if _dead_here(r.holder, host)]
    if gone:
        conn.execute(update(job_runs).where(job_runs.c.id.in_(gone)).values(
            status="abandoned", finished_at=dt.datetime.now(dt.UTC), detail="its process stopped during the run"))


def _dead_here(holder: str, host: str) -> bool:
    name, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if name != host or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
