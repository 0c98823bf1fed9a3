"""A community's stewards ask for a correction to a member's identity (a misspelt name, a wrong birth
date). The hub never edits what partners sent: the correction becomes a rectification request held for
review (:func:`consent.rights.rectify_in`, encrypted under the person's own key), and the partners holding
the household hear that a correction was asked for (``household.corrected``: which fields, never the
values), so that they can correct their own records."""
from __future__ import annotations

import datetime as dt

from consent import clock
from consent.rights import rectify_in
from consent.subjects import Subject, community
from hub.community.access import HouseholdNotShown, community_household
from hub.community.concerns import partners_holding
from hub.context import Hub
from hub.notify.outbox import notify


def ask_correction(hub: Hub, *, community_code: str, steward_id: int, household_id: str, person_id: str,
                   field: str, correct: str, evidence: str, actor: str, at: dt.datetime | None = None) -> int:
    """Open a rectification request for ``person_id`` of a household the community sees; returns its id."""
    subject = community(community_code)
    at = at or clock.now()
    with hub.engine.begin() as conn:
        members = community_household(conn, subject.ref, steward_id, household_id, at)
        if person_id not in set(members["person_id"]):
            raise HouseholdNotShown(f"no such member of a household your community sees ({household_id})")
        request_id = rectify_in(hub, conn, Subject("person", f"pid:{person_id}"), field=field, correct=correct,
                                evidence=f"{evidence} (asked by steward {steward_id} of {subject.ref})", actor=actor)
        notify(hub, conn, "household.corrected", household_id=household_id,
               concerns=partners_holding(hub, conn, [household_id]),
               data={"status": "requested", "corrected_fields": [field], "area": members["tambon"].iloc[0],
                     "decided_on": at.date().isoformat()})
    return request_id
