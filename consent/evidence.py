"""The university survey's paper ``consent`` block, recorded as the household's own decisions.

Each surveyed household said on paper, before a witness, whether its data may return to its community
(``data_return``) and be shared with agencies (``share_with_agencies``). Import records each answer as a
household decision (given or refused) dated the day it was written, with the paper as evidence; it is
idempotent, and a re-submitted survey whose answer changed withdraws or gives accordingly.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from consent import clock
from consent.events import EvidenceImported
from consent.registry import Grantor, NewConsent, change_in, effective_status, record_in
from consent.subjects import household
from consent.vocabulary import GIVEN, REFUSED, WITHDRAWN
from hub.context import Hub
from hub.db.schema import consents, source_households

SOURCE = "university_survey"
#: What each paper answer is about: (purposes, recipients).
ANSWERS = {
    "data_return": (["community_planning"], ["community"]),
    "share_with_agencies": (["welfare_referral"], ["type:agency"]),
}


@dataclass(frozen=True)
class ImportReport:
    households: int
    recorded: int
    changed: int


def import_survey_evidence(hub: Hub, *, actor: str, now: dt.datetime | None = None) -> ImportReport:
    """Record every surveyed household's paper answers that are not recorded yet or have changed."""
    now = now or clock.now()
    h, c = source_households, consents
    recorded = changed = 0
    with hub.engine.begin() as conn:
        units = conn.execute(select(h.c.household_ref, h.c.household_id, h.c.version, h.c.attributes)
                             .where(h.c.source == SOURCE, h.c.deleted.is_(False))).all()
        latest = {}
        for row in conn.execute(select(c).where(c.c.origin.like(f"{SOURCE}:%")).order_by(c.c.seq)):
            latest[row.origin.split("@")[0]] = row
        for unit in units:
            paper = unit.attributes.get("consent_evidence")
            if not paper:
                continue
            for answer, (purposes, recipients) in ANSWERS.items():
                origin = f"{SOURCE}:{unit.household_ref}:{answer}"
                wanted = GIVEN if paper[answer] else REFUSED
                old = latest.get(origin)
                state = effective_status(old, now) if old is not None else None
                if state == wanted:
                    continue
                if state == GIVEN and wanted == REFUSED:
                    change_in(hub, conn, old.id, WITHDRAWN, actor=actor, now=now,
                              reason=f"the survey re-submitted on {unit.version} says no")
                    changed += 1
                elif state == REFUSED and wanted == GIVEN:
                    change_in(hub, conn, old.id, GIVEN, actor=actor, now=now, grantor=Grantor("household"),
                              reason=f"the survey re-submitted on {unit.version} says yes")
                    changed += 1
                else:
                    record_in(hub, conn, NewConsent(
                        household(unit.household_id), wanted, purposes, recipients, Grantor("household"),
                        _evidence(unit.household_ref, paper, unit.attributes), decided_at=_day(paper, now),
                        origin=origin if old is None else f"{origin}@{unit.version}"), actor=actor, now=now)
                    recorded += 1
        hub.audit.append(conn, EvidenceImported(resource=f"source:{SOURCE}", source=SOURCE, households=len(units),
                                                recorded=recorded, changed=changed), actor=actor)
    return ImportReport(len(units), recorded, changed)


def _evidence(survey_id: str, paper: dict, attributes: dict) -> dict:
    return {"method": "paper form signed at the survey visit, before a witness", "source": SOURCE,
            "survey_id": survey_id, "university": attributes.get("university"), "recorded_on": paper.get("recorded_on"),
            "witness": "named on the form; kept encrypted with the survey record"}


def _day(paper: dict, now: dt.datetime) -> dt.datetime:
    """When the paper answer took effect: the day it was written (Thai time), never later than now."""
    if not paper.get("recorded_on"):
        return now
    return min(clock.parse_day(paper["recorded_on"], field="consent.recorded_on"), now)
