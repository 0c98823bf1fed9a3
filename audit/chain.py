"""Append events to the hash chain.

Each event's hash is ``SHA-256(prev_hash || canonical JSON of the event)``; the first event chains from
32 zero bytes. The canonical form (:func:`canonical`) covers the sequence number, the time, the actor and
their role, the action, the resource, the details, and the searchable columns (partner, purpose, area,
record count, request id). The single ``audit_head`` row is updated in the appending transaction, so
concurrent appenders are serialised and an event commits with the work it records, or not at all. When
the last checkpoint's cadence says so (:class:`audit.checkpoints.Cadence`), the appending transaction also
signs a checkpoint of the head, after checking that the checkpoint the hub last saw committed
(:mod:`audit.hub_witness`) is still held and that the events since the newest checkpoint still chain from
its signed head: the hub never signs over a log that was changed behind its back.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import SQLAlchemyError

from audit.checkpoints import Cadence, Checkpoint, checked_claims, last_checkpoint, sign_checkpoint
from audit.context import current_request_id, role_of
from audit.events import EventType
from audit.hub_witness import HubWitness
from hub.db.after_commit import after_commit
from hub.db.bulk import bulk_insert
from hub.db.schema import audit_area_reads, audit_events, audit_head
from hub.errors import AuditWriteError, ClearCitizenIdInAudit
from hub.signing import public_pem
from hub.thai.citizen_id import mentions_citizen_id

GENESIS = bytes(32)
FORMAT = 2  # events before the searchable columns (format 1) hash only their first six fields

#: The columns an event's hash covers, in canonical order (format 1: the first six).
HASHED = ("seq", "occurred_at", "actor", "action", "resource", "details", "role", "partner", "purpose", "area",
          "record_count", "request_id")
_V1 = 6
#: An event row's columns, in the order :meth:`AuditLog.append_many` writes and the verifier reads them.
ROW = (*HASHED, "format", "prev_hash", "hash")
_READ = ("seq", "area", "records", "action", "partner", "purpose", "occurred_at")

#: Details as sorted, compact JSON text (UTF-8 kept).
_DETAILS_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical(values: Sequence, fmt: int = FORMAT) -> bytes:
    """The bytes an event's hash covers, as compact JSON: its format and :data:`HASHED` values (``values``
    in that order); a format 1 event, its first six values alone. For these values (text, integers and
    nulls) orjson writes exactly the bytes of ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``,
    the encoder the first events were hashed with."""
    return orjson.dumps(list(values[:_V1]) if fmt == 1 else [fmt, *values[:len(HASHED)]])


def chain_hash(prev: bytes, body: bytes) -> bytes:
    return hashlib.sha256(prev + body).digest()


@dataclass(frozen=True)
class Entry:
    """An event to append, with who acted and the request it belongs to."""

    event: EventType
    actor: str
    request_id: str | None


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class _AppendQueue:
    """SQLite admits one writer at a time and makes the others retry with growing sleeps (up to 100 ms each),
    so under concurrent requests most of the time goes to sleeping. Appenders of this process instead
    queue on a lock, taken when a transaction first appends and released when it commits or rolls back
    (or, should neither happen, when its connection returns to the pool)."""

    _HELD = "saphan_audit_append_lock"

    def __init__(self):
        self._lock = threading.Lock()
        self._engines: set[int] = set()

    def enter(self, conn: Connection) -> None:
        """Queue, unless this transaction already holds the lock, or SQLite's write lock (it wrote before
        appending): the queue's holder may be waiting for that lock, so queueing behind it would deadlock."""
        if conn.info.get(self._HELD) or conn.connection.driver_connection.in_transaction:
            return
        if id(conn.engine) not in self._engines:
            self._engines.add(id(conn.engine))
            sa_event.listen(conn.engine, "commit", self._release)
            sa_event.listen(conn.engine, "rollback", self._release)
            sa_event.listen(conn.engine.pool, "checkin", lambda _dbapi, record: self._free(record.info))
        self._lock.acquire()
        conn.info[self._HELD] = True

    def _release(self, conn: Connection) -> None:
        self._free(conn.info)

    def _free(self, info: dict) -> None:
        if info.pop(self._HELD, False):
            self._lock.release()


