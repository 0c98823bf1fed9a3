"""The review queue: pairs the linker could not settle, for a person or the community to decide.

A pair is named by its two records' natural keys (source, record id), so it survives re-ingest and
re-linking. Its evidence is the comparison levels (``first name: sounds the same``), never the values;
reading the values (:func:`show_review`) decrypts them and is audited. A decision (``same`` or
``different``) binds every later run: the two records are joined, or never put in one person.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from audit.events import ReviewPairRead, ReviewSettled
from hub.context import Hub
from hub.crypto import aad
from hub.db.schema import link_reviews, linked_records, record_links, source_records
from hub.errors import HubError
from hub.linking.records import KeyRow

DECISIONS = ("same", "different")
STATUSES = ("open", *DECISIONS)


class ReviewError(HubError):
    """A review that does not exist, or a decision that is not allowed."""


@dataclass
class ReviewPair:
    """A pair for review, by record index in the run: why, the match probability, the evidence."""

    a: int
    b: int
    reason: str
    probability: float | None
    evidence: dict[str, Any]


@dataclass
class Decisions:
    """Settled pairs as record indexes of the run."""

    same: list[tuple[int, int]] = field(default_factory=list)
    different: list[tuple[int, int]] = field(default_factory=list)


def _natural_pair(rows: list[KeyRow], a: int, b: int) -> tuple[str, str, str, str]:
    first, second = sorted(((rows[a].source, rows[a].record_id), (rows[b].source, rows[b].record_id)))
    return (*first, *second)


def load_decisions(conn: Connection, rows: list[KeyRow]) -> Decisions:
    """The settled reviews whose two records are both still stored."""
    t = link_reviews
    settled = conn.execute(select(t.c.source_a, t.c.record_id_a, t.c.source_b, t.c.record_id_b, t.c.status)
                           .where(t.c.status.in_(DECISIONS))).all()
    out = Decisions()
    if not settled:
        return out
    index = {(row.source, row.record_id): i for i, row in enumerate(rows)}
    for sa, ra, sb, rb, status in settled:
        a, b = index.get((sa, ra)), index.get((sb, rb))
        if a is not None and b is not None:
            (out.same if status == "same" else out.different).append((a, b))
    return out


@dataclass
class PendingDecisions:
    """Settled pairs no link run has applied as they stand: ``records`` they name, and each one's
    ``(id, decided_at)`` as read (a pair settled again after the read is not the decision read)."""

    records: set[tuple[str, str]] = field(default_factory=set)
    read: list[tuple[int, dt.datetime]] = field(default_factory=list)


def pending_decisions(conn: Connection) -> PendingDecisions:
    """The decisions no run has applied yet (an incremental run re-links their records). Told by a mark,
    not by a time: a decision that committed while a run was under way is dated before that run began."""
    t = link_reviews
    out = PendingDecisions()
    for review_id, decided_at, sa, ra, sb, rb in conn.execute(
            select(t.c.id, t.c.decided_at, t.c.source_a, t.c.record_id_a, t.c.source_b, t.c.record_id_b)
            .where(t.c.status.in_(DECISIONS), t.c.applied_run_id.is_(None))):
        out.records.update(((sa, ra), (sb, rb)))
        out.read.append((review_id, decided_at))
    return out


def mark_applied(conn: Connection, pending: PendingDecisions, run_id: int) -> None:
    """Mark the decisions ``pending`` read as applied by ``run_id``, unless settled again since."""
    t = link_reviews
    if pending.read:
        conn.execute(update(t).where(t.c.id == bindparam("review_id"), t.c.decided_at == bindparam("when"),
                                     t.c.applied_run_id.is_(None)).values(applied_run_id=run_id),
                     [{"review_id": review_id, "when": when} for review_id, when in pending.read])


def save_reviews(conn: Connection, run_id: int, rows: list[KeyRow], pairs: list[ReviewPair], *, prune: bool) -> int:
    """Open the new pairs, refresh the open ones seen again, leave settled ones alone; with ``prune`` (a
    full run, which sees every pair) close open pairs no longer in question. Returns the pairs opened."""
    t = link_reviews
    existing = {tuple(r[:4]): (r.id, r.status) for r in conn.execute(
        select(t.c.source_a, t.c.record_id_a, t.c.source_b, t.c.record_id_b, t.c.id, t.c.status))}
    inserts, seen = [], set()
    for pair in pairs:
        key = _natural_pair(rows, pair.a, pair.b)
        if key in seen:
            continue
        seen.add(key)
        found = existing.get(key)
        if found is None:
            inserts.append({"source_a": key[0], "record_id_a": key[1], "source_b": key[2], "record_id_b": key[3],
                            "reason": pair.reason, "match_probability": pair.probability, "evidence": pair.evidence,
                            "status": "open", "created_run_id": run_id, "seen_run_id": run_id})
        elif found[1] == "open":
            conn.execute(update(t).where(t.c.id == found[0]).values(
                reason=pair.reason, match_probability=pair.probability, evidence=pair.evidence, seen_run_id=run_id))
    if inserts:
        conn.execute(insert(t), inserts)
    if prune:
        conn.execute(delete(t).where(t.c.status == "open", t.c.seen_run_id != run_id))
    return len(inserts)


def list_reviews(hub: Hub, *, status: str = "open") -> list:
    """Reviews with ``status`` (``open``, ``same``, ``different`` or ``all``), most likely matches first."""
    if status not in (*STATUSES, "all"):
        raise ReviewError(f"status must be one of {', '.join(STATUSES)} or all, not {status!r}")
    t = link_reviews
    query = select(t).order_by(t.c.match_probability.desc().nulls_first(), t.c.id)
    if status != "all":
        query = query.where(t.c.status == status)
    with hub.engine.connect() as conn:
        return conn.execute(query).all()


def _review(conn: Connection, review_id: int):
    row = conn.execute(select(link_reviews).where(link_reviews.c.id == review_id)).first()
    if row is None:
        raise ReviewError(f"review {review_id} does not exist (see `hub review list`)")
    return row


def _identity(hub: Hub, conn: Connection, source: str, record_id: str) -> dict[str, Any]:
    r = source_records
    row = conn.execute(select(r.c.title, r.c.first_name_enc, r.c.last_name_enc, r.c.birth_date_enc, r.c.sex,
                              r.c.tambon_code, r.c.moo, r.c.id_status, record_links.c.person_id)
                       .select_from(linked_records).where(r.c.source == source, r.c.record_id == record_id)).first()
    if row is None:
        return {"source": source, "record_id": record_id, "gone": True}
    decrypt = hub.cipher.decrypt
    return {
        "source": source, "record_id": record_id, "title": row.title,
        "first_name": decrypt(row.first_name_enc, aad("source_records", source, record_id, "first_name")),
        "last_name": decrypt(row.last_name_enc, aad("source_records", source, record_id, "last_name")),
        "birth_date": decrypt(row.birth_date_enc, aad("source_records", source, record_id, "birth_date")),
        "sex": row.sex, "tambon_code": row.tambon_code, "moo": row.moo, "id_status": row.id_status,
        "person_id": row.person_id,
    }


def show_review(hub: Hub, review_id: int, *, actor: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The review with both records decrypted (names, birth date, area); the read is audited first."""
    with hub.engine.begin() as conn:
        review = _review(conn, review_id)
        hub.audit.append(conn, ReviewPairRead(resource=f"review:{review_id}", review_id=review_id), actor=actor)
        return (review, _identity(hub, conn, review.source_a, review.record_id_a),
                _identity(hub, conn, review.source_b, review.record_id_b))


def settle_review(hub: Hub, review_id: int, decision: str, *, basis: str, actor: str) -> None:
    """Record ``decision`` (``same`` or ``different``) and its ``basis`` (who checked what); it takes effect
    at the next ``hub link``. A settled pair can be settled again, to correct a mistake."""
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if not basis.strip():
        raise ReviewError("say what the decision rests on (who checked, which document or meeting)")
    with hub.engine.begin() as conn:
        _review(conn, review_id)
        conn.execute(update(link_reviews).where(link_reviews.c.id == review_id).values(
            status=decision, decided_by=actor, decided_at=dt.datetime.now(dt.UTC), basis=basis.strip(),
            applied_run_id=None))
        hub.audit.append(conn, ReviewSettled(resource=f"review:{review_id}", review_id=review_id, decision=decision,
                                             basis=basis.strip()), actor=actor)
