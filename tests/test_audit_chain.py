"""The audit log: typed events on a SHA-256 hash chain, and tamper detection."""
from __future__ import annotations

import dataclasses
import json
from typing import ClassVar

import pytest
from sqlalchemy import delete, func, select, update

from audit.access import verify as verify_hub
from audit.chain import GENESIS, HASHED, canonical, chain_hash
from audit.events import EventType, KeysCreated, KeysRotated
from audit.verify import Problem
from helpers import (
    EEF_2566_2,
    EEF_2567_1,
    TPMAP,
    engine_at_migration,
    file_sha256_hex,
    ingest,
    squash,
    tampering,
)
from hub.db.schema import audit_checkpoints, audit_events, audit_head
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
        *["contract.loaded"] * 8,  # the first ingest records the contract versions it acts under
        "ingest.completed", "ingest.quarantined",
        "ingest.completed", "ingest.quarantined",
        "ingest.failed", "quarantine.read", "keys.rotated"]
    assert [e.seq for e in log] == list(range(1, 17))
    assert log[0].actor == "system:hub" and log[9].actor == "test:pytest" and log[13].actor.startswith("cli:")
    completed = json.loads(log[9].details)
    assert completed["file_sha256"] == file_sha256_hex(TPMAP)
    assert {k: completed[k] for k in ("rows_read", "inserted", "quarantined")} == \
        {"rows_read": 11, "inserted": 8, "quarantined": 2}
    assert log[9].resource == "file:tpmap_2566_export.csv"
    quarantined = json.loads(log[10].details)
    assert [r["line"] for r in quarantined["rows"]] == [7, 9]
    assert "missing.csv" in json.loads(log[13].details)["reason"]


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
    assert verify(busy_hub) == Problem(16, "the chain's head record is missing or unreadable")


def test_appending_continues_the_chain_after_verification(busy_hub):
    ingest(busy_hub, "eef_students", EEF_2567_1)
    assert verify(busy_hub) is None
    assert [(e.seq, e.action) for e in events(busy_hub)[-2:]] == [(16, "keys.rotated"), (17, "ingest.completed")]


def test_exporting_links_is_audited_and_the_chain_stays_intact(busy_hub, cli, tmp_path):
    result = cli("export", "links", "--out", tmp_path / "links.csv")
    assert result.exit_code == 0
    last = events(busy_hub)[-1]
    assert (last.seq, last.action, json.loads(last.details)) == (17, "export.links", {"rows": 11})
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


def _upgraded_hub(settings):
    """A hub whose log began at migration 0005 (three format 1 events), upgraded by opening it."""
    from sqlalchemy import insert

    from hub.context import Hub

    engine = engine_at_migration(settings, "0005")
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
    return Hub.init(settings)[0]


def test_a_log_written_before_the_searchable_columns_still_verifies_after_the_upgrade(settings):
    """Events of a hub at migration 0005 hash six fields (format 1); upgrading keeps them verifiable and
    new events chain on in format 2, the first of them under the first checkpoint."""
    hub = _upgraded_hub(settings)
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
    """Each checkpoint signs the cadence until the next: a changed setting takes effect from the next."""
    from audit.checkpoints import unverified_claims
    from audit.verify import stored_checkpoints
    from hub.context import Hub

    hub, _ = Hub.init(settings.model_copy(update={"audit_checkpoint_every": 5}))  # keys.created: event 1
    try:
        def append(count: int) -> None:
            with hub.engine.begin() as conn:
                hub.audit.append_many(conn, [KeysCreated(resource="keys", kek_id=f"k{i}", secrets=[])
                                             for i in range(count)], actor="test:pytest")

        def checkpoints():
            with hub.engine.connect() as conn:
                return stored_checkpoints(conn)

        append(12)  # events 2-13
        assert [c.seq for c in checkpoints()] == [1, 6, 11]
        hub.audit.seconds = 0.0  # from the next checkpoint on, any later event is "T seconds after" it
        append(3)  # events 14-16: checkpoint 11 said "every 5 events or 300 s"
        append(1)  # event 17: checkpoint 16 said "every 5 events or 0 s"
        signed = checkpoints()
        assert [c.seq for c in signed] == [1, 6, 11, 16, 17]
        claims = [unverified_claims(c.jws) for c in signed]
        assert [c.prev for c in claims] == [None, *((c.seq, c.head) for c in signed[:-1])]
        assert [(c.every, c.seconds) for c in claims] == [(5, 300.0)] * 3 + [(5, 0.0)] * 2
        assert verify(hub) is None
    finally:
        hub.engine.dispose()


