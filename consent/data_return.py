"""Data return: a community's stewards read their own households, merged across sources and identified,
where the community's consent holds. A household with anyone who opted out (or any member not allowed)
appears only inside the counts. The read is audited in the same transaction, before anything is
returned (fail closed)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select

from consent import clock
from consent.decisions import BulkDecision, Question, Recipient, decide_bulk, load_standing
from consent.events import DataReturnRead
from consent.population import load_population
from consent.stewards import active_steward
from consent.subjects import community, village_code
from hub.context import Hub
from hub.crypto import aad, subject_key_id
from hub.db.schema import linked_records, record_links, source_households, source_records
from hub.errors import ContractViolation

PURPOSE = "community_planning"


@dataclass
class Member:
    person_id: str
    title: str | None
    first_name: str | None
    last_name: str | None
    birth_date: str | None
    sex: str | None
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # source -> its attributes


@dataclass
class ReturnedHousehold:
    household_id: str
    village: str
    house_no: str | None
    members: list[Member]
    sources: dict[str, dict[str, Any]]  # household-level facts per source (survey capitals, logbook groups)
    consent_basis: str


@dataclass
class DataReturnView:
    community: str
    households: list[ReturnedHousehold]
    counted_only_households: int
    counted_only_persons: int

    @property
    def persons(self) -> int:
        return sum(len(h.members) for h in self.households)


def read_view(hub: Hub, community_code: str, *, steward_id: int, actor: str,
              at: dt.datetime | None = None) -> DataReturnView:
    """The community's households as its steward ``steward_id`` may see them now, under the contract that
    returns identified data to communities (:class:`ContractViolation` when none is in force)."""
    if not any(view.identified and view.purpose == PURPOSE for _, view in hub.contracts.views()):
        raise ContractViolation("no contract in force returns identified data to communities "
                                "(a view with identified = true for community_planning)")
    subject = community(community_code)
    at = at or clock.now()
    with hub.engine.begin() as conn:
        active_steward(conn, steward_id, subject.ref, may_cover=True)
        inside, shown, decision = shown_households(conn, subject.ref, at)
        hidden = inside[~inside["household_id"].isin(shown)]
        households = _identified(hub, conn, inside[inside["household_id"].isin(shown)], decision)
        view = DataReturnView(subject.ref, households, hidden["household_id"].nunique(), hidden["person_id"].nunique())
        hub.audit.append(conn, DataReturnRead(
            resource=f"community:{subject.ref}", community=subject.ref, steward_id=steward_id,
            households_identified=len(view.households), persons_identified=view.persons,
            households_counted_only=view.counted_only_households), actor=actor)
    return view


def shown_households(conn, community_code: str, at: dt.datetime) -> tuple[pd.DataFrame, set[str], BulkDecision]:
    """The records whose household lives in the community (with ``allowed`` and ``basis``), the households
    its stewards see identified at ``at`` (every member allowed), and the consent decision."""
    population = load_population(conn, tambon=community_code[:6])
    question = Question(PURPOSE, Recipient(community=community_code))
    decision = decide_bulk(population, load_standing(conn), question, at)
    frame = population.frame.assign(allowed=decision.allowed, basis=decision.basis)
    inside = frame[population.inside(community_code)]
    by_household = inside.groupby("household_id")["allowed"].all()
    return inside, set(by_household.index[by_household]), decision


def _identified(hub: Hub, conn, frame, decision) -> list[ReturnedHousehold]:
    """Decrypt and merge the records of the households shown, per household and person."""
    if frame.empty:
        return []
    r, h, links = source_records, source_households, record_links
    ids = sorted(set(frame["household_id"]))
    rows = conn.execute(select(r, links.c.person_id, links.c.household_id).select_from(linked_records)
                        .where(links.c.household_id.in_(ids))).all()
    units = conn.execute(select(h).where(h.c.household_id.in_(ids), h.c.deleted.is_(False))).all()
    basis_of = dict(zip(frame["household_id"], frame["basis"]))
    area = {hid: (t, m) for hid, t, m in zip(frame["household_id"], frame["tambon"], frame["moo"])}
    hub.cipher.subjects.prefetch(conn, {subject_key_id(getattr(row, f"{name}_enc")) for row in rows
                                        for name in ("first_name", "last_name", "birth_date", "house_no")} - {None})
    members: dict[str, dict[str, Member]] = defaultdict(dict)
    house_no: dict[str, str | None] = {}
    for row in rows:
        def clear(name: str, row=row) -> str | None:
            return hub.cipher.decrypt(getattr(row, f"{name}_enc"), aad("source_records", row.source, row.record_id,
                                                                        name))
        member = members[row.household_id].setdefault(row.person_id, Member(
            row.person_id, row.title, clear("first_name"), clear("last_name"), clear("birth_date"), row.sex))
        member.sources[row.source] = row.attributes
        house_no.setdefault(row.household_id, clear("house_no"))
    unit_facts: dict[str, dict[str, Any]] = defaultdict(dict)
    for unit in units:
        unit_facts[unit.household_id][unit.source] = unit.attributes
        number = hub.cipher.decrypt(unit.house_no_enc, aad("source_households", unit.source, unit.household_ref,
                                                           "house_no"))
        if number:
            house_no[unit.household_id] = number
    out = []
    for hid in ids:
        tambon, moo = area[hid]
        village = village_code(tambon, None if pd.isna(moo) else int(moo)) or tambon
        people = sorted(members[hid].values(), key=lambda m: m.person_id)
        out.append(ReturnedHousehold(hid, village, house_no.get(hid), people, unit_facts.get(hid, {}),
                                     decision.basis_name(int(basis_of[hid]))))
    return out

