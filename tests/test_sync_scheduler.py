"""The scheduler: schedules in contracts, the lease, coalescing, two hub processes over a compressed day
(0 duplicate runs, 0 missed runs, a leader killed midway), a failing source that holds back no other and
stays published but stale, and the database dropping its connections mid-run."""
from __future__ import annotations

import datetime as dt
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from audit.access import verify
from consent.clock import utc
from helpers import TPMAP, TPMAP_LATER, contracts_with, hub_env, is_postgres, serve_api, source_contract
from hub.context import Hub
from hub.db.schema import ingest_runs, job_runs, scheduler_lease, view_versions
from hub.errors import ContractViolation
from hub.pipeline.ingest import ingest_file
from hub.sync.jobs import run_source_job, unpublished_changes
from hub.sync.schedule import fire_times, trigger
from hub.sync.scheduler import Lease, Scheduler
from hub.sync.status import source_statuses
from hub.tokens import issue

INTERVAL = 2  # seconds: a compressed day's hour


def scheduled_contracts(settings, directory: Path, schedules: dict[str, str]):
    """``settings`` with the shipped contracts copied to ``directory`` (:func:`helpers.contracts_with`),
    ``schedule`` added to the named sources' terms."""
    settings = contracts_with(settings, directory)
    for path in directory.glob("*.toml"):
        body = path.read_text(encoding="utf-8")
        for source, schedule in schedules.items():
            header = f"[sources.{source}]\n"
            body = body.replace(header, f'{header}schedule = "{schedule}"\n')
        path.write_text(body, encoding="utf-8")
    return settings


def inbox_sources(path: Path, inboxes: dict[str, Path]) -> Path:
    path.write_text("".join(f'[{s}]\ninbox = "{d}"\n' for s, d in inboxes.items()), encoding="utf-8")
    for folder in inboxes.values():
        folder.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def scheduled(settings, tmp_path):
    """A hub whose tpmap and eef_students sources sync every 2 seconds from their inboxes."""
    inboxes = {"tpmap": tmp_path / "inbox" / "tpmap", "eef_students": tmp_path / "inbox" / "eef"}
    updated = scheduled_contracts(settings, tmp_path / "contracts", {s: f"every {INTERVAL}s" for s in inboxes})
    hub, _ = Hub.init(updated.model_copy(update={"sources_file": inbox_sources(tmp_path / "sources.toml", inboxes)}))
    yield hub, inboxes
    hub.engine.dispose()


def runs(hub: Hub, job: str) -> list:
    with hub.engine.connect() as conn:
        return conn.execute(select(job_runs).where(job_runs.c.job == job).order_by(job_runs.c.fire_time)).all()


def test_a_contract_schedule_must_read(tmp_path, settings):
    unreadable = scheduled_contracts(settings, tmp_path / "c", {"tpmap": "now and then"})
    with pytest.raises(ContractViolation, match="every N"):
        Hub.init(unreadable)[0].contracts  # noqa: B018


def test_interval_fire_times_are_the_same_in_every_process():
    moment = dt.datetime(2026, 12, 3, 10, 0, 1, tzinfo=dt.UTC)
    times = list(fire_times(trigger("every 6h"), moment, moment + dt.timedelta(days=1)))
    assert [t.hour for t in times] == [12, 18, 0, 6]
    daily = list(fire_times(trigger("0 2 * * *"), moment, moment + dt.timedelta(days=2)))
    assert [t.isoformat() for t in daily] == ["2026-12-03T19:00:00+00:00", "2026-12-04T19:00:00+00:00"]  # 02:00 ICT


def test_one_lease_holder_at_a_time_and_takeover_after_expiry(hub):
    first, second = Lease(hub.engine, "a", 0.6), Lease(hub.engine, "b", 0.6)
    assert first.hold() and not second.hold() and first.hold()
    time.sleep(0.7)
    assert second.hold() and not first.hold()
    second.release()
    assert first.hold()


def test_missed_fire_times_are_coalesced_into_one_run(scheduled):
    hub, _ = scheduled
    long_ago = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=61 * INTERVAL)
    long_ago -= dt.timedelta(seconds=long_ago.second % INTERVAL)
    with hub.engine.begin() as conn:  # the last run the deployment made, two minutes ago
        conn.execute(insert(job_runs).values(job="sync:tpmap", fire_time=long_ago, status="succeeded", holder="old",
                                             started_at=long_ago, finished_at=long_ago))
        conn.execute(delete(scheduler_lease))
    scheduler = Scheduler(hub, lease_seconds=3)
    scheduler._keep_lease()
    scheduler.tick()
    rows = runs(hub, "sync:tpmap")
    ran = [r for r in rows if r.status == "succeeded" and r.holder == scheduler.holder]
    assert len(ran) == 1 and "nothing to link or publish" in ran[0].detail
    coalesced = [r for r in rows if r.status == "coalesced"]
    assert len(coalesced) >= 60 and all(utc(r.fire_time) < utc(ran[0].fire_time) for r in coalesced)
    gaps = {utc(b.fire_time) - utc(a.fire_time) for a, b in zip(rows, rows[1:])}
    assert gaps == {dt.timedelta(seconds=INTERVAL)}  # every fire time since, once


