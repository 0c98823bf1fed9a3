"""The ``hub`` command line as an operator meets it: init, sources, commands before init."""
from __future__ import annotations

from sqlalchemy import select

from helpers import TPMAP, squash
from hub.context import Hub
from hub.db.schema import audit_events


def test_hub_init_creates_keys_and_schema(settings, cli):
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert "(created)" in result.stdout
    assert "eef_students, msdhs_logbook, tpmap, university_survey" in result.stdout
    keys = sorted(p.name for p in settings.resolved_keys_dir.iterdir())
    assert keys[0] == "audit-witness.json" and keys[1].startswith("kek-") and keys[2:] == ["keyring.json"]


def test_hub_init_twice_is_safe_and_keeps_the_existing_keys(settings, cli):
    assert cli("init").exit_code == 0
    keys_dir = settings.resolved_keys_dir
    before = {p.name: p.read_bytes() for p in keys_dir.iterdir()}
    assert cli("ingest", "tpmap", TPMAP).exit_code == 0
    again = cli("init")
    assert again.exit_code == 0, again.output
    assert "(existing)" in again.stdout and "(created)" not in again.stdout
    assert {p.name: p.read_bytes() for p in keys_dir.iterdir()} == before
    hub = Hub.open(settings)
    try:
        with hub.engine.connect() as conn:
            actions = list(conn.scalars(select(audit_events.c.action)))
        assert actions.count("keys.created") == 1
        assert cli("ingest", "tpmap", TPMAP).exit_code == 0  # the data written under the first init still reads
    finally:
        hub.engine.dispose()


def test_commands_before_init_point_at_hub_init(settings, cli):
    for args in (("ingest", "tpmap", TPMAP), ("quarantine", "list"), ("audit", "verify"), ("keys", "rotate"),
                 ("sources",)):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert "hubinit" in squash(result.stderr), args


def test_sources_lists_the_four_partner_systems(hub, cli):
    result = cli("sources")
    assert result.exit_code == 0
    for name in ("tpmap", "msdhs_logbook", "eef_students", "university_survey"):
        assert name in result.stdout
    assert "tpmap_person_id" in result.stdout


def test_ingest_without_files_is_a_usage_error(hub, cli):
    result = cli("ingest", "tpmap")
    assert result.exit_code == 2


def test_hub_init_creates_exactly_the_declared_schema(hub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hub.db.schema import metadata

    with hub.engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert drift == []


def test_export_links_to_a_missing_directory_fails_cleanly(hub, cli, tmp_path):
    result = cli("export", "links", "--out", tmp_path / "no-such-dir" / "links.csv")
    assert result.exit_code == 1
    assert "no-such-dir" in squash(result.stderr)
