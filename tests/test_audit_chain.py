"""The audit log: typed events on a SHA-256 hash chain, and tamper detection."""
from __future__ import annotations

import dataclasses
import json
from typing import ClassVar

import pytest
from sqlalchemy import delete, func, select, update

from audit.access import verify as verify_hub
from audit.chain import GENESIS, HASHED, canonical, chain_hash
from audit.events import EventType, KeysCreated
from audit.verify import Problem
from helpers import EEF_2566_2, EEF_2567_1, TPMAP, file_sha256_hex, ingest, squash, tampering
from hub.db.schema import audit_events, audit_head
from hub.errors import AuditWriteError


def events(hub):
    with hub.engine.connect() as conn:
        return conn.execute(select(audit_events).order_by(audit_events.c.seq)).all()


def verify(hub) -> Problem | None:
    return verify_hub(hub).problem




@pytest.fixture
def busy_hub(hub, cli, tmp_path):
    """A hub whose log has init, ingests, quarantines, a failed ingest, a quarantine read and a rotation."""
    ingest(hub, "tpmap", TPMAP)
    ingest(hub, "eef_students", EEF_2566_2)
    assert cli("ingest", "tpmap", tmp_path / "missing.csv").exit_code == 1
    assert cli("quarantine", "show", 1, "--reason", "audit test").exit_code == 0
    assert cli("keys", "rotate").exit_code == 0
    return hub


def test_init_ingest_quarantine_and_rotation_are_audited(busy_hub):
    log = events(busy_hub)
    assert [e.action for e in log] == [
        "keys.created",
        *["contract.loaded"] * 7,  # the first ingest records the contract versions it acts under
        "ingest.completed", "ingest.quarantined",
        "ingest.completed", "ingest.quarantined",
        "ingest.failed", "quarantine.read", "keys.rotated"]
    assert [e.seq for e in log] == list(range(1, 16))
    assert log[0].actor == "system:hub" and log[8].actor == "test:pytest" and log[12].actor.startswith("cli:")
    completed = json.loads(log[8].details)
    assert completed["file_sha256"] == file_sha256_hex(TPMAP)
    assert {k: completed[k] for k in ("rows_read", "inserted", "quarantined")} == \
        {"rows_read": 11, "inserted": 8, "quarantined": 2}
    assert log[8].resource == "file:tpmap_2566_export.csv"
    quarantined = json.loads(log[9].details)
    assert [r["line"] for r in quarantined["rows"]] == [7, 9]
    assert "missing.csv" in json.loads(log[12].details)["reason"]


def test_each_event_links_to_the_one_before(busy_hub):
    log = events(busy_hub)
    assert log[0].prev_hash == GENESIS
    for before, after in zip(log, log[1:]):
        assert after.prev_hash == before.hash
    for e in log:
        assert e.hash == chain_hash(e.prev_hash, canonical([getattr(e, c) for c in HASHED], e.format))
    with busy_hub.engine.connect() as conn:
        head = conn.execute(select(audit_head)).one()
    assert (head.seq, head.hash) == (log[-1].seq, log[-1].hash)


def test_an_intact_chain_verifies(busy_hub, cli):
    assert verify(busy_hub) is None
    result = cli("audit", "verify")
    assert result.exit_code == 0
    assert "audit log intact" in result.stdout


def test_editing_an_events_details_is_detected_at_its_seq(busy_hub, cli):
    with tampering(busy_hub) as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 4)
                     .values(details=json.dumps({"rows_read": 0})))
    problem = verify(busy_hub)
    assert problem == Problem(4, "its content does not match its hash (edited)")
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert squash("audit log broken at event 4") in squash(result.stderr)


@pytest.mark.parametrize("column,value", [("actor", "cli:mallory"), ("occurred_at", "2020-01-01T00:00:00+00:00"),
                                          ("resource", "file:other.csv"), ("action", "keys.created")])
def test_editing_any_field_of_an_event_is_detected(busy_hub, column, value):
    with tampering(busy_hub) as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 6).values({column: value}))
    assert verify(busy_hub).seq == 6


def test_deleting_a_middle_event_is_detected(busy_hub, cli):
    with tampering(busy_hub) as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq == 5))
    problem = verify(busy_hub)
    assert problem.seq == 5
    assert "missing" in problem.what
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert squash("event 5") in squash(result.stderr)


def test_rehashing_an_edited_event_breaks_the_next_link(busy_hub):
    log = events(busy_hub)
    target = log[3]
    forged_details = json.dumps({"forged": True})
    values = [forged_details if c == "details" else getattr(target, c) for c in HASHED]
    forged_hash = chain_hash(target.prev_hash, canonical(values, target.format))
    with tampering(busy_hub) as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == target.seq)
                     .values(details=forged_details, hash=forged_hash))
    assert verify(busy_hub).seq == target.seq + 1


def test_deleting_the_last_events_is_detected_by_the_head(busy_hub, cli):
    with tampering(busy_hub) as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq >= 7))
    problem = verify(busy_hub)
    assert problem.seq == 7
    assert "truncated" in problem.what
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert squash("event 7") in squash(result.stderr)