def start_scheduler(hub: Hub, log: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "hub"), "scheduler", "run", "--lease-seconds", "3",
               "--tick-seconds", "0.25"]
    return subprocess.Popen(command, env=hub_env(hub), stdout=log.open("w"), stderr=subprocess.STDOUT)


def leader(hub: Hub) -> str | None:
    """The process that started the newest run."""
    with hub.engine.connect() as conn:
        return conn.scalar(select(job_runs.c.holder).where(job_runs.c.status != "coalesced")
                           .order_by(job_runs.c.started_at.desc()).limit(1))


def succeeded(hub: Hub, job: str, pid: int | None = None) -> list:
    """``job``'s succeeded runs, or only those the scheduler process ``pid`` ran."""
    return [r for r in runs(hub, job) if r.status == "succeeded" and pid in (None, int(r.holder.split(":")[1]))]


def wait_for(condition, deadline_seconds: float, what: str) -> None:
    """Poll ``condition`` every quarter second; fail naming ``what`` if it is still false at the deadline
    (a slow machine takes longer, a broken scheduler never gets there)."""
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {deadline_seconds}s for {what}"
        time.sleep(0.25)


def test_two_hub_processes_over_a_compressed_day_run_each_fire_time_once(scheduled, tmp_path):
    """Two schedulers on one database for a compressed day (an hour every 2 s); the leader is killed with
    SIGKILL once it has run both jobs, and the other takes over. Every fire time between the first and the
    last run has exactly one row: run, or coalesced into the next run while no scheduler led."""
    hub, inboxes = scheduled
    jobs = ("sync:tpmap", "sync:eef_students")
    shutil.copy(TPMAP, inboxes["tpmap"] / "tpmap_export.csv")  # work for the first run: ingest, link, publish
    first, second = start_scheduler(hub, tmp_path / "a.log"), start_scheduler(hub, tmp_path / "b.log")
    processes = {first.pid: first, second.pid: second}
    try:
        wait_for(lambda: all(len(succeeded(hub, j)) >= 3 for j in jobs), 90, "the first leader to run each job 3 times")
        holder = leader(hub)
        killed = processes[int(holder.split(":")[1])]
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        survivor = next(pid for pid in processes if pid != killed.pid)
        wait_for(lambda: all(len(succeeded(hub, j, survivor)) >= 3 for j in jobs), 90,
                 "the survivor to take over and run each job 3 times")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    for job in jobs:
        rows = runs(hub, job)
        times = [utc(r.fire_time) for r in rows]
        assert len(times) == len(set(times))  # 0 duplicate runs (and the key forbids them)
        expected = list(fire_times(trigger(f"every {INTERVAL}s"), times[0] - dt.timedelta(microseconds=1), times[-1]))
        assert times == expected, job  # 0 missed runs
        assert len(times) >= 6
        assert {r.status for r in rows} <= {"succeeded", "coalesced", "abandoned"}
        assert len({r.holder for r in succeeded(hub, job)}) == 2  # both led, one after the other
    assert not list(inboxes["tpmap"].glob("*.csv")) and len(list((inboxes["tpmap"] / "done").iterdir())) == 1
    assert any("published" in (r.detail or "") for r in runs(hub, "sync:tpmap"))
    assert verify(hub).intact


def test_a_failing_source_holds_back_no_other_and_is_marked_stale(scheduled):
    hub, inboxes = scheduled
    shutil.rmtree(inboxes["eef_students"])
    (inboxes["eef_students"]).write_text("not a directory")  # the EEF inbox is broken
    shutil.copy(TPMAP, inboxes["tpmap"] / "tpmap_export.csv")
    (inboxes["tpmap"] / "broken.csv").write_text("not,a,tpmap,header\n")
    scheduler = Scheduler(hub, lease_seconds=3)
    scheduler._keep_lease()
    scheduler.tick()
    tpmap_run, = [r for r in runs(hub, "sync:tpmap") if r.status != "coalesced"]
    assert tpmap_run.status == "failed" and "broken.csv" in tpmap_run.detail  # the bad file is named...
    assert (inboxes["tpmap"] / "done" / "tpmap_export.csv").exists()  # ...and the good one went in
    assert (inboxes["tpmap"] / "failed" / "broken.csv.reason.txt").exists()
    eef_run, = [r for r in runs(hub, "sync:eef_students") if r.status != "coalesced"]
    assert eef_run.status == "failed" and "not a directory" in eef_run.detail
    with hub.engine.connect() as conn:
        statuses = {s.source: s for s in source_statuses(hub, conn)}
        published = conn.scalar(select(func.count()).select_from(view_versions)
                                .where(view_versions.c.status == "current"))
    assert published  # tpmap's good file was linked and published although its run failed
    assert statuses["tpmap"].stale and "broken.csv" in statuses["tpmap"].last_failure_reason
    assert statuses["eef_students"].stale and statuses["eef_students"].backlog == "inbox missing"
    token = issue(hub, role="partner", subject="msdhs-desk", partner="msdhs", actor="test:pytest")
    with serve_api(hub) as api:  # the last good versions are served, marked with their stale sources
        views = api.get("/views", headers={"Authorization": f"Bearer {token}"}).json()
        rows = api.get(f"/views/{views[0]['name']}/rows", headers={"Authorization": f"Bearer {token}"}).json()
    assert all(v["version_id"] and {"tpmap", "eef_students"} <= set(v["stale_sources"]) for v in views)
    assert {"tpmap", "eef_students"} <= set(rows["stale_sources"])
    time.sleep(INTERVAL)
    scheduler.tick()  # the next run has nothing broken left
    with hub.engine.connect() as conn:
        statuses = {s.source: s for s in source_statuses(hub, conn)}
    assert not statuses["tpmap"].stale and statuses["tpmap"].last_success


