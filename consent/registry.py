"""Recording consent decisions and moving them through their lifecycle.

Every change happens in one transaction with its audit event and its signed receipt: all three are
stored, or none. A decision's ``seq`` is the sequence number of its latest audit event, so decisions
taking effect at the same instant still have an order (the later one wins, see :mod:`consent.decisions`).
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from consent import clock
from consent.events import ConsentChanged, ConsentRecorded, DecisionsRead
from consent.receipts import issue, new_receipt_id
from consent.stewards import active_steward
from consent.subjects import Subject
from consent.vocabulary import (
    EXPIRED,
    GIVEN,
    REFUSED,
    REQUESTED,
    TRANSITIONS,
    WITHDRAWN,
    ConsentError,
    check_purposes,
    check_recipient,
)
from hub.community.concerns import households_of, partners_holding
from hub.context import Hub
from hub.crypto import aad
from hub.db.schema import consent_receipts, consents, linked_records, record_links, source_records
from hub.notify.outbox import notify

#: Thailand's age of majority (Civil and Commercial Code s.19).
MAJORITY = 20
#: The recipient of an objection, or of a refusal towards everyone.
EVERYONE = "*"


@dataclass(frozen=True)
class Grantor:
    """Who decided: the person (``self``), a ``guardian`` for a minor (their citizen ID as a ``cid:`` ref
    and relation), a community's ``stewards`` (registered steward ids), or a ``household`` member on paper."""

    kind: str
    stewards: tuple[int, ...] = ()
    guardian_ref: str | None = None
    relation: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.stewards:
            out["stewards"] = list(self.stewards)
        if self.guardian_ref:
            out.update(guardian=self.guardian_ref, relation=self.relation)
        return out


@dataclass(frozen=True)
class NewConsent:
    """A decision to record. ``evidence`` says how it was collected (a form number, the meeting and its
    minutes, the survey visit); it must not hold personal values beyond a witness's role."""

    subject: Subject
    status: str  # given | refused | requested
    purposes: list[str]
    recipients: list[str]
    grantor: Grantor
    evidence: dict[str, Any] = field(default_factory=dict)
    sensitive: bool = False
    objection: bool = False
    expires_at: dt.datetime | None = None
    decided_at: dt.datetime | None = None
    origin: str | None = None


def effective_status(row: Any, at: dt.datetime) -> str:
    """A stored status as it stands at ``at``: a ``given`` consent past its expiry is ``expired``."""
    if row.status == GIVEN and row.expires_at is not None and clock.utc(row.expires_at) <= at:
        return EXPIRED
    return row.status


def record(hub: Hub, new: NewConsent, *, actor: str, now: dt.datetime | None = None,
           born: dt.date | None = None) -> tuple[str, str]:
    """Record ``new`` with its receipt and audit event; returns (consent id, receipt JWS). ``born`` is a
    person's birth date as shown at the desk, for the age check (else their stored records are used)."""
    now = now or clock.now()
    with hub.engine.begin() as conn:
        return record_in(hub, conn, new, actor=actor, now=now, born=born)


def record_in(hub: Hub, conn: Connection, new: NewConsent, *, actor: str, now: dt.datetime,
              born: dt.date | None = None) -> tuple[str, str]:
    """:func:`record` inside the caller's transaction."""
    row = _validated(hub, conn, new, actor=actor, now=now, born=born)
    receipt_id = new_receipt_id() if new.status != REQUESTED else None
    seq = hub.audit.append(conn, ConsentRecorded(
        resource=f"consent:{row['id']}", consent_id=row["id"], subject_kind=row["subject_kind"],
        subject_ref=row["subject_ref"], status=row["status"], purposes=row["purposes"],
        recipients=row["recipients"], grantor=row["grantor"]["kind"], receipt_id=receipt_id), actor=actor)
    row["seq"] = seq
    conn.execute(insert(consents).values(**row))
    token = issue(hub, conn, row, receipt_id=receipt_id, issued=now) if receipt_id else ""
    return row["id"], token


