"""Referrals: households referred to an agency, tracked from ``pending`` to ``done`` or ``rejected``.

A referral comes from a university survey (its ``referrals``, picked up after each link run, when the
survey's households have their ids) or is raised by a community's stewards. Its status only moves
forward (pending -> accepted -> done / rejected): a later survey batch repeating an older status changes
nothing. The agency whose partner id is the referral's agency (``MSDHS`` -> ``msdhs``) sees its queue in
its own pseudonyms and moves referrals on through the API; every change is kept (``referral_changes``),
audited and announced to the partners concerned (the agency and the surveying university). A referral
not closed within :data:`OVERDUE_DAYS` of being made is overdue; the views count referrals by status and
overdue per area (:mod:`hub.views.facts`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, bindparam, func, insert, select, update

from audit.chain import Entry
from audit.context import current_request_id
from consent import clock
from consent.population import home_areas
from consent.subjects import community, village_code
from hub.community import CLOSED, REFERRAL_STATUSES, overdue, overdue_before
from hub.community.access import community_household
from hub.community.events import ReferralChanged, ReferralCreated, ReferralQueueRead
from hub.context import Hub
from hub.db.bulk import key_chunks
from hub.db.schema import (
    ingest_runs,
    linked_records,
    record_links,
    referral_changes,
    referrals,
    source_households,
    source_records,
)
from hub.errors import HubError
from hub.notify.catalogue import FIELDS, admissible
from hub.notify.outbox import ACTOR as NOTIFY_ACTOR
from hub.notify.outbox import Notice, household_pseudonyms, queue

STATUSES = REFERRAL_STATUSES
_RANK = {"pending": 0, "accepted": 1, "done": 2, "rejected": 2}
SURVEY = "university_survey"


class ReferralError(HubError):
    """A referral change that cannot be made (a status that does not move it forward)."""


class ReferralNotFound(HubError):
    """No such referral for this agency (or none at all: the same answer)."""


@dataclass(frozen=True)
class Tracked:
    created: int
    changed: int


def moves_forward(old: str, new: str) -> bool:
    return _RANK[new] > _RANK[old]


def agency_partner(hub: Hub, agency: str) -> str | None:
    """The partner id (a contract in force) of the agency a referral names, if it has one."""
    wanted = agency.strip().lower()
    return next((c.contract.partner.id for c in hub.contracts.in_force() if c.contract.partner.id == wanted), None)


def _surveyors(hub: Hub, conn: Connection, origin_ref: str) -> frozenset[str]:
    """The partners whose survey raised the referral ``origin_ref`` (``<survey id>/<referral id>``): the
    university whose own record the survey is, where universities mark theirs."""
    h = source_households
    attributes = conn.scalar(select(h.c.attributes).where(h.c.source == SURVEY,
                                                          h.c.household_ref == origin_ref.rsplit("/", 1)[0]))
    return frozenset(hub.contracts.providers(SURVEY, attributes)) if attributes is not None else frozenset()


@dataclass
class _Referral:
    """A referral as the hub holds it; ``id`` is ``None`` until it is written."""

    origin: str
    origin_ref: str
    household_id: str
    agency: str
    need: str
    status: str
    referred_on: dt.date
    id: int | None = None

    @property
    def survey_ref(self) -> str | None:
        """The id a survey gave the referral (``None`` when its reference was too long for the column and
        is kept as a digest)."""
        return self.origin_ref.rsplit("/", 1)[-1] if "/" in self.origin_ref else None


@dataclass(frozen=True)
class _Step:
    """One change to a referral: made (``old`` is ``None``) or moved on from ``old`` to ``new``, in ``area``
    (the household's tambon or village); ``partner``: the agency that moved it through the API;
    ``surveyors``: the partners whose survey raised it, when the caller knows them."""

    referral: _Referral
    old: str | None
    new: str
    area: str
    note: str
    partner: str | None = None
    surveyors: frozenset[str] | None = None


def _apply(hub: Hub, conn: Connection, steps: list[_Step], *, actor: str, now: dt.datetime) -> None:
    """Write ``steps`` in the caller's transaction, in one statement per table: referrals made and moved on,
    every change kept, the agency and the surveying university told (the agency by the hub's referral id,
    which its API calls use; the university by its survey's own), each change and notification audited
    in the order of ``steps``."""
    made = [step for step in steps if step.old is None]
    if made:
        r = referrals
        rows = [{"origin": m.origin, "origin_ref": m.origin_ref, "household_id": m.household_id, "agency": m.agency,
                 "need": m.need, "status": s.new, "referred_on": m.referred_on, "changed_at": now}
                for s in made for m in (s.referral,)]
        ids = conn.execute(insert(r).returning(r.c.id, sort_by_parameter_order=True), rows).scalars().all()
        for step, referral_id in zip(made, ids):
            step.referral.id = referral_id
    moved = {step.referral.id: step.new for step in steps if step.old is not None}  # the last move of each wins
    if moved:
        conn.execute(update(referrals).where(referrals.c.id == bindparam("referral")).values(
            status=bindparam("moved_to"), changed_at=now), [{"referral": i, "moved_to": to} for i, to in moved.items()])
    conn.execute(insert(referral_changes), [
        {"referral_id": s.referral.id, "old_status": s.old, "new_status": s.new, "changed_at": now,
         "changed_by": actor, "note": s.note} for s in steps])
    partners = {agency: agency_partner(hub, agency) for agency in {s.referral.agency for s in steps}}
    announced = [_notices(hub, conn, step, partners[step.referral.agency], now) for step in steps]
    queued = iter(queue(hub, conn, [notice for notices in announced for notice in notices]))
    request = current_request_id()
    entries = []
    for step, notices in zip(steps, announced):
        entries += [Entry(event, NOTIFY_ACTOR, request) for _ in notices for event in next(queued)]
        entries.append(Entry(_event(step), actor, request))
    hub.audit.append_entries(conn, entries)


def _notices(hub: Hub, conn: Connection, step: _Step, partner: str | None, now: dt.datetime) -> list[Notice]:
    referral = step.referral
    if step.old is None:
        kind, fields = "referral.created", {"decided_on": referral.referred_on.isoformat()}
    else:
        kind, fields = "referral.changed", {"previous_status": step.old, "decided_on": now.date().isoformat()}
    fields.update(agency=referral.agency, need=referral.need, status=step.new, area=step.area)
    out = []
    if partner:
        out.append(Notice(kind, referral.household_id, [partner], _notice(referral=referral.id, **fields)))
    if referral.origin == SURVEY:
        surveyors = step.surveyors if step.surveyors is not None else _surveyors(hub, conn, referral.origin_ref)
        out.append(Notice(kind, referral.household_id, surveyors - {partner},
                          _notice(referral=referral.survey_ref, **fields)))
    return out


def _event(step: _Step) -> ReferralCreated | ReferralChanged:
    referral = step.referral
    if step.old is None:
        return ReferralCreated(resource=f"referral:{referral.id}", origin=referral.origin,
                               agency=_logged(referral.agency, "agency"), need=_logged(referral.need, "need"),
                               status=step.new, area=step.area)
    return ReferralChanged(resource=f"referral:{referral.id}", old_status=step.old, new_status=step.new,
                           area=step.area, partner=step.partner)


def track_survey_referrals(hub: Hub, conn: Connection, *, after: int | None, actor: str,
                           now: dt.datetime | None = None) -> Tracked:
    """Bring the referrals up to the survey households written by ingest runs that committed after
    ``after`` (``ingest_runs.committed``; all of them when ``None``), in the caller's transaction: new
    referrals made, statuses moved forward."""
    now = now or clock.now()
    h, runs = source_households, ingest_runs
    query = select(h.c.household_ref, h.c.household_id, h.c.tambon_code, h.c.attributes) \
        .where(h.c.source == SURVEY, h.c.deleted.is_(False)).order_by(h.c.run_id, h.c.line)  # batches in order
    if after is not None:
        query = query.where(h.c.run_id.in_(select(runs.c.id).where(runs.c.committed > after)))
    units = conn.execute(query).all()
    r = referrals
    known = {row.origin_ref: _Referral(row.origin, row.origin_ref, row.household_id, row.agency, row.need, row.status,
                                       row.referred_on, row.id)
             for row in conn.execute(select(r).where(r.c.origin == SURVEY))}
    steps: list[_Step] = []
    for unit in units:
        listed = [item for item in (unit.attributes or {}).get("referrals") or ()
                  if item.get("referral_id") and item.get("status") in STATUSES]
        surveyors = frozenset(hub.contracts.providers(SURVEY, unit.attributes)) if listed else frozenset()
        for item in listed:
            status = item["status"]
            ref = _fit(f"{unit.household_ref}/{item['referral_id']}", 64)  # referral ids are a survey's own
            referral = known.get(ref)
            if referral is None:
                referral = known[ref] = _Referral(
                    SURVEY, ref, unit.household_id, _fit(str(item.get("agency") or "?"), 32),
                    _fit(str(item.get("need") or "?"), 64), status, _date(item.get("referred_on"), now))
                steps.append(_Step(referral, None, status, unit.tambon_code, f"made ({SURVEY})", surveyors=surveyors))
            elif moves_forward(referral.status, status):
                steps.append(_Step(referral, referral.status, status, unit.tambon_code, "a later survey batch",
                                   surveyors=surveyors))
                referral.status = status
    if steps:
        _apply(hub, conn, steps, actor=actor, now=now)
    return Tracked(sum(step.old is None for step in steps), sum(step.old is not None for step in steps))


def raise_referral(hub: Hub, *, community_code: str, steward_id: int, household_id: str, agency: str, need: str,
                   actor: str, now: dt.datetime | None = None) -> int:
    """A community's stewards refer one of the households they see to ``agency``; returns its id."""
    if not agency.strip() or not need.strip():
        raise ReferralError("a referral names the agency and the need")
    subject = community(community_code)
    now = now or clock.now()
    with hub.engine.begin() as conn:
        tambon = community_household(conn, subject.ref, steward_id, household_id, now)["tambon"].iloc[0]
        referral = _Referral("community", f"{subject.ref}:{uuid.uuid4().hex[:12]}", household_id,
                             agency.strip().upper(), need.strip(), "pending", now.date())
        _apply(hub, conn, [_Step(referral, None, "pending", tambon, "made (community)")], actor=actor, now=now)
        return referral.id


def move_referral(hub: Hub, referral_id: int, status: str, *, partner: str | None, note: str, actor: str,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """The agency ``partner`` (``None``: the operator) moves its referral on to ``status``."""
    if status not in STATUSES:
        raise ReferralError(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    now = now or clock.now()
    with hub.engine.begin() as conn:
        row = conn.execute(select(referrals).where(referrals.c.id == referral_id).with_for_update()).first()
        if row is None or (partner is not None and agency_partner(hub, row.agency) != partner):
            raise ReferralNotFound(f"no referral {referral_id} in your queue")
        if not moves_forward(row.status, status):
            raise ReferralError(f"referral {referral_id} is {row.status}; it cannot become {status}")
        area = _homes(conn, [row.household_id]).get(row.household_id, ("", None))[0]
        referral = _Referral(row.origin, row.origin_ref, row.household_id, row.agency, row.need, row.status,
                             row.referred_on, row.id)
        _apply(hub, conn, [_Step(referral, row.status, status, area, note, partner=partner)], actor=actor, now=now)
    return {"id": referral_id, "status": status, "changed_at": now.isoformat()}


@dataclass(frozen=True)
class Queue:
    """A page of an agency's referral queue, and how many referrals (and overdue ones) match in all."""

    rows: list[dict[str, Any]]
    total: int
    overdue: int
    next_offset: int | None


def agency_queue(hub: Hub, partner: str, *, actor: str, status: str | None = None, area: str | None = None,
                 offset: int = 0, limit: int = 500, today: dt.date | None = None) -> Queue:
    """The referrals to ``partner``'s agency, oldest first, ``limit`` from ``offset``: each household in the
    partner's pseudonym, its village, the need, status and dates (no names). The read is audited. Without
    ``area`` the page is cut by the database; with one, the referrals of households with a record in the
    area's tambons are placed (their home village found) and those at home in ``area`` kept."""
    today, partner = today or clock.now().date(), partner.lower()
    r = referrals
    mine = select(r).where(func.lower(r.c.agency) == partner, *([r.c.status == status] if status else []))
    with hub.engine.begin() as conn:
        if not agency_partner(hub, partner):
            page, total, late = [], 0, 0
        elif area is None:
            page = _placed(conn, conn.execute(mine.order_by(r.c.referred_on, r.c.id).offset(offset).limit(limit)))
            counted = mine.subquery()
            total, late = conn.execute(select(func.count(), func.count().filter(
                counted.c.status.not_in(CLOSED), counted.c.referred_on < overdue_before(today)))).one()
        else:
            near = mine.where(r.c.household_id.in_(_with_records_in(area)))
            placed = [(row, village) for row, village in
                      _placed(conn, conn.execute(near.order_by(r.c.referred_on, r.c.id))) if village.startswith(area)]
            page, total = placed[offset:offset + limit], len(placed)
            late = sum(overdue(row.status, row.referred_on, today) for row, _ in placed)
        names = household_pseudonyms(hub.keyring, partner, [row.household_id for row, _ in page])
        out = [{"id": row.id, "household": pseudonym, "village": village, "agency": row.agency, "need": row.need,
                "status": row.status, "referred_on": row.referred_on.isoformat(), "origin": row.origin,
                "overdue": overdue(row.status, row.referred_on, today)}
               for (row, village), pseudonym in zip(page, names)]
        hub.audit.append(conn, ReferralQueueRead(resource=f"referrals:{partner}", partner=partner, rows=len(out)),
                         actor=actor)
    return Queue(out, total, late, offset + limit if offset + limit < total else None)


def _with_records_in(area: str):
    """The households with a record whose tambon code begins as ``area`` does (to its sixth character): a
    superset of those whose home lies in ``area``, found through the index on the records' tambon, so
    that an area's queue places its own households and not every household the agency serves."""
    t, prefix = source_records, area[:6]
    if len(prefix) == 6:
        where = [t.c.tambon_code == prefix]
    else:  # a range, not LIKE: SQLite's LIKE ignores case and so cannot use the index
        where = [t.c.tambon_code >= prefix]
        if prefix.isdigit() and prefix.strip("9"):
            where.append(t.c.tambon_code < str(int(prefix) + 1).zfill(len(prefix)))
    return select(record_links.c.household_id).select_from(linked_records).where(*where)


def _placed(conn: Connection, rows) -> list[tuple[Any, str]]:
    """Each referral row with its household's village (or tambon) now."""
    rows = list(rows)
    homes = _homes(conn, sorted({row.household_id for row in rows}))
    return [(row, _village(homes.get(row.household_id, ("", None)))) for row in rows]


def _fit(text: str, width: int) -> str:
    """``text`` if it fits the column, else its SHA-256 (hex, 64 characters) cut to ``width``: a survey's
    free text cannot make a link run fail on PostgreSQL, which enforces column widths."""
    return text if len(text) <= width else hashlib.sha256(text.encode()).hexdigest()[:width]


def _logged(text: str, field: str) -> str:
    """An agency or need as the audit log keeps it: a plain code (``housing_repair``, ``MSDHS``), as a
    notification may carry it, or not at all (a survey's free text may name a person)."""
    return text if FIELDS[field].valid(text.lower()) else "(free text, not logged)"


def _notice(**fields: Any) -> dict[str, Any]:
    """A referral's notification fields: the agency as its partner id (lower case); a survey's free text
    where a code goes, or an area the household has none of, left out."""
    return admissible({**fields, "agency": fields["agency"].lower()})


def _village(home: tuple[str, int | None]) -> str:
    """A home (tambon, moo) as the village code, or the tambon outside villages."""
    tambon, moo = home
    return village_code(tambon, moo) or tambon


def _homes(conn: Connection, household_ids: list[str]) -> dict[str, tuple[str, int | None]]:
    """Each household's home (tambon, moo): its records' most common."""
    if not household_ids:
        return {}
    r, links = source_records, record_links
    query = select(links.c.household_id, r.c.tambon_code, r.c.moo, r.c.source).select_from(linked_records)
    found = [row for chunk in key_chunks(household_ids)
             for row in conn.execute(query.where(links.c.household_id.in_(chunk)))]
    frame = pd.DataFrame(found, columns=["household_id", "tambon", "moo", "source"])
    homes = home_areas(frame).drop_duplicates("household_id")
    return {h: (t, None if pd.isna(m) else int(m)) for h, t, m in zip(homes["household_id"], homes["tambon"],
                                                                     homes["moo"])}


def _date(value: Any, now: dt.datetime) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return now.date()
