"""Group commit of the audit events of reads (audit/group_commit.py): many readers' events in shared
transactions, each with its own actor and request, answered only once committed; a failed batch fails
every reader in it and keeps nothing; an event the log refuses is refused before it is queued."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text

from audit import group_commit
from audit.access import verify
from audit.context import reset_request_id, set_request_id
from audit.events import AuditRead
from helpers import refuse_audit_writes
from hub.db.schema import audit_events
from hub.errors import AuditWriteError, ClearCitizenIdInAudit


def read_event(n: int) -> AuditRead:
    return AuditRead(resource="audit:events", query={"reader": n}, rows=n)


def stored(hub, first_seq: int = 0) -> list:
    with hub.engine.connect() as conn:
        return conn.execute(select(audit_events).where(audit_events.c.seq > first_seq)
                            .order_by(audit_events.c.seq)).all()


def head(hub) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.coalesce(func.max(audit_events.c.seq), 0)))


def test_readers_on_threads_and_event_loops_share_transactions_and_the_chain_verifies(hub):
    before = head(hub)

    def on_a_thread(n: int) -> int:
        token = set_request_id(f"thread-{n}")
        try:
            return hub.audit_group.record(read_event(n), actor=f"api:partner:reader-{n}")
        finally:
            reset_request_id(token)

    async def on_the_loop(n: int) -> int:
        set_request_id(f"task-{n}")  # each task has its own context
        return await hub.audit_group.committed(read_event(n), actor=f"api:policy:reader-{n}")

    async def readers() -> list[int]:
        return await asyncio.gather(*(on_the_loop(n) for n in range(100, 250)))

    with ThreadPoolExecutor(max_workers=24) as pool:
        threaded = pool.map(on_a_thread, range(100))
        looped = asyncio.run(readers())
        seqs = list(threaded) + looped

    rows = stored(hub, before)
    assert sorted(seqs) == [r.seq for r in rows] == list(range(before + 1, before + 251))
    by_seq = {r.seq: r for r in rows}
    for n, seq in enumerate(seqs):  # each event keeps its own reader, role and request
        row = by_seq[seq]
        assert (row.actor, row.request_id, row.record_count) == \
            (f"api:{'partner' if n < 100 else 'policy'}:reader-{n}", f"{'thread' if n < 100 else 'task'}-{n}", n)
        assert row.role == ("partner" if n < 100 else "policy")
    transactions = len({r.occurred_at for r in rows})  # one time per appending transaction
    assert transactions < len(rows) / 2
    assert verify(hub).intact


def test_a_batch_that_cannot_be_written_fails_every_reader_in_it_and_keeps_nothing(hub):
    before = head(hub)
    refuse_audit_writes(hub)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(hub.audit_group.record, read_event(n), actor="api:partner:msdhs") for n in range(40)]
        outcomes = [f.exception() for f in futures]
    assert all(isinstance(e, AuditWriteError) and "audit storage unavailable" in str(e) for e in outcomes)
    assert head(hub) == before

    with hub.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_audit" + (" ON audit_events" if conn.dialect.name == "postgresql"
                                                         else "")))
    assert hub.audit_group.record(read_event(1), actor="api:partner:msdhs") == before + 1  # the writer recovered
    assert verify(hub).intact


def test_an_event_the_log_would_refuse_is_refused_before_it_reaches_anyone_elses_batch(hub):
    before = head(hub)
    with pytest.raises(ClearCitizenIdInAudit):
        hub.audit_group.record(AuditRead(resource="audit:events", query={"note": "1101400123451"}, rows=1),
                               actor="api:admin:x")
    assert hub.audit_group.record(read_event(2), actor="api:admin:x") == before + 1
    assert [r.seq for r in stored(hub, before)] == [before + 1]


def test_the_writer_runs_only_while_there_is_work(hub, monkeypatch):
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.2)

    def writers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "saphan-audit-group-commit"]

    first = hub.audit_group.record(read_event(1), actor="api:auditor:a")
    assert writers()
    deadline = time.monotonic() + 5
    while writers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writers() == []
    assert hub.audit_group.record(read_event(2), actor="api:auditor:a") == first + 1
