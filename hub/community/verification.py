"""Community verification: a community's data stewards say what one of their households was found to be.

A verification is a source of its own, with who (the steward), when and on what evidence; the newest per
household outranks the sources in the views (:mod:`hub.views.facts`): a household on TPMAP's list found
``not_poor`` is an inclusion error, a poor one missing from the list an exclusion error, and one that
``moved`` or is ``deceased`` is no longer counted as in need where it was. A steward verifies only the
households their data-return page shows them (living in their community, consent holding); any other
household id gets the same answer as one that does not exist. Each verification is audited and announced
to the partners whose sources hold the household, under their contracts (:mod:`hub.notify`).
"""
from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from consent import clock
from consent.subjects import community
from hub.community.access import community_household
from hub.community.concerns import partners_holding
from hub.community.events import HouseholdVerified
from hub.context import Hub
from hub.crypto import aad
from hub.db.bulk import key_chunks
from hub.db.schema import household_verifications, notifications
from hub.errors import HubError
from hub.notify.catalogue import admissible
from hub.notify.outbox import notify
from hub.thai.citizen_id import mentions_citizen_id

STATUSES = ("poor", "not_poor", "moved", "deceased")
METHODS = ("visit", "meeting", "document", "phone")
MAX_NOTE = 500


class VerificationError(HubError):
    """A verification that cannot be recorded as given (its status or evidence)."""


@dataclass(frozen=True)
class Verified:
    household_id: str
    status: str
    previous_status: str | None
    notified: list[str]


def check_evidence(evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence checked: a ``method`` of :data:`METHODS` and an optional short ``note`` without a
    citizen ID; :class:`VerificationError` otherwise."""
    method, note = evidence.get("method"), evidence.get("note", "")
    if method not in METHODS:
        raise VerificationError(f"evidence method {method!r}: expected one of {', '.join(METHODS)}")
    if set(evidence) - {"method", "note"}:
        raise VerificationError(f"evidence takes a method and a note, not {sorted(set(evidence) - {'method', 'note'})}")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise VerificationError(f"the evidence note must be text of at most {MAX_NOTE} characters")
    if mentions_citizen_id(note):
        raise VerificationError("the evidence note may not hold a citizen ID; describe the evidence without it")
    return {"method": method, "note": note.strip()}


def _stored(hub: Hub, evidence: dict[str, Any], household_id: str) -> dict[str, Any]:
    """The evidence as the table keeps it: the note (it may name people) encrypted like every personal field."""
    if not evidence["note"]:
        return {"method": evidence["method"]}
    sealed = hub.cipher.encrypt(evidence["note"], aad("household_verifications", "community", household_id, "note"))
    return {"method": evidence["method"], "note_enc": base64.b64encode(sealed).decode("ascii")}


def verify_household(hub: Hub, *, community_code: str, steward_id: int, household_id: str, status: str,
                     evidence: dict[str, Any], actor: str, at: dt.datetime | None = None) -> Verified:
    """Record that steward ``steward_id`` of ``community_code`` found household ``household_id`` to be
    ``status``; audited and announced in the same transaction."""
    if status not in STATUSES:
        raise VerificationError(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    checked = check_evidence(evidence)
    subject = community(community_code)
    at = at or clock.now()
    with hub.engine.begin() as conn:
        members = community_household(conn, subject.ref, steward_id, household_id, at)
        previous = latest_statuses(conn, [household_id]).get(household_id)
        conn.execute(insert(household_verifications).values(
            household_id=household_id, community=subject.ref, status=status, steward_id=steward_id,
            evidence=_stored(hub, checked, household_id), verified_at=at, recorded_by=actor))
        notified = notify(hub, conn, "household.verified", household_id=household_id,
                          concerns=partners_holding(hub, conn, [household_id]),
                          data=admissible({"status": status, "previous_status": previous,
                                           "area": members["tambon"].iloc[0], "decided_on": at.date().isoformat()}))
        partners = notified_partners(conn, notified)
        hub.audit.append(conn, HouseholdVerified(
            resource=f"household:{household_id}", community=subject.ref, status=status, previous_status=previous,
            steward_id=steward_id, notified=partners), actor=actor)
    return Verified(household_id, status, previous, partners)


def notified_partners(conn: Connection, notification_ids: list[int]) -> list[str]:
    """The partners of the notifications ``notification_ids``, sorted."""
    n = notifications
    return sorted(set(conn.scalars(select(n.c.partner).where(n.c.id.in_(notification_ids))))) \
        if notification_ids else []


def latest_statuses(conn: Connection, household_ids: list[str] | None = None) -> dict[str, str]:
    """The newest verification of each of ``household_ids`` (every household without) that has one: the
    stewards' verdict, which outranks the sources (one query per page of ids)."""
    v, newest = household_verifications, {}
    query = select(v.c.household_id, v.c.status).order_by(v.c.id)
    queries = [query] if household_ids is None else \
        [query.where(v.c.household_id.in_(chunk)) for chunk in key_chunks(household_ids)]
    for rows in map(conn.execute, queries):
        newest.update((row.household_id, row.status) for row in rows)  # later rows overwrite earlier ones
    return newest
