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
from sqlalchemy import Connection, func, insert, select, update

from consent import clock
from consent.population import home_areas
from consent.subjects import community, village_code
from hub.community import CLOSED, REFERRAL_STATUSES, overdue, overdue_before
from hub.community.access import community_household
from hub.community.events import ReferralChanged, ReferralCreated, ReferralQueueRead
from hub.context import Hub
from hub.db.bulk import key_chunks
from hub.db.schema import ingest_runs, referral_changes, referrals, source_households, source_records
from hub.errors import HubError
from hub.notify.catalogue import FIELDS, admissible
from hub.notify.outbox import notify
from hub.views.microdata import partner_key, pseudonyms

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


def _surveyors(hub: Hub, conn: Connection, origin_ref: str) -> set[str]:
    """The partners whose survey raised the referral ``origin_ref`` (``<survey id>/<referral id>``): the
    university whose own record the survey is, where universities mark theirs."""
    h = source_households
    attributes = conn.scalar(select(h.c.attributes).where(h.c.source == SURVEY,
                                                          h.c.household_ref == origin_ref.rsplit("/", 1)[0]))
    return hub.contracts.providers(SURVEY, attributes) if attributes is not None else set()


def _announce(hub: Hub, conn: Connection, kind: str, *, referral_id: int, origin: str, origin_ref: str,
              household_id: str, agency: str, **fields: Any) -> None:
    """Tell the agency (naming the referral by the hub's id, which its API calls use) and, for a surveyed
    referral, the surveying university (naming it by the survey's own referral id)."""
    partner = agency_partner(hub, agency)
    if partner:
        notify(hub, conn, kind, household_id=household_id, concerns=[partner],
               data=_notice(referral=referral_id, agency=agency, **fields))
    if origin == SURVEY:
        notify(hub, conn, kind, household_id=household_id, concerns=_surveyors(hub, conn, origin_ref) - {partner},
               data=_notice(referral=origin_ref.rsplit("/", 1)[-1], agency=agency, **fields))


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
    known = {row.origin_ref: row for row in conn.execute(select(referrals).where(referrals.c.origin == SURVEY))}
    created = changed = 0
    for unit in units:
        for item in (unit.attributes or {}).get("referrals") or ():
            status = item.get("status")
            if not item.get("referral_id") or status not in STATUSES:
                continue
            ref = _fit(f"{unit.household_ref}/{item['referral_id']}", 64)  # referral ids are a survey's own
            row = known.get(ref)
            if row is None:
                referral_id = _create(hub, conn, origin=SURVEY, origin_ref=ref, household_id=unit.household_id,
                                      agency=_fit(str(item.get("agency") or "?"), 32),
                                      need=_fit(str(item.get("need") or "?"), 64), status=status,
                                      referred_on=_date(item.get("referred_on"), now), area=unit.tambon_code,
                                      actor=actor, now=now)
                created += 1
            elif moves_forward(row.status, status):
                referral_id = row.id
                _change(hub, conn, row, status, area=unit.tambon_code, partner=None, note="a later survey batch",
                        actor=actor, now=now)
                changed += 1
            else:
                continue
            known[ref] = conn.execute(select(referrals).where(referrals.c.id == referral_id)).one()
    return Tracked(created, changed)