def test_the_next_due_job_runs_after_the_database_drops_every_connection(settings, tmp_path):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("dropping a server's connections is PostgreSQL's; SQLite has none")
    url = settings.database_url + "&application_name=saphan_drop_test"
    inbox = tmp_path / "inbox" / "tpmap"
    hub, _ = Hub.init(scheduled_contracts(settings, tmp_path / "contracts", {"tpmap": f"every {INTERVAL}s"})
                      .model_copy(update={"database_url": url,
                                          "sources_file": inbox_sources(tmp_path / "sources.toml", {"tpmap": inbox})}))
    assert is_postgres(hub.engine)
    shutil.copy(TPMAP, inbox / "tpmap_export.csv")
    scheduler = Scheduler(hub, lease_seconds=3, tick_seconds=0.25)
    scheduler.start()
    try:
        deadline = time.monotonic() + 60
        while not any(r.status == "running" for r in runs(hub, "sync:tpmap")) and time.monotonic() < deadline:
            time.sleep(0.05)
        dropped_at = dt.datetime.now(dt.UTC)
        with hub.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'saphan_drop_test' AND pid <> pg_backend_pid()"))
        while time.monotonic() < deadline:
            later = [r for r in runs(hub, "sync:tpmap")
                     if r.status == "succeeded" and utc(r.started_at) > dropped_at]
            if later:
                break
            time.sleep(0.2)
        assert later, "no job ran after the connections were dropped"
    finally:
        scheduler.stop()
        hub.engine.dispose()


def test_a_run_publishes_what_an_earlier_run_stored_but_did_not_publish(scheduled):
    """An earlier run stored a file and then failed (say, publishing was refused): the next run has nothing
    new to sync, yet links and publishes what is waiting."""
    hub, _ = scheduled
    ingest_file(hub, "tpmap", TPMAP, actor="test:pytest")
    assert unpublished_changes(hub)
    outcome = run_source_job(hub, "tpmap", actor="test:pytest")
    assert outcome.startswith("0 file(s)") and "published" in outcome
    assert not unpublished_changes(hub)
    assert "nothing to link or publish" in run_source_job(hub, "tpmap", actor="test:pytest")


def test_a_delivery_that_committed_after_the_last_publish_is_published_though_dated_before(scheduled):
    """A delivery that started before a publish and committed after it is dated before the publish; it is
    still waiting to be linked and published, and the next run does it."""
    hub, _ = scheduled
    ingest_file(hub, "tpmap", TPMAP, actor="test:pytest")
    run_source_job(hub, "tpmap", actor="test:pytest")
    assert not unpublished_changes(hub)
    ingest_file(hub, "tpmap", TPMAP_LATER, actor="test:pytest")
    with hub.engine.begin() as conn:  # as the late commit leaves it: finished before the publish
        published = conn.scalar(select(func.max(view_versions.c.published_at)))
        newest = conn.scalar(select(func.max(ingest_runs.c.id)))
        conn.execute(update(ingest_runs).where(ingest_runs.c.id == newest).values(
            finished_at=published - dt.timedelta(seconds=1)))
    assert unpublished_changes(hub)
    assert "published" in run_source_job(hub, "tpmap", actor="test:pytest")
    assert not unpublished_changes(hub)


def test_contracts_giving_one_source_different_schedules_are_refused(settings, tmp_path):
    directory = tmp_path / "c"
    scheduled = scheduled_contracts(settings, directory, {"tpmap": "every 6h"})
    (directory / "second.toml").write_text(
        source_contract("second", "tpmap", ["tambon_code"]).replace(
            "retention_days = 365 }", 'retention_days = 365, schedule = "every 1h" }'), encoding="utf-8")
    with pytest.raises(ContractViolation, match="source tpmap: contracts give different schedules"):
        Hub.init(scheduled)[0].contracts  # noqa: B018
