"""Registering a source (``hub sources add``): its access and adapter options are checked and its data
dry-run through the adapter and the contracts before anything is written to ``sources.toml``; a failure
writes nothing; the scheduler runs registered sources only; the API dry run talks to the partner over
real HTTP (the MSDHS simulator)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from test_sync_scheduler import scheduled_contracts

from helpers import EEF_2566_2, TPMAP, logbook_simulator
from hub.context import Hub
from hub.db.schema import audit_events, source_records
from hub.demo.population import generate_population
from hub.demo.writers import write_partner_files
from hub.sync.access import SourceAccess, load_access
from hub.sync.registration import RegistrationFailed, register_source
from hub.sync.scheduler import Scheduler
from hub.sync.sources_file import write_source

KEY = "registration-test-key"


def events(hub: Hub, action: str) -> list[dict]:
    with hub.engine.connect() as conn:
        return [json.loads(d) for d in conn.scalars(select(audit_events.c.details).where(
            audit_events.c.action == action).order_by(audit_events.c.seq))]


def test_an_inbox_is_registered_after_its_sample_reads_and_nothing_is_stored(hub, tmp_path):
    inbox = tmp_path / "inbox" / "tpmap"
    run = register_source(hub, "tpmap", SourceAccess(inbox=inbox), sample=TPMAP, actor="test")
    assert run.records > 0 and run.records + sum(run.rejected.values()) == run.items
    assert load_access(hub.settings.resolved_sources_file)["tpmap"].inbox == inbox
    assert inbox.is_dir()
    with hub.engine.connect() as conn:
        assert conn.scalar(select(source_records.c.id).limit(1)) is None  # a dry run stores nothing
    checked, = events(hub, "source.checked")
    assert checked["records"] == run.records and checked["failure"] is None
    registered, = events(hub, "source.registered")
    assert registered["access"] == "inbox" and registered["replaced"] is False


def test_a_sample_of_another_format_registers_nothing_and_says_why(hub, tmp_path):
    with pytest.raises(RegistrationFailed, match="header lacks the columns"):
        register_source(hub, "tpmap", SourceAccess(inbox=tmp_path / "inbox"), sample=EEF_2566_2, actor="test")
    assert not hub.settings.resolved_sources_file.exists()
    checked, = events(hub, "source.checked")
    assert "header lacks" in checked["failure"]
    assert events(hub, "source.registered") == []


def test_unknown_options_and_unknown_adapters_are_refused(hub, tmp_path):
    with pytest.raises(RegistrationFailed, match="tpmap options: encoding: Extra inputs are not permitted"):
        register_source(hub, "tpmap", SourceAccess(inbox=tmp_path / "i", options={"encoding": "cp874"}),
                        sample=TPMAP, actor="test")
    with pytest.raises(RegistrationFailed, match="no installed adapter is named 'dla'"):
        register_source(hub, "dla", SourceAccess(inbox=tmp_path / "i"), sample=None, actor="test")
    assert not hub.settings.resolved_sources_file.exists()


def test_a_registered_source_is_replaced_only_when_asked(hub, tmp_path):
    register_source(hub, "tpmap", SourceAccess(inbox=tmp_path / "a"), sample=TPMAP, actor="test")
    with pytest.raises(RegistrationFailed, match="already registered"):
        register_source(hub, "tpmap", SourceAccess(inbox=tmp_path / "b"), sample=TPMAP, actor="test")
    register_source(hub, "tpmap", SourceAccess(inbox=tmp_path / "b"), sample=TPMAP, actor="test", replace=True)
    assert load_access(hub.settings.resolved_sources_file)["tpmap"].inbox == tmp_path / "b"
    assert [e["replaced"] for e in events(hub, "source.registered")] == [False, True]


def test_writing_a_source_keeps_the_other_tables_and_their_comments(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text('# how we reach our partners\n[eef_students]\ninbox = "inbox/eef"  # EEF uploads here\n\n'
                    '[tpmap]\ninbox = "old"\n[tpmap.options]\nx = 1\n', encoding="utf-8")
    write_source(path, "tpmap", SourceAccess(inbox=tmp_path / "new"), options={})
    text = path.read_text(encoding="utf-8")
    assert text.startswith('# how we reach our partners\n[eef_students]\ninbox = "inbox/eef"  # EEF uploads here\n')
    assert load_access(path)["tpmap"] == SourceAccess(inbox=tmp_path / "new")
    assert "old" not in text and "x = 1" not in text


def test_an_api_is_dry_run_over_http_and_a_wrong_key_registers_nothing(hub, tmp_path):
    key_file, wrong = tmp_path / "msdhs.key", tmp_path / "wrong.key"
    key_file.write_text(KEY + "\n")
    wrong.write_text("not-the-key\n")
    write_partner_files(generate_population(households=200, seed=3), tmp_path / "partner")
    with logbook_simulator([tmp_path / "partner" / "msdhs_logbook" / "logbook_1.ndjson"], api_key=KEY) as partner:
        refused = SourceAccess.model_validate({"api": {"base_url": partner.url, "api_key_file": wrong}})
        with pytest.raises(RegistrationFailed, match="could not read"):
            register_source(hub, "msdhs_logbook", refused, sample=None, actor="test")
        assert not hub.settings.resolved_sources_file.exists()
        access = SourceAccess.model_validate({"api": {"base_url": partner.url, "api_key_file": key_file}})
        run = register_source(hub, "msdhs_logbook", access, sample=None, actor="test")
    assert 0 < run.records <= 20 and run.persons >= run.records
    stored = load_access(hub.settings.resolved_sources_file)["msdhs_logbook"].api
    assert (stored.base_url, stored.api_key_file) == (partner.url, key_file)
    assert KEY not in hub.settings.resolved_sources_file.read_text()  # the key stays in its file


def test_the_scheduler_runs_registered_sources_only(settings, tmp_path):
    scheduled = scheduled_contracts(settings, tmp_path / "contracts", {"tpmap": "every 1h", "eef_students": "every 1h"})
    hub, _ = Hub.init(scheduled)
    try:
        assert set(Scheduler(hub).jobs()) == {"notify:deliver"}
        register_source(hub, "tpmap", SourceAccess(inbox=tmp_path / "inbox"), sample=None, actor="test")
        assert set(Scheduler(hub).jobs()) == {"sync:tpmap", "notify:deliver"}
    finally:
        hub.engine.dispose()