def raise_referral(hub: Hub, *, community_code: str, steward_id: int, household_id: str, agency: str, need: str,
                   actor: str, now: dt.datetime | None = None) -> int:
    """A community's stewards refer one of the households they see to ``agency``; returns its id."""
    if not agency.strip() or not need.strip():
        raise ReferralError("a referral names the agency and the need")
    subject = community(community_code)
    now = now or clock.now()
    with hub.engine.begin() as conn:
        tambon = community_household(conn, subject.ref, steward_id, household_id, now)["tambon"].iloc[0]
        return _create(hub, conn, origin="community", origin_ref=f"{subject.ref}:{uuid.uuid4().hex[:12]}",
                       household_id=household_id, agency=agency.strip().upper(), need=need.strip(),
                       status="pending", referred_on=now.date(), area=tambon, actor=actor, now=now)


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
        _change(hub, conn, row, status, area=area, partner=partner, note=note, actor=actor, now=now)
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
    ``area`` the page is cut by the database; with one, every referral's household is placed first."""
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
            placed = [(row, village) for row, village in
                      _placed(conn, conn.execute(mine.order_by(r.c.referred_on, r.c.id))) if village.startswith(area)]
            page, total = placed[offset:offset + limit], len(placed)
            late = sum(overdue(row.status, row.referred_on, today) for row, _ in placed)
        names = pseudonyms(pd.Series([row.household_id for row, _ in page], dtype=object),
                           key=partner_key(hub.keyring, partner), kind="household").tolist()
        out = [{"id": row.id, "household": pseudonym, "village": village, "agency": row.agency, "need": row.need,
                "status": row.status, "referred_on": row.referred_on.isoformat(), "origin": row.origin,
                "overdue": overdue(row.status, row.referred_on, today)}
               for (row, village), pseudonym in zip(page, names)]
        hub.audit.append(conn, ReferralQueueRead(resource=f"referrals:{partner}", partner=partner, rows=len(out)),
                         actor=actor)
    return Queue(out, total, late, offset + limit if offset + limit < total else None)


def _placed(conn: Connection, rows) -> list[tuple[Any, str]]:
    """Each referral row with its household's village (or tambon) now."""
    rows = list(rows)
    homes = _homes(conn, sorted({row.household_id for row in rows}))
    return [(row, _village(homes.get(row.household_id, ("", None)))) for row in rows]


def _create(hub: Hub, conn: Connection, *, origin: str, origin_ref: str, household_id: str, agency: str, need: str,
            status: str, referred_on: dt.date, area: str, actor: str, now: dt.datetime) -> int:
    referral_id = conn.execute(insert(referrals).values(
        origin=origin, origin_ref=origin_ref, household_id=household_id, agency=agency, need=need, status=status,
        referred_on=referred_on, changed_at=now)).inserted_primary_key[0]
    conn.execute(insert(referral_changes).values(referral_id=referral_id, old_status=None, new_status=status,
                                                 changed_at=now, changed_by=actor, note=f"made ({origin})"))
    _announce(hub, conn, "referral.created", referral_id=referral_id, origin=origin, origin_ref=origin_ref,
              household_id=household_id, agency=agency, need=need, status=status, area=area,
              decided_on=referred_on.isoformat())
    hub.audit.append(conn, ReferralCreated(resource=f"referral:{referral_id}", origin=origin,
                                           agency=_logged(agency, "agency"), need=_logged(need, "need"),
                                           status=status, area=area), actor=actor)
    return referral_id


def _change(hub: Hub, conn: Connection, row, status: str, *, area: str, partner: str | None, note: str, actor: str,
            now: dt.datetime) -> None:
    conn.execute(update(referrals).where(referrals.c.id == row.id).values(status=status, changed_at=now))
    conn.execute(insert(referral_changes).values(referral_id=row.id, old_status=row.status, new_status=status,
                                                 changed_at=now, changed_by=actor, note=note))
    _announce(hub, conn, "referral.changed", referral_id=row.id, origin=row.origin, origin_ref=row.origin_ref,
              household_id=row.household_id, agency=row.agency, need=row.need, status=status,
              previous_status=row.status, area=area, decided_on=now.date().isoformat())
    hub.audit.append(conn, ReferralChanged(resource=f"referral:{row.id}", old_status=row.status, new_status=status,
                                           area=area, partner=partner), actor=actor)


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
    r = source_records
    query = select(r.c.household_id, r.c.tambon_code, r.c.moo, r.c.source)
    found = [row for chunk in key_chunks(household_ids)
             for row in conn.execute(query.where(r.c.household_id.in_(chunk)))]
    frame = pd.DataFrame(found, columns=["household_id", "tambon", "moo", "source"])
    homes = home_areas(frame).drop_duplicates("household_id")
    return {h: (t, None if pd.isna(m) else int(m)) for h, t, m in zip(homes["household_id"], homes["tambon"],
                                                                     homes["moo"])}


def _date(value: Any, now: dt.datetime) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return now.date()