def test_a_format_1_event_may_not_gain_the_later_columns(settings):
    """Format 1 hashes six fields: the columns added later must stay empty, or they could be edited."""
    hub = _upgraded_hub(settings)
    try:
        with tampering(hub) as conn:
            conn.execute(update(audit_events).where(audit_events.c.seq == 2).values(partner="mallory"))
        assert verify(hub) == Problem(2, "a format 1 event has values in columns its hash does not cover (edited)")
    finally:
        hub.engine.dispose()


def test_an_empty_log_does_not_verify(hub):
    with tampering(hub) as conn:
        for table in (audit_checkpoints, audit_events, audit_head):
            conn.execute(delete(table))
    assert verify(hub) == Problem(1, "witness audit-witness.json: the hub no longer holds its checkpoint 1 (deleted)")
    hub.audit.witness.path.unlink()  # a copy of the database verified without the hub's keys directory
    assert verify(hub) == Problem(1, "the log is empty, but a hub records its own initialisation (deleted)")


def test_verification_during_appends_raises_no_false_alarm(hub):
    """Verifying reads one snapshot: events, head, checkpoints and reads appended meanwhile are not mistaken
    for tampering."""
    import threading

    hub.audit.every = 3
    stop, alarms = threading.Event(), []

    def appender():
        while not stop.is_set():
            with hub.engine.begin() as conn:
                hub.audit.append(conn, KeysCreated(resource="keys", kek_id="k", secrets=[]), actor="test:pytest")

    thread = threading.Thread(target=appender)
    thread.start()
    verifications = 0
    try:
        while verifications < 20 or len(events(hub)) < 40:  # appends (and checkpoints) went on throughout
            verifications += 1
            if problem := verify(hub):
                alarms.append(problem)
    finally:
        stop.set()
        thread.join()
    assert alarms == []


def test_an_append_after_a_write_does_not_wait_behind_a_queued_appender(hub):
    """A transaction that wrote before appending holds SQLite's write lock; an appender that queued first
    waits for that lock. The writer must not queue behind it (a deadlock until the busy timeout)."""
    import threading
    import time

    if hub.engine.dialect.name != "sqlite":
        pytest.skip("the append queue is SQLite's")
    took = {}
    with hub.engine.begin() as writer:
        writer.execute(update(audit_head).values(seq=audit_head.c.seq))  # any write takes the lock

        def other():
            start = time.monotonic()
            with hub.engine.begin() as conn:
                hub.audit.append(conn, KeysCreated(resource="keys", kek_id="other", secrets=[]), actor="test:pytest")
            took["other"] = time.monotonic() - start

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)  # the other appender now holds the queue and waits for the write lock
        start = time.monotonic()
        hub.audit.append(writer, KeysCreated(resource="keys", kek_id="writer", secrets=[]), actor="test:pytest")
        took["writer"] = time.monotonic() - start
    thread.join()
    assert took["writer"] < 5 and took["other"] < 10  # not the 30 s busy timeout
    assert verify(hub) is None


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


@pytest.mark.parametrize("reason", ["called about 1-1014-00123-45-1", "ตามคำขอของ นายสมชาย1101400123451",
                                    "เลข ๑๑๐๑๔๐๐๑๒๓๔๕๑"])
def test_a_reason_holding_a_citizen_id_is_refused_and_nothing_is_read(busy_hub, cli, reason):
    before = len(events(busy_hub))
    result = cli("quarantine", "show", 1, "--reason", reason)
    assert result.exit_code != 0
    assert squash("may not hold a citizen ID in clear") in squash(result.stderr)
    assert len(events(busy_hub)) == before and verify(busy_hub) is None


@pytest.mark.parametrize("text,found", [
    ("1101400123451", True), ("1 1014 00123 45 1", True), ("๑๑๐๑๔๐๐๑๒๓๔๕๑", True),
    ("1101400123452", False),  # its check digit fails: not read as an ID
    ("11014001234510", False),  # fourteen digits
    ("a1101400123451", False), ("1234567890123abcdef0123456789", False),  # parts of a hash or a code
])
def test_citizen_ids_are_found_in_text(text, found):
    from hub.thai.citizen_id import mentions_citizen_id

    assert mentions_citizen_id(text) is found