def change(hub: Hub, consent_id: str, new_status: str, *, actor: str, reason: str,
           grantor: Grantor | None = None, now: dt.datetime | None = None) -> str:
    """Move a consent along its lifecycle (withdraw, answer a request, expire); returns the new receipt.
    Answering a request with ``given`` needs the ``grantor``, checked like a new grant."""
    now = now or clock.now()
    with hub.engine.begin() as conn:
        return change_in(hub, conn, consent_id, new_status, actor=actor, reason=reason, grantor=grantor, now=now)


def change_in(hub: Hub, conn: Connection, consent_id: str, new_status: str, *, actor: str, reason: str,
              grantor: Grantor | None = None, now: dt.datetime) -> str:
    t = consents
    row = conn.execute(select(t).where(t.c.id == consent_id).with_for_update()).first()
    if row is None:
        raise ConsentError(f"no consent {consent_id}")
    old = effective_status(row, now)
    if new_status == EXPIRED:  # recording an expiry that has already taken effect
        if old != EXPIRED or row.status != GIVEN:
            raise ConsentError(f"consent {consent_id} is {old}; only a given consent past its expiry expires")
        old = GIVEN
    if new_status not in TRANSITIONS[old]:
        raise ConsentError(f"consent {consent_id} is {old}; it cannot become {new_status}")
    if not reason.strip():
        raise ConsentError("say why (who asked, on what evidence)")
    values: dict[str, Any] = {"status": new_status, "changed_at": now,
                              "evidence": {**row.evidence, "history": [*row.evidence.get("history", []),
                                                                       {"status": new_status, "reason": reason,
                                                                        "at": now.isoformat()}]}}
    if new_status == GIVEN:
        if grantor is None:
            raise ConsentError("answering with consent needs who gives it")
        subject = Subject(row.subject_kind, row.subject_ref)
        # the answer's reason records the meeting or document that decided it
        evidence = {**row.evidence, "meeting": row.evidence.get("meeting") or reason}
        draft = NewConsent(subject, GIVEN, row.purposes, row.recipients, grantor, evidence, row.sensitive,
                           False, clock.utc(row.expires_at))
        values["grantor"] = _validated(hub, conn, draft, actor=actor, now=now, born=None)["grantor"]
        if subject.kind == "community":
            values["evidence"]["meeting"] = evidence["meeting"]
    if new_status != EXPIRED:  # an expiry takes effect at the expiry time, already in the row
        values["decided_at"] = now
    receipt_id = new_receipt_id()
    values["seq"] = hub.audit.append(conn, ConsentChanged(
        resource=f"consent:{consent_id}", consent_id=consent_id, subject_ref=row.subject_ref, old_status=old,
        new_status=new_status, reason=reason, receipt_id=receipt_id), actor=actor)
    conn.execute(update(t).where(t.c.id == consent_id).values(**values))
    if new_status == WITHDRAWN:
        _announce_withdrawal(hub, conn, row, now)
    current = conn.execute(select(t).where(t.c.id == consent_id)).first()._asdict()
    current.update(decided_at=clock.utc(current["decided_at"]), expires_at=clock.utc(current["expires_at"]))
    return issue(hub, conn, current, receipt_id=receipt_id, issued=now)


def _announce_withdrawal(hub: Hub, conn: Connection, row: Any, now: dt.datetime) -> None:
    """Tell the partners holding data of each household the withdrawn consent covered (those whose
    contract subscribes to ``consent.withdrawn``), each in its own pseudonym; a community's withdrawal,
    once for the community's area."""
    data = {"status": WITHDRAWN, "purposes": list(row.purposes), "decided_on": now.date().isoformat()}
    homes = households_of(conn, row.subject_kind, row.subject_ref)
    if row.subject_kind == "community":
        notify(hub, conn, "consent.withdrawn", household_id=None, concerns=partners_holding(hub, conn, homes),
               data={**data, "area": row.subject_ref[:6]})
        return
    for home in sorted(homes):
        notify(hub, conn, "consent.withdrawn", household_id=home, concerns=partners_holding(hub, conn, [home]),
               data=data)