def test_deleting_the_head_record_is_detected(busy_hub):
    with tampering(busy_hub) as conn:
        conn.execute(delete(audit_head))
    assert verify(busy_hub) == Problem(15, "the chain's head record is missing")


def test_appending_continues_the_chain_after_verification(busy_hub):
    ingest(busy_hub, "eef_students", EEF_2567_1)
    assert verify(busy_hub) is None
    assert [(e.seq, e.action) for e in events(busy_hub)[-2:]] == [(15, "keys.rotated"), (16, "ingest.completed")]


def test_exporting_links_is_audited_and_the_chain_stays_intact(busy_hub, cli, tmp_path):
    result = cli("export", "links", "--out", tmp_path / "links.csv")
    assert result.exit_code == 0
    last = events(busy_hub)[-1]
    assert (last.seq, last.action, json.loads(last.details)) == (16, "export.links", {"rows": 11})
    assert verify(busy_hub) is None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Undeclared(EventType):
    name: ClassVar[str] = "test.undeclared"
    note: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Impostor(EventType):
    """Uses a declared name with a class nobody declared."""

    name: ClassVar[str] = "keys.created"
    kek_id: str


@pytest.mark.parametrize("event", [Undeclared(resource="x", note="n"), Impostor(resource="keys", kek_id="k")])
def test_an_undeclared_event_type_is_refused(hub, event):
    with hub.engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(audit_events))
    with pytest.raises(AuditWriteError, match="never declared"):
        with hub.engine.begin() as conn:
            hub.audit.append(conn, event, actor="test:pytest")
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(audit_events)) == before
    assert hub.audit.declared["keys.created"] is KeysCreated
    assert verify(hub) is None


def test_a_log_written_before_the_searchable_columns_still_verifies_after_the_upgrade(settings):
    """Events of a hub at migration 0005 hash six fields (format 1); upgrading keeps them verifiable and
    new events chain on in format 2."""
    from alembic import command
    from sqlalchemy import insert

    from hub.context import Hub
    from hub.db.engine import _alembic_config, make_engine

    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
    prev = GENESIS
    with engine.begin() as conn:
        for seq in (1, 2, 3):
            values = (seq, f"2026-11-0{seq}T00:00:00.000000+00:00", "cli:operator", "keys.rotated", "keys",
                      json.dumps({"old_kek_id": "a", "new_kek_id": "b"}))
            digest = chain_hash(prev, canonical(values, 1))
            conn.execute(insert(audit_events).values(**dict(zip(HASHED, values)), prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(insert(audit_head).values(id=1, seq=3, hash=prev))
    engine.dispose()
    hub, _ = Hub.init(settings)
    try:
        assert [e.format for e in events(hub)] == [1, 1, 1, 2]  # the upgraded hub's own keys.created
        assert verify(hub) is None
        ingest(hub, "tpmap", TPMAP)
        assert verify(hub) is None
        with tampering(hub) as conn:
            conn.execute(update(audit_events).where(audit_events.c.seq == 2).values(format=2))
        assert verify(hub) == Problem(2, "its content does not match its hash (edited)")
    finally:
        hub.engine.dispose()


def test_checkpoints_are_signed_every_n_events_and_after_t_seconds(settings):
    from audit.verify import stored_checkpoints
    from hub.context import Hub

    hub, _ = Hub.init(settings.model_copy(update={"audit_checkpoint_every": 5}))  # keys.created: event 1
    try:
        batch = [KeysCreated(resource="keys", kek_id=f"k{i}", secrets=[]) for i in range(12)]
        with hub.engine.begin() as conn:
            assert hub.audit.append_many(conn, batch, actor="test:pytest") == list(range(2, 14))
        with hub.engine.connect() as conn:
            assert [c.seq for c in stored_checkpoints(conn)] == [1, 6, 11]
        hub.audit.seconds = 0.0  # any later append is "T seconds after the last checkpoint"
        with hub.engine.begin() as conn:
            hub.audit.append(conn, KeysCreated(resource="keys", kek_id="late", secrets=[]), actor="test:pytest")
        with hub.engine.connect() as conn:
            assert [c.seq for c in stored_checkpoints(conn)] == [1, 6, 11, 14]
        assert verify(hub) is None
    finally:
        hub.engine.dispose()


def test_concurrent_appenders_are_serialised_and_none_fails(hub):
    """Requests served by many threads each read, then append their audit event: on SQLite too, where a
    transaction must hold the write lock before it reads the head."""
    import threading

    from sqlalchemy import text

    failures = []

    def requests():
        for _ in range(25):
            try:
                with hub.engine.begin() as conn:
                    conn.execute(text("SELECT count(*) FROM audit_events")).all()
                    hub.audit.append(conn, KeysCreated(resource="keys", kek_id="k", secrets=[]), actor="test:pytest")
            except AuditWriteError as exc:
                failures.append(str(exc))

    threads = [threading.Thread(target=requests) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(events(hub)) == 1 + 8 * 25 and verify(hub) is None