def test_one_event_of_a_batch_holding_a_citizen_id_refuses_the_batch_and_is_named(hub):
    from hub.errors import ClearCitizenIdInAudit

    batch = [KeysCreated(resource="x:110140", kek_id="k1", secrets=[]),  # with the next: 13 digits, two events
             KeysCreated(resource="0123451", kek_id="k2", secrets=[]),
             KeysRotated(resource="keys", old_kek_id="1-1014-00123-45-1", new_kek_id="k3")]
    before = len(events(hub))
    with pytest.raises(ClearCitizenIdInAudit, match="keys.rotated"):
        with hub.engine.begin() as conn:
            hub.audit.append_many(conn, batch, actor="test:pytest")
    assert len(events(hub)) == before
    with hub.engine.begin() as conn:
        hub.audit.append_many(conn, batch[:2], actor="test:pytest")
    assert len(events(hub)) == before + 2 and verify(hub) is None


def test_the_hashed_form_is_the_json_the_first_events_were_hashed_with():
    """Every character, control characters, quotes, Thai and astral ones included, as
    ``json.dumps(ensure_ascii=False)`` writes it (a log hashed before orjson must still verify)."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    chars = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for start in range(0, len(chars), 4096):
        text = chars[start:start + 4096]
        values = (start, text, None, -2**63, text[::-1], "", 2**63 - 1, "ก\"\\\n", None, None, 0, None)
        assert canonical(values) == encode([2, *values]).encode()
        assert canonical(values[:6], 1) == encode(list(values[:6])).encode()


def test_a_head_moved_back_is_named_before_a_later_edit(busy_hub):
    log = events(busy_hub)
    with tampering(busy_hub) as conn:
        conn.execute(update(audit_head).values(seq=10, hash=log[9].hash))
        conn.execute(update(audit_events).where(audit_events.c.seq == 13).values(actor="cli:mallory"))
    assert verify(busy_hub).seq == 11


@pytest.mark.parametrize("statement,seq", [
    ("UPDATE audit_events SET actor = X'00' WHERE seq = 5", 5),
    ("UPDATE audit_head SET hash = 'x'", 16),
    ("UPDATE audit_checkpoints SET head_hash = 'x' WHERE seq = 1", 1),
    ("INSERT INTO audit_area_reads VALUES ('x', '340101-04', 1, 'view.read', 'p', 'r', '2026')", 1),
])
def test_values_of_the_wrong_kind_are_named_not_crashed_on(busy_hub, statement, seq):
    if busy_hub.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps every column to its type")
    from sqlalchemy import text

    with tampering(busy_hub) as conn:
        conn.execute(text(statement))
    assert verify(busy_hub).seq == seq


def test_a_forged_newest_checkpoint_stops_the_hub_instead_of_its_checkpoints(busy_hub):
    """A checkpoint row signed by someone else, saying "next checkpoint in a billion events", is not
    believed: appends fail until the log is looked at."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy import insert

    from audit.checkpoints import TOKEN_TYPE
    from hub.signing import sign

    head = events(busy_hub)[-1]
    claims = {"seq": head.seq, "head": head.hash.hex(), "signed_at": head.occurred_at, "prev": None,
              "every": 10**9, "seconds": 10**9}
    with tampering(busy_hub) as conn:
        conn.execute(insert(audit_checkpoints).values(seq=head.seq, head_hash=head.hash, signed_at=head.occurred_at,
                                                      jws=sign(Ed25519PrivateKey.generate(), claims,
                                                               token_type=TOKEN_TYPE)))
    with pytest.raises(AuditWriteError, match="bad signature"):
        with busy_hub.engine.begin() as conn:
            busy_hub.audit.append(conn, KeysCreated(resource="keys", kek_id="k", secrets=[]), actor="test:pytest")
    assert verify(busy_hub).seq == head.seq


def test_a_pinned_key_that_is_not_a_key_is_the_auditors_error(busy_hub, cli, tmp_path):
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    result = cli("audit", "verify", "--public-key", bad)
    assert result.exit_code == 2
