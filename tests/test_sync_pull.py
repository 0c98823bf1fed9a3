"""Pulls from the MSDHS logbook API, against the simulator running as its own process over real HTTP:
storms of 429s, 503s, dropped and cut-off connections; Retry-After honoured; resuming after a failure;
asking only for what changed; kill -9 of the hub at random points during a pull."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from audit.access import verify
from helpers import logbook_simulator, logbook_sources_file
from hub.context import Hub
from hub.db.schema import audit_events, ingest_runs, job_runs, source_households, source_records
from hub.demo.population import generate_population
from hub.demo.writers import write_partner_files
from hub.errors import HubError
from hub.sync.partner_http import PartnerRefused
from hub.sync.pull import pull, read_cursor

ACTOR = "test:puller"
KEY = "logbook-test-key"


@pytest.fixture(scope="module")
def logbook_files(tmp_path_factory) -> tuple[Path, Path]:
    """The demo population's logbook as the ministry serves it: a first state and later updates."""
    out = tmp_path_factory.mktemp("partner")
    write_partner_files(generate_population(households=3000, seed=7), out)
    return out / "msdhs_logbook" / "logbook_1.ndjson", out / "msdhs_logbook" / "logbook_2.ndjson"


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "msdhs.key"
    path.write_text(KEY + "\n")
    return path


def pulled_hub(settings, sources_file: Path) -> Hub:
    hub, _ = Hub.init(settings.model_copy(update={"sources_file": sources_file}))
    return hub


def expected_households(items: list[dict]) -> set[str]:
    return {i["logbook_id"] for i in items if not i.get("deleted")}


def stored_households(hub: Hub) -> list[str]:
    """Every live household unit of the logbook, duplicates included."""
    t = source_households
    with hub.engine.connect() as conn:
        return [r.household_ref for r in conn.execute(
            select(t.c.household_ref, t.c.deleted).where(t.c.source == "msdhs_logbook")) if not r.deleted]


def members_in(items: list[dict]) -> int:
    return sum(len(i["members"]) for i in items if not i.get("deleted"))


def pages_stored(hub: Hub) -> int:
    with hub.engine.connect() as conn:
        return read_cursor(conn, "msdhs_logbook").pages


def stored_member_count(hub: Hub) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(source_records)
                           .where(source_records.c.source == "msdhs_logbook"))


def test_a_key_that_begins_with_a_dash_reaches_the_simulator(settings, tmp_path, logbook_files):
    """Random keys (the demo's) begin with "-" one time in 64; the simulator must still take them."""
    key = "-lnEnSLuzGh2ZjFTP9f2TBI6s5BJqiKk"
    key_file = tmp_path / "dash.key"
    key_file.write_text(key + "\n")
    with logbook_simulator([logbook_files[0]], api_key=key) as api:
        sources = logbook_sources_file(tmp_path / "sources.toml", api.url, key_file=key_file, page_size=500)
        hub = pulled_hub(settings, sources)
        pull(hub, "msdhs_logbook", actor=ACTOR)
        served = api.items()
    assert sorted(stored_households(hub)) == sorted(expected_households(served))


def test_a_pull_through_a_storm_stores_every_household_exactly_once(settings, tmp_path, key_file, logbook_files):
    faults = "429=0.15,503=0.1,drop=0.1,cut=0.1"
    with logbook_simulator([logbook_files[0]], api_key=KEY, faults=faults) as sim:
        hub = pulled_hub(settings, logbook_sources_file(tmp_path / "sources.toml", sim.url, key_file=key_file,
                                                        page_size=9))
        report = pull(hub, "msdhs_logbook", actor=ACTOR)
        served = sim.items()
        statuses = [r["status"] for r in sim.requests()]
    stored = stored_households(hub)
    assert len(stored) == len(set(stored)) and set(stored) == expected_households(served)
    assert stored_member_count(hub) == members_in(served)
    assert report.pages > 30 and report.items == len(served)
    for fault in (429, 503, "dropped", "cut"):
        assert statuses.count(fault) > 3, fault  # the storm happened, and was ridden out
    with hub.engine.connect() as conn:
        cursor = read_cursor(conn, "msdhs_logbook")
    newest = max(dt.datetime.fromisoformat(i["updated_at"]).astimezone(dt.UTC) for i in served)
    assert cursor.token is None and cursor.since == newest.isoformat(timespec="microseconds")
    assert verify(hub).intact


def test_retry_after_is_honoured(settings, tmp_path, key_file, logbook_files):
    with logbook_simulator([logbook_files[0]], api_key=KEY, faults="429=0.5", retry_after=1, seed=3) as sim:
        hub = pulled_hub(settings, logbook_sources_file(tmp_path / "sources.toml", sim.url, key_file=key_file,
                                                        page_size=200))
        pull(hub, "msdhs_logbook", actor=ACTOR)
        log = sim.requests()
    waits = [after["at"] - before["at"] for before, after in zip(log, log[1:]) if before["status"] == 429]
    assert waits and min(waits) >= 1.0