class AuditLog:
    """Appends declared event types; an undeclared type is a programming error and is refused.
    ``signer`` gives the checkpoint key and ``witness`` the hub's own witness (both kept outside the
    database)."""

    def __init__(self, event_types: Iterable[type[EventType]], *, signer: Callable[[], Ed25519PrivateKey],
                 witness: HubWitness, every: int = 1000, seconds: float = 300.0):
        self._declared = {t.name: t for t in event_types}
        self._signer = signer
        self._witness = witness
        self.every = every
        self.seconds = seconds
        self._queue = _AppendQueue()
        self._trusted: tuple[Checkpoint, Cadence] | None = None  # the newest checkpoint seen, signature checked

    @property
    def declared(self) -> dict[str, type[EventType]]:
        return dict(self._declared)

    @property
    def witness(self) -> HubWitness:
        return self._witness

    def signing_key(self) -> Ed25519PrivateKey:
        return self._signer()

    def append(self, conn: Connection, event: EventType, *, actor: str) -> int:
        """Append ``event`` inside the caller's transaction; returns its sequence number."""
        return self.append_many(conn, [event], actor=actor)[-1]

    def append_many(self, conn: Connection, events: Sequence[EventType], *, actor: str) -> list[int]:
        """Append ``events`` in order inside the caller's transaction, in one write per table; returns
        their sequence numbers. Raises :class:`AuditWriteError` when they cannot be written (the
        caller's transaction must then not commit what they record)."""
        request_id = current_request_id()
        return self.append_entries(conn, [Entry(event, actor, request_id) for event in events])

    def check(self, event: EventType) -> None:
        """Raise now what appending ``event`` would: an undeclared type, a citizen ID in clear."""
        self._check([event], [_details_text(event.details())])

    def _check(self, events: Sequence[EventType], texts: Sequence[str]) -> None:
        for event in events:
            if self._declared.get(event.name) is not type(event):
                raise AuditWriteError(f"audit event type {event.name!r} was never declared")
        _refuse_clear_citizen_ids(events, texts)

    def append_entries(self, conn: Connection, entries: Sequence[Entry]) -> list[int]:
        """:meth:`append_many` for events of several actors and requests (:mod:`audit.group_commit`)."""
        events = [entry.event for entry in entries]
        fields = [event.details() for event in events]
        texts = [_details_text(f) for f in fields]
        self._check(events, texts)
        try:
            if conn.dialect.name == "sqlite":  # take the write lock before reading the head (FOR UPDATE's work)
                self._queue.enter(conn)
                conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=audit_head.c.seq))
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
                                .with_for_update()).first()
            seq, prev = (head.seq, bytes(head.hash)) if head else (0, GENESIS)
            at = now_text()
            last = last_checkpoint(conn)
            cadence = None if last is None else self._cadence_after(last)
            rows, reads, heads_to_sign = [], [], []
            for entry, details, detail_text in zip(entries, fields, texts):
                seq += 1
                event = entry.event
                facets = event.facets()
                values = (seq, at, entry.actor, event.name, event.resource, detail_text, role_of(entry.actor),
                          _text(facets.partner), _text(facets.purpose), _text(facets.area),
                          None if facets.records is None else int(facets.records), entry.request_id)
                digest = chain_hash(prev, canonical(values))
                rows.append((*values, FORMAT, prev, digest))
                reads.extend((seq, area, int(count), event.name, values[7], values[8], at)
                             for area, count in event.reads_in(details).items())
                prev = digest
                if cadence is None or cadence.due(seq, at):
                    heads_to_sign.append((seq, digest))
                    cadence = Cadence(seq, at, self.every, self.seconds)
            if heads_to_sign:
                self._refuse_unless_tail_verifies(conn, last, head)
            bulk_insert(conn, audit_events, ROW, rows)
            bulk_insert(conn, audit_area_reads, _READ, reads)
            if head:
                conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
            else:
                conn.execute(insert(audit_head).values(id=1, seq=seq, hash=prev))
            for signed_seq, signed_head in heads_to_sign:
                last = self._sign(conn, seq=signed_seq, head=signed_head, at=at, prev=last)
        except (SQLAlchemyError, conn.dialect.loaded_dbapi.Error) as exc:  # bulk writes use the driver itself
            raise AuditWriteError(f"could not append audit event {events[0].name}: {exc}") from exc
        return list(range(seq - len(events) + 1, seq + 1))

    def sign_head(self, conn: Connection) -> Checkpoint:
        """A signed checkpoint of the current head: the newest checkpoint when it is at the head, or a new
        one. Call it after appending in the same transaction (which holds the head's lock)."""
        head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one()
        last = last_checkpoint(conn)
        if last is not None and last.seq == head.seq:
            self._cadence_after(last)  # its signature checked before it goes to a witness
            return last
        self._refuse_unless_tail_verifies(conn, last, head)
        at = conn.scalar(select(audit_events.c.occurred_at).where(audit_events.c.seq == head.seq))
        return self._sign(conn, seq=head.seq, head=bytes(head.hash), at=at, prev=last)

    def _cadence_after(self, last: Checkpoint) -> Cadence:
        """The cadence the newest checkpoint signed, once its signature is checked (a forged row could
        otherwise stop checkpoints altogether)."""
        trusted = self._trusted
        if trusted is not None and trusted[0] == last:  # checked before: a signature stays valid
            return trusted[1]
        claims = checked_claims(last, public_pem(self._signer()))
        if isinstance(claims, str):
            raise AuditWriteError(f"checkpoint {last.seq}: {claims}; the log was changed behind the hub's back "
                                  f"(run `hub audit verify`)")
        self._trusted = (last, claims.cadence)
        return claims.cadence

    def _sign(self, conn: Connection, *, seq: int, head: bytes, at: str, prev: Checkpoint | None) -> Checkpoint:
        checkpoint = sign_checkpoint(conn, self._signer(), seq=seq, head=head, at=at, prev=prev, every=self.every,
                                     seconds=self.seconds)
        after_commit(conn, lambda: self._witness.remember(checkpoint))
        return checkpoint

    def _refuse_unless_tail_verifies(self, conn: Connection, last: Checkpoint | None, head) -> None:
        """Raise :class:`AuditWriteError` unless the stored log since checkpoint ``last`` up to ``head``
        (its seq and hash row) is what the hub appended: the checkpoint the hub's own witness names still
        held, ``last`` validly signed, the events after it chaining from its signed head, none of them due
        for a checkpoint, the head naming the last."""
        problem = self._witness.problem(conn) or _tail_problem(conn, last, head, public_pem(self._signer()))
        if problem:
            raise AuditWriteError(f"refusing to sign a checkpoint: {problem}; the log was changed behind the "
                                  f"hub's back (run `hub audit verify`)")


