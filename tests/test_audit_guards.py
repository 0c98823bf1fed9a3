"""The database keeps the audit log append-only: triggers refuse UPDATE and DELETE of audit rows (and
TRUNCATE on PostgreSQL), whoever asks; on PostgreSQL the role the hub runs as gets SELECT and INSERT only
on them (``hub audit grant-app-role``) and cannot drop the triggers."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, delete, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from audit.access import export_checkpoint
from audit.access import verify as verify_hub
from helpers import ACTOR, PG_URL, TPMAP, ingest
from hub.context import Hub
from hub.db.schema import audit_area_reads, audit_checkpoints, audit_events
from hub.settings import Settings
from hub.views.publish import publish
from hub.views.read import read_view

GUARDED = {audit_events: audit_events.c.seq, audit_checkpoints: audit_checkpoints.c.seq,
           audit_area_reads: audit_area_reads.c.seq}


@pytest.fixture
def logged(hub, tmp_path):
    """A hub whose three audit tables all hold rows."""
    ingest(hub, "tpmap", TPMAP)
    publish(hub, actor=ACTOR)
    read_view(hub, "msdhs_households", area=None, actor=ACTOR)
    export_checkpoint(hub, tmp_path / "witness.json", actor=ACTOR)
    return hub


@pytest.mark.parametrize("table", list(GUARDED), ids=lambda t: t.name)
@pytest.mark.parametrize("statement", ["update", "delete"])
def test_audit_rows_cannot_be_changed_or_removed(logged, table, statement):
    change = update(table).values(seq=GUARDED[table] + 1000) if statement == "update" else delete(table)
    with pytest.raises(DBAPIError, match="append-only"):
        with logged.engine.begin() as conn:
            conn.execute(change.where(GUARDED[table] >= 1))
    assert verify_hub(logged).intact
    ingest(logged, "tpmap", TPMAP)  # appending goes on
    assert verify_hub(logged).intact


@pytest.mark.skipif(not PG_URL, reason="TRUNCATE and roles are PostgreSQL's")
def test_audit_tables_cannot_be_truncated(logged):
    with pytest.raises(DBAPIError, match="append-only"):
        with logged.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_events CASCADE"))


@pytest.mark.skipif(not PG_URL, reason="TRUNCATE and roles are PostgreSQL's")
def test_granting_a_role_that_does_not_exist_says_so(logged, cli):
    result = cli("audit", "grant-app-role", f"nobody_{uuid.uuid4().hex[:8]}")
    assert result.exit_code == 1 and "does not exist; create it first (`createuser" in result.stderr


@pytest.mark.skipif(not PG_URL, reason="TRUNCATE and roles are PostgreSQL's")
def test_the_hubs_own_role_may_only_read_and_append_the_log(logged, cli, tmp_path):
    role = f"saphan_app_{uuid.uuid4().hex[:8]}"
    owner = logged.engine
    with owner.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    try:
        assert cli("audit", "grant-app-role", role).exit_code == 0
        as_app = make_url(logged.settings.database_url).set(username=role)
        app_hub = Hub.open(Settings(home=logged.settings.home, database_url=as_app.render_as_string(False)))
        try:
            report = ingest(app_hub, "tpmap", TPMAP)  # the hub works as its own role
            assert report.rows_read > 0 and verify_hub(app_hub).intact
            for sql in ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1", "DELETE FROM audit_events",
                        "DROP TRIGGER audit_events_append_only ON audit_events"):
                with pytest.raises(DBAPIError, match="permission denied|must be owner"):
                    with app_hub.engine.begin() as conn:
                        conn.execute(text(sql))
        finally:
            app_hub.engine.dispose()
    finally:
        with create_engine(PG_URL).begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
