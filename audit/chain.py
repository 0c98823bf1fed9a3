"""Append events to the hash chain and check it.

Each event's hash is ``SHA-256(prev_hash || canonical JSON of seq, time, actor, action, resource,
details)``; the first event chains from 32 zero bytes. The single ``audit_head`` row is updated in the
appending transaction, so concurrent appenders are serialised and an event commits with the work it
records, or not at all.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from audit.events import EventType
from hub.db.schema import audit_events, audit_head
from hub.errors import AuditWriteError

GENESIS = bytes(32)


def canonical(seq: int, occurred_at: str, actor: str, action: str, resource: str, details: str) -> bytes:
    return json.dumps([seq, occurred_at, actor, action, resource, details], ensure_ascii=False,
                      separators=(",", ":")).encode()


def chain_hash(prev: bytes, body: bytes) -> bytes:
    return hashlib.sha256(prev + body).digest()


class AuditLog:
    """Appends declared event types; an undeclared type is a programming error and is refused."""

    def __init__(self, event_types: Iterable[type[EventType]]):
        self._declared = {t.name: t for t in event_types}

    @property
    def declared(self) -> dict[str, type[EventType]]:
        return dict(self._declared)

    def append(self, conn: Connection, event: EventType, *, actor: str) -> int:
        """Append ``event`` inside the caller's transaction; returns its sequence number."""
        if self._declared.get(event.name) is not type(event):
            raise AuditWriteError(f"audit event type {event.name!r} was never declared")
        try:
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
                                .with_for_update()).first()
            seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
            at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
            details = json.dumps(event.details(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            digest = chain_hash(prev, canonical(seq, at, actor, event.name, event.resource, details))
            conn.execute(insert(audit_events).values(seq=seq, occurred_at=at, actor=actor, action=event.name,
                                                     resource=event.resource, details=details,
                                                     prev_hash=prev, hash=digest))
            if head:
                conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=digest))
            else:
                conn.execute(insert(audit_head).values(id=1, seq=seq, hash=digest))
        except SQLAlchemyError as exc:
            raise AuditWriteError(f"could not append audit event {event.name}: {exc}") from exc
        return seq


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    what: str


def verify_chain(conn: Connection, *, batch: int = 10000) -> ChainProblem | None:
    """Walk the chain in order; the first problem found (gap, bad link, bad hash, head mismatch) or ``None``."""
    prev, expected = GENESIS, 1
    result = conn.execute(select(audit_events).order_by(audit_events.c.seq)
                          .execution_options(stream_results=True, yield_per=batch))
    for row in result:
        if row.seq != expected:
            return ChainProblem(expected, f"event {expected} is missing (next is {row.seq})")
        if row.prev_hash != prev:
            return ChainProblem(row.seq, "does not link to the previous event (inserted, removed or reordered)")
        body = canonical(row.seq, row.occurred_at, row.actor, row.action, row.resource, row.details)
        if chain_hash(prev, body) != row.hash:
            return ChainProblem(row.seq, "content does not match its hash (edited)")
        prev, expected = row.hash, expected + 1
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
    last = expected - 1
    if head is None and last:
        return ChainProblem(last, "the chain head record is missing")
    if head is not None and (head.seq != last or head.hash != prev):
        return ChainProblem(min(head.seq, last) + 1, f"chain ends at {last} but its head says {head.seq} (truncated)")
    return None