def _refuse_clear_citizen_ids(events: Sequence[EventType], texts: Sequence[str]) -> None:
    """Raise :class:`ClearCitizenIdInAudit` when an event's details (``texts``) or resource hold a citizen
    ID. One scan covers the batch: no ID can span the line breaks between its parts."""
    if not mentions_citizen_id("\n".join([*texts, *(event.resource for event in events)])):
        return
    for event, text in zip(events, texts):
        if mentions_citizen_id(text) or mentions_citizen_id(event.resource):
            raise ClearCitizenIdInAudit(f"{event.name}: the audit log may not hold a citizen ID in clear; "
                                        f"write the reason or note without it")


def _details_text(details: dict) -> str:
    return orjson.dumps(details, option=_DETAILS_JSON).decode()


def _text(value) -> str | None:
    return None if value is None else str(value)


def _tail_problem(conn: Connection, last: Checkpoint | None, head, public_key: str) -> str | None:
    head_seq = head.seq if head else 0
    if last is None:
        first = conn.scalar(select(func.min(audit_events.c.seq)).where(audit_events.c.format >= FORMAT))
        return None if first is None else f"a checkpoint was due at event {first} and there is none"
    claims = checked_claims(last, public_key)
    if isinstance(claims, str):
        return f"checkpoint {last.seq}: {claims}"
    if head_seq - last.seq >= claims.every:
        return f"a checkpoint was due at event {last.seq + claims.every} and there is none"
    rows = conn.execute(select(*(audit_events.c[c] for c in ROW))
                        .where(audit_events.c.seq >= last.seq, audit_events.c.seq <= head_seq)
                        .order_by(audit_events.c.seq)).all()
    if not rows or rows[0].seq != last.seq or bytes(rows[0].hash) != bytes.fromhex(last.head):
        return f"event {last.seq} is not the one checkpoint {last.seq} signed"
    prev, cadence = bytes(rows[0].hash), claims.cadence
    for expected, row in enumerate(rows[1:], start=last.seq + 1):
        if row.seq != expected or bytes(row.prev_hash) != prev or \
                chain_hash(prev, canonical(row, row.format)) != bytes(row.hash):
            return f"event {expected} does not chain from checkpoint {last.seq}"
        if cadence.due(row.seq, row.occurred_at):
            return f"a checkpoint was due at event {row.seq} and there is none"
        prev = bytes(row.hash)
    if rows[-1].seq != head_seq or bytes(head.hash) != prev:
        return f"the head does not name event {rows[-1].seq}, the last since checkpoint {last.seq}"
    return None