def withdraw(hub: Hub, consent_id: str, *, actor: str, reason: str, now: dt.datetime | None = None) -> str:
    return change(hub, consent_id, WITHDRAWN, actor=actor, reason=reason, now=now)


def expire_due(hub: Hub, *, actor: str, now: dt.datetime | None = None) -> list[str]:
    """Mark every ``given`` consent past its expiry as ``expired`` (with receipts); returns their ids.
    Decisions treat them as expired from the expiry time whether or not this has run."""
    now = now or clock.now()
    t = consents
    with hub.engine.begin() as conn:
        due = conn.execute(select(t.c.id).where(t.c.status == GIVEN, t.c.expires_at <= now)).scalars().all()
        for consent_id in due:
            change_in(hub, conn, consent_id, EXPIRED, actor=actor, reason="expiry date reached", now=now)
    return list(due)


def get_consent(conn: Connection, consent_id: str) -> Any:
    row = conn.execute(select(consents).where(consents.c.id == consent_id)).first()
    if row is None:
        raise ConsentError(f"no consent {consent_id}")
    return row


def list_consents(conn: Connection, *, subject_ref: str | None = None, status: str | None = None,
                  at: dt.datetime | None = None) -> list[Any]:
    """Stored decisions (newest first), optionally of one subject and in one effective status."""
    t = consents
    query = select(t).order_by(t.c.decided_at.desc(), t.c.seq.desc())
    if subject_ref:
        query = query.where(t.c.subject_ref == subject_ref)
    rows = conn.execute(query).all()
    at = at or clock.now()
    return [r for r in rows if status is None or effective_status(r, at) == status]


def read_consents(hub: Hub, *, actor: str, subject_ref: str | None = None, community: str | None = None,
                  status: str | None = None, at: dt.datetime) -> list[Any]:
    """:func:`list_consents` for someone to see; the read is audited (nothing is returned unless it is)."""
    with hub.engine.begin() as conn:
        rows = list_consents(conn, subject_ref=subject_ref, status=status, at=at)
        hub.audit.append(conn, DecisionsRead(resource="consent:decisions", community=community, rows=len(rows)),
                         actor=actor)
    return rows


def read_receipt(hub: Hub, consent_id: str, *, actor: str) -> str | None:
    """The latest signed receipt of a decision, if it has one; the read is audited."""
    t = consent_receipts
    with hub.engine.begin() as conn:
        token = conn.execute(select(t.c.jws).where(t.c.consent_id == consent_id)
                             .order_by(t.c.issued_at.desc()).limit(1)).scalar()
        if token is not None:
            subject = conn.execute(select(consents.c.subject_kind, consents.c.subject_ref)
                                   .where(consents.c.id == consent_id)).one()
            community = subject.subject_ref if subject.subject_kind == "community" else None
            hub.audit.append(conn, DecisionsRead(resource=f"consent:{consent_id}", community=community, rows=1),
                             actor=actor)
    return token


# ---------------------------------------------------------------------------------------------- checks


def _validated(hub: Hub, conn: Connection, new: NewConsent, *, actor: str, now: dt.datetime,
               born: dt.date | None) -> dict:
    """The ``consents`` row for ``new``, or a :class:`ConsentError` saying what rule it breaks."""
    if new.status not in (GIVEN, REFUSED, REQUESTED):
        raise ConsentError(f"a new decision is given, refused or requested, not {new.status!r}")
    purposes = check_purposes(list(new.purposes), hub.purposes)
    if new.objection or (new.status == REFUSED and EVERYONE in new.recipients):
        recipients = [EVERYONE]  # an objection, or a refusal towards everyone
    else:
        recipients = sorted({check_recipient(r) for r in new.recipients})
    if not recipients:
        raise ConsentError("name at least one recipient")
    decided = new.decided_at or now
    if new.expires_at is not None and new.expires_at <= decided:
        raise ConsentError("the expiry must come after the decision")
    if new.objection and (new.subject.kind != "person" or new.status != REFUSED):
        raise ConsentError("an objection is a person's refusal")
    if new.sensitive and (new.subject.kind != "person" or new.status == REFUSED):
        raise ConsentError("explicit consent to sensitive data is given by a person (or their guardian)")
    grantor = _checked_grantor(hub, conn, new, on=decided.date(), born=born)
    if not new.evidence:
        raise ConsentError("record the evidence: the form, meeting or document, and how it was collected")
    return {"id": uuid.uuid4().hex, "subject_kind": new.subject.kind, "subject_ref": new.subject.ref,
            "purposes": purposes, "recipients": recipients, "sensitive": new.sensitive, "objection": new.objection,
            "status": new.status, "grantor": grantor, "evidence": dict(new.evidence), "decided_at": decided,
            "expires_at": new.expires_at, "changed_at": now, "recorded_by": actor, "origin": new.origin}


