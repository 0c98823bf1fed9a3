"""Data-subject rights under the PDPA: access (s.30), rectification (s.35), erasure (s.33); objection
(s.32) is a consent decision (:func:`consent.registry.record` with ``objection``).

A person is found by citizen ID or person id: every stored record linked to them. Each request is kept
in ``subject_requests`` and audited. Erasure destroys the person's own data keys (crypto-shredding,
:mod:`hub.subject_keys`), deletes their records, and registers their keyed citizen ID so that ingest does
not store them again. Consent decisions stay: they hold keyed references only and are the hub's proof
of what it was allowed to do.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from consent import clock
from consent.events import SubjectRequestHandled
from consent.subjects import Subject, village_code
from consent.vocabulary import ConsentError
from hub.context import Hub
from hub.crypto import FieldCipher, aad, subject_key_id
from hub.db.bulk import key_chunks
from hub.db.schema import (
    consent_receipts,
    consents,
    erased_subjects,
    link_reviews,
    linked_records,
    record_links,
    source_households,
    source_records,
    subject_requests,
)
from hub.linking.redirects import current_ids
from hub.subject_keys import anchor_for

PERSONAL = ("first_name", "last_name", "birth_date", "house_code", "house_no", "private")
RECTIFIABLE = ("title", "first_name", "last_name", "birth_date", "sex", "house_no")


@dataclass(frozen=True)
class ErasureReport:
    request_id: int
    records: int
    keys_destroyed: int
    not_shredded: int  # records stored before per-person keys: deleted, their ciphertexts under a shared key


def person_records(conn: Connection, subject: Subject) -> list[Any]:
    """Every stored record of the person: those carrying their citizen ID, and every record linked to
    the same person id (a retired id is followed to the current one)."""
    if subject.kind != "person":
        raise ConsentError("data-subject rights are a person's: name them by citizen ID or person id")
    r, links = source_records, record_links
    kind, value = subject.ref.split(":", 1)
    if kind == "cid":
        people = set(conn.execute(select(links.c.person_id).select_from(linked_records)
                                  .where(r.c.linkage_key == bytes.fromhex(value))).scalars())
    else:
        people = {current_ids(conn, "person").get(value, value)}
    if not people:
        return []
    return conn.execute(select(r, links.c.person_id, links.c.household_id).select_from(linked_records)
                        .where(links.c.person_id.in_(sorted(people))).order_by(r.c.source, r.c.record_id)).all()


def _open_request(conn: Connection, kind: str, subject: Subject, details: dict, actor: str, status: str) -> int:
    now = clock.now()
    return conn.execute(insert(subject_requests).values(
        kind=kind, subject_ref=subject.ref, status=status, details=details, received_at=now,
        closed_at=now if status == "done" else None, handled_by=actor).returning(subject_requests.c.id)).scalar_one()


def access(hub: Hub, subject: Subject, *, actor: str) -> dict[str, Any]:
    """Everything the hub holds about the person, decrypted, as one JSON-ready document: their records,
    household units, the consent decisions about them, their household and their village or tambon, the
    receipts and their requests (the read is audited and recorded as a request)."""
    with hub.engine.begin() as conn:
        rows = person_records(conn, subject)
        hub.cipher.subjects.prefetch(conn, {subject_key_id(getattr(row, f"{f}_enc")) for row in rows
                                            for f in PERSONAL} - {None})
        units = _units(conn, rows)
        refs = {subject.ref, *(f"pid:{row.person_id}" for row in rows), *(f"hid:{row.household_id}" for row in rows),
                *(row.tambon_code for row in rows), *(village_code(row.tambon_code, row.moo) for row in rows)} - {None}
        decided = conn.execute(select(consents).where(consents.c.subject_ref.in_(sorted(refs)))
                               .order_by(consents.c.decided_at)).all()
        receipts = conn.execute(select(consent_receipts.c.consent_id, consent_receipts.c.jws).where(
            consent_receipts.c.consent_id.in_([c.id for c in decided]))).all()
        requests = conn.execute(select(subject_requests).where(subject_requests.c.subject_ref == subject.ref)).all()
        document = {
            "about": {"kind": subject.kind, "ref": subject.ref,
                      "note": "the hub holds a keyed hash of your citizen ID, never the ID itself"},
            "controller": hub.settings.controller,
            "generated_at": clock.now().isoformat(),
            "records": [_record(hub.cipher, row) for row in rows],
            "households": units,
            "consent_decisions": [_decision(c) for c in decided],
            "receipts": [{"consent_id": cid, "jws": jws} for cid, jws in receipts],
            "requests": [{"id": q.id, "kind": q.kind, "status": q.status, "received_at": q.received_at.isoformat()}
                         for q in requests],
        }
        request_id = _open_request(conn, "access", subject, {"records": len(rows)}, actor, "done")
        hub.audit.append(conn, SubjectRequestHandled(resource=f"person:{subject.ref}", request_id=request_id,
                                                     kind="access", subject_ref=subject.ref, records=len(rows),
                                                     status="done"), actor=actor)
    return document


def _record(cipher: FieldCipher, row: Any) -> dict[str, Any]:
    clear = {f: cipher.decrypt(getattr(row, f"{f}_enc"), aad("source_records", row.source, row.record_id, f))
             for f in PERSONAL}
    return {"source": row.source, "record_id": row.record_id, "person_id": row.person_id,
            "household_id": row.household_id, "title": row.title, **{f: clear[f] for f in PERSONAL[:5]},
            "private": json.loads(clear["private"]) if clear["private"] else {}, "sex": row.sex,
            "tambon_code": row.tambon_code, "moo": row.moo, "id_status": row.id_status,
            "facts": row.attributes, "flags": row.flags}


def _units(conn: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    h = source_households
    keys = {(row.source, row.household_ref) for row in rows if row.household_ref}
    if not keys:
        return []
    units = conn.execute(select(h.c.source, h.c.household_ref, h.c.tambon_code, h.c.moo, h.c.attributes).where(
        or_(*[(h.c.source == s) & (h.c.household_ref == ref) for s, ref in sorted(keys)]))).all()
    return [{"source": u.source, "household_ref": u.household_ref, "tambon_code": u.tambon_code, "moo": u.moo,
             "facts": u.attributes} for u in units]


def _decision(c: Any) -> dict[str, Any]:
    return {"id": c.id, "subject": f"{c.subject_kind} {c.subject_ref}", "status": c.status, "purposes": c.purposes,
            "recipients": c.recipients, "decided_at": clock.utc(c.decided_at).isoformat(),
            "expires_at": clock.utc(c.expires_at).isoformat() if c.expires_at else None, "evidence": c.evidence}


def erase(hub: Hub, subject: Subject, *, basis: str, actor: str) -> ErasureReport:
    """Erase the person: destroy their data keys, delete their records and the review pairs naming them,
    and stop ingest from storing them again. One transaction with its audit event."""
    if not basis.strip():
        raise ConsentError("say on what basis the erasure is made (the request, its date, PDPA s.33)")
    r = source_records
    with hub.engine.begin() as conn:
        rows = person_records(conn, subject)
        key_ids = {subject_key_id(getattr(row, f"{f}_enc")) for row in rows for f in PERSONAL} - {None}
        legacy = sum(all(subject_key_id(getattr(row, f"{f}_enc")) is None for f in PERSONAL)
                     and any(getattr(row, f"{f}_enc") is not None for f in PERSONAL) for row in rows)
        corrections = conn.execute(select(subject_requests.c.details).where(
            subject_requests.c.subject_ref == subject.ref, subject_requests.c.kind == "rectify")).scalars().all()
        key_ids |= {subject_key_id(base64.b64decode(d["correction_enc"])) for d in corrections
                    if d.get("correction_enc")} - {None}
        request_id = _open_request(conn, "erase", subject, {"basis": basis}, actor, "done")
        destroyed = hub.cipher.subjects.shred(conn, key_ids)
        pks = [row.id for row in rows]
        for chunk in key_chunks(pks):
            conn.execute(delete(r).where(r.c.id.in_(chunk)))
        for row in rows:
            conn.execute(delete(link_reviews).where(or_(
                (link_reviews.c.source_a == row.source) & (link_reviews.c.record_id_a == row.record_id),
                (link_reviews.c.source_b == row.source) & (link_reviews.c.record_id_b == row.record_id))))
        linkage = {bytes(row.linkage_key) for row in rows if row.linkage_key is not None}
        if subject.ref.startswith("cid:"):
            linkage.add(bytes.fromhex(subject.ref[4:]))
        known = set(conn.execute(select(erased_subjects.c.linkage_key)
                                 .where(erased_subjects.c.linkage_key.in_(sorted(linkage)))).scalars())
        now = clock.now()
        for key in sorted(linkage - {bytes(k) for k in known}):
            conn.execute(insert(erased_subjects).values(linkage_key=key, request_id=request_id, erased_at=now))
        details = {"basis": basis, "records": len(rows), "keys_destroyed": destroyed, "not_shredded": legacy}
        conn.execute(update(subject_requests).where(subject_requests.c.id == request_id).values(details=details))
        hub.audit.append(conn, SubjectRequestHandled(resource=f"person:{subject.ref}", request_id=request_id,
                                                     kind="erase", subject_ref=subject.ref, records=len(rows),
                                                     status="done"), actor=actor)
    return ErasureReport(request_id, len(rows), destroyed, legacy)


def rectify(hub: Hub, subject: Subject, *, field: str, correct: str, evidence: str, actor: str) -> int:
    """Record that the person says ``field`` should read ``correct``. The hub does not edit what partners
    sent: the request (the correction encrypted under the person's own key) waits, open, for review or
    community verification and for the partner's corrected delivery; returns its id."""
    with hub.engine.begin() as conn:
        return rectify_in(hub, conn, subject, field=field, correct=correct, evidence=evidence, actor=actor)


def rectify_in(hub: Hub, conn: Connection, subject: Subject, *, field: str, correct: str, evidence: str,
               actor: str) -> int:
    """:func:`rectify` inside the caller's transaction."""
    if field not in RECTIFIABLE:
        raise ConsentError(f"field {field!r}: a person may ask to correct {', '.join(RECTIFIABLE)}")
    if not correct.strip() or not evidence.strip():
        raise ConsentError("give the correct value and the evidence shown (a card, a house registration)")
    rows = person_records(conn, subject)
    if not rows:
        raise ConsentError("no record of this person is stored; nothing to correct")
    anchor = anchor_for(bytes.fromhex(subject.ref[4:]) if subject.ref.startswith("cid:") else None,
                        hub.keyring, "subject_requests", subject.ref)
    key_id, aead = hub.cipher.subjects.ensure(conn, [anchor])[anchor]
    request_id = _open_request(conn, "rectify", subject, {}, actor, "open")
    sealed = FieldCipher.sealer(key_id, aead)(correct.strip(),
                                              aad("subject_requests", "rectify", str(request_id), field))
    details = {"field": field, "evidence": evidence, "records": [f"{r.source}:{r.record_id}" for r in rows],
               "correction_enc": base64.b64encode(sealed).decode("ascii")}
    conn.execute(update(subject_requests).where(subject_requests.c.id == request_id).values(details=details))
    hub.audit.append(conn, SubjectRequestHandled(resource=f"person:{subject.ref}", request_id=request_id,
                                                 kind="rectify", subject_ref=subject.ref, records=len(rows),
                                                 status="open"), actor=actor)
    return request_id


def close(hub: Hub, request_id: int, *, outcome: str, actor: str, now: dt.datetime | None = None) -> None:
    """Close an open request with what was done (the partner corrected its record, the review decided)."""
    t = subject_requests
    with hub.engine.begin() as conn:
        row = conn.execute(select(t).where(t.c.id == request_id, t.c.status == "open")).first()
        if row is None:
            raise ConsentError(f"no open request {request_id}")
        conn.execute(update(t).where(t.c.id == request_id).values(
            status="done", closed_at=now or clock.now(), details={**row.details, "outcome": outcome}))
        hub.audit.append(conn, SubjectRequestHandled(resource=f"person:{row.subject_ref}", request_id=request_id,
                                                     kind=row.kind, subject_ref=row.subject_ref, records=0,
                                                     status="done"), actor=actor)


def list_requests(hub: Hub, *, open_only: bool = False) -> list[Any]:
    t = subject_requests
    query = select(t.c.id, t.c.kind, t.c.subject_ref, t.c.status, t.c.received_at, t.c.closed_at).order_by(t.c.id)
    if open_only:
        query = query.where(t.c.status == "open")
    with hub.engine.connect() as conn:
        return conn.execute(query).all()