def test_a_failed_pull_resumes_after_the_last_page_it_stored(settings, tmp_path, key_file, logbook_files):
    with logbook_simulator([logbook_files[0]], api_key=KEY) as sim:
        sources = logbook_sources_file(tmp_path / "sources.toml", sim.url, key_file=key_file, page_size=25)
        hub = pulled_hub(settings, sources)
        stopped_after = []

        def outage_after_three_pages(report):
            if report.pages == 3:
                sim.faults({"503": 1.0})  # the ministry goes down
                stopped_after.append(report.pages)

        with pytest.raises(HubError, match="no usable answer"):
            pull(hub, "msdhs_logbook", actor=ACTOR, on_page=outage_after_three_pages)
        assert len(set(stored_households(hub))) == 3 * 25
        sim.faults({"503": 0.0})
        resumed = pull(hub, "msdhs_logbook", actor=ACTOR)
        served = sim.items()
        tokens = [r["query"].get("page_token") for r in sim.requests() if r["status"] == 200]
    assert resumed.resumed and resumed.pages == -(-len(served) // 25) - 3
    assert tokens.count(None) == 1  # the walk started once; the resumed pull went on from page 4
    stored = stored_households(hub)
    assert len(stored) == len(set(stored)) and set(stored) == expected_households(served)


def test_an_api_that_repeats_a_page_token_fails_the_pull_and_keeps_the_pages_before(settings, tmp_path, key_file,
                                                                                     logbook_files):
    """A paging bug would loop for ever: the pull stops with the reason, the pages before it stay stored,
    and once the API is mended the next pull goes on from there."""
    with logbook_simulator([logbook_files[0]], api_key=KEY) as sim:
        hub = pulled_hub(settings, logbook_sources_file(tmp_path / "sources.toml", sim.url, key_file=key_file,
                                                        page_size=25))
        sim.faults({"stuck": 1.0})
        with pytest.raises(HubError, match="same page token twice"):
            pull(hub, "msdhs_logbook", actor=ACTOR)
        assert pages_stored(hub) == 1 and len(set(stored_households(hub))) == 25
        with hub.engine.connect() as conn:
            action, details = conn.execute(select(audit_events.c.action, audit_events.c.details)
                                           .order_by(audit_events.c.seq.desc()).limit(1)).one()
        assert action == "pull.failed" and "same page token twice" in json.loads(details)["reason"]
        sim.faults({"stuck": 0.0})
        resumed = pull(hub, "msdhs_logbook", actor=ACTOR)
        served = sim.items()
    assert resumed.resumed
    stored = stored_households(hub)
    assert len(stored) == len(set(stored)) and set(stored) == expected_households(served)


def test_the_next_pull_asks_only_for_what_changed(settings, tmp_path, key_file, logbook_files):
    first, later = logbook_files
    with logbook_simulator([first], api_key=KEY) as sim:
        hub = pulled_hub(settings, logbook_sources_file(tmp_path / "sources.toml", sim.url, key_file=key_file,
                                                        page_size=100))
        pull(hub, "msdhs_logbook", actor=ACTOR)
        with hub.engine.connect() as conn:
            since = read_cursor(conn, "msdhs_logbook").since
        updates = [line for line in later.read_text(encoding="utf-8").splitlines() if line.strip()]
        sim.upsert([json.loads(u) for u in updates])
        again = pull(hub, "msdhs_logbook", actor=ACTOR)
        asked = [r["query"].get("updated_since") for r in sim.requests()]
        served = sim.items()
    assert asked[-1] == since
    assert again.items <= len(updates) + 5  # the updates (and the newest items again: since is inclusive)
    assert again.updated + again.deleted > 0
    stored = stored_households(hub)
    assert len(stored) == len(set(stored)) and set(stored) == expected_households(served)


def test_a_wrong_key_is_refused_at_once(settings, tmp_path, logbook_files):
    wrong = tmp_path / "wrong.key"
    wrong.write_text("not-the-key")
    with logbook_simulator([logbook_files[0]], api_key=KEY) as sim:
        hub = pulled_hub(settings, logbook_sources_file(tmp_path / "sources.toml", sim.url, key_file=wrong,
                                                        page_size=50))
        with pytest.raises(PartnerRefused, match="refused the API key"):
            pull(hub, "msdhs_logbook", actor=ACTOR)
        assert len(sim.requests()) == 1


def test_kill_9_during_pulls_loses_and_duplicates_nothing(settings, tmp_path, key_file, logbook_files):
    """20 times: ``hub sync`` killed with SIGKILL at a random moment of a pull; then a pull to the end."""
    rng = random.Random(20261203)
    with logbook_simulator([logbook_files[0]], api_key=KEY, faults="429=0.05,503=0.05,drop=0.05") as sim:
        sources = logbook_sources_file(tmp_path / "sources.toml", sim.url, key_file=key_file, page_size=4)
        hub = pulled_hub(settings, sources)
        env = {**os.environ, "HUB_SOURCES_FILE": str(sources), "HUB_HOME": str(settings.home),
               "HUB_DATABASE_URL": hub.settings.resolved_database_url}
        command = [str(Path(sys.executable).parent / "hub"), "sync", "msdhs_logbook", "--only-sync"]
        kills, stopped_at = 0, set()
        while kills < 20:
            before = pages_stored(hub)
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while pages_stored(hub) == before and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)  # until the pull is under way, however slow the machine
            time.sleep(rng.uniform(0, 0.5))
            if process.poll() is not None:  # finished before the kill: start another walk next time
                sim.upsert([dict(i, updated_at=dt.datetime.now(dt.UTC).isoformat()) for i in
                            rng.sample(sim.items(), 30)])
                continue
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            stopped_at.add(pages_stored(hub))
        assert len(stopped_at) >= 10  # the kills landed at many points of the walks
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert final.returncode == 0, final.stdout + final.stderr
        served = sim.items()
    stored = stored_households(hub)
    assert len(stored) == len(set(stored)) and set(stored) == expected_households(served)
    assert stored_member_count(hub) == members_in(served)
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ingest_runs).where(ingest_runs.c.status == "completed"))
        statuses = list(conn.scalars(select(job_runs.c.status).where(job_runs.c.job == "manual:msdhs_logbook")))
    # The killed runs are found out (a kill can also catch a run that had just finished: succeeded).
    assert set(statuses) == {"abandoned", "succeeded"} and statuses.count("abandoned") >= kills - 3
    assert verify(hub).intact