def _checked_grantor(hub: Hub, conn: Connection, new: NewConsent, *, on: dt.date, born: dt.date | None) -> dict:
    g, kind = new.grantor, new.subject.kind
    if kind == "community":
        if g.kind != "stewards" or not g.stewards:
            raise ConsentError("a community decides through its registered data stewards (name at least one)")
        for steward_id in g.stewards:
            active_steward(conn, steward_id, new.subject.ref)
        if new.status != REQUESTED and not (new.evidence.get("meeting") or new.evidence.get("document")):
            raise ConsentError("a community decision records the meeting or document that made it")
        return g.as_json()
    if kind == "household":
        if g.kind != "household":
            raise ConsentError("a household decides through a member (grantor kind household)")
        return g.as_json()
    if g.kind not in ("self", "guardian"):
        raise ConsentError("a person decides for themselves, or a guardian for a minor")
    if g.kind == "guardian" and (not g.guardian_ref or not g.relation):
        raise ConsentError("a guardian's decision names the guardian (citizen ID) and their relation")
    if new.status != GIVEN:
        return g.as_json()  # a refusal or an objection is honoured whoever makes it, minor or not
    age, how = _age(hub, conn, new.subject, on=on, born=born)
    if g.kind == "self" and age < MAJORITY:
        raise ConsentError(f"this person is a minor (under {MAJORITY}); a guardian gives consent for them")
    if g.kind == "guardian" and age >= MAJORITY:
        raise ConsentError("this person is of age; they give consent themselves")
    return {**g.as_json(), "age_checked_from": how}


def _age(hub: Hub, conn: Connection, subject: Subject, *, on: dt.date, born: dt.date | None) -> tuple[int, str]:
    """The person's age on ``on`` in whole years, and what it was worked out from."""
    if born is not None:
        return _years(born, on), "birth date shown"
    r = source_records
    kind, value = subject.ref.split(":", 1)
    where = r.c.linkage_key == bytes.fromhex(value) if kind == "cid" else record_links.c.person_id == value
    rows = conn.execute(select(r.c.source, r.c.record_id, r.c.birth_year, r.c.birth_date_enc)
                        .select_from(linked_records).where(where)).all()
    years = {row.birth_year for row in rows if row.birth_year}
    if not years:
        raise ConsentError("no birth date on record for this person; give the birth date shown on their card")
    youngest = max(years)
    if on.year - youngest > MAJORITY:  # 20 at least, whatever the day
        return on.year - youngest - 1, "birth year on record"
    if on.year - youngest < MAJORITY:  # 19 at most
        return on.year - youngest, "birth year on record"
    dates = [hub.cipher.decrypt(row.birth_date_enc, aad("source_records", row.source, row.record_id, "birth_date"))
             for row in rows if row.birth_year == youngest and row.birth_date_enc]
    full = sorted(d for d in dates if d and len(d) == 10)
    if not full:  # born in the year that makes them 20 or 19: without the day, treat them as a minor
        return MAJORITY - 1, "birth year on record"
    return _years(dt.date.fromisoformat(full[-1]), on), "birth date on record"


def _years(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
