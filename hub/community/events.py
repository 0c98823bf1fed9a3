"""Audit events of the community loop. They name households by their stable id and areas by code; a
steward's evidence note and a referral's note stay out of the log (their length only)."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import pluggy

from audit.events import EventType, Facets

hookimpl = pluggy.HookimplMarker("saphan")


@dataclasses.dataclass(frozen=True, kw_only=True)
class HouseholdVerified(EventType):
    """A community's steward recorded what a household was found to be; it outranks the sources."""

    name: ClassVar[str] = "community.household_verified"
    community: str
    status: str
    previous_status: str | None
    steward_id: int
    notified: list[str]  # partners a notification was queued for

    def facets(self) -> Facets:
        return Facets(area=self.community, records=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HouseholdFound(EventType):
    """A community's steward entered a household they found (its members go through ingest, audited there)."""

    name: ClassVar[str] = "community.household_found"
    community: str
    steward_id: int
    members: int
    verified_poor: bool

    def facets(self) -> Facets:
        return Facets(area=self.community, records=self.members)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReferralCreated(EventType):
    """A household was referred to an agency (by a survey, or raised by a community)."""

    name: ClassVar[str] = "referral.created"
    origin: str
    agency: str
    need: str
    status: str
    area: str

    def facets(self) -> Facets:
        return Facets(area=self.area, records=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReferralChanged(EventType):
    """A referral moved on (pending -> accepted -> done / rejected), by its agency or a later survey batch."""

    name: ClassVar[str] = "referral.changed"
    old_status: str
    new_status: str
    area: str
    partner: str | None  # the agency's partner id, when it moved it through the API

    def facets(self) -> Facets:
        return Facets(partner=self.partner, area=self.area, records=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReferralQueueRead(EventType):
    """An agency read its referral queue (households under its pseudonyms, no names)."""

    name: ClassVar[str] = "referral.queue_read"
    partner: str
    rows: int

    def facets(self) -> Facets:
        return Facets(partner=self.partner, records=self.rows)


COMMUNITY_EVENT_TYPES = (HouseholdVerified, HouseholdFound, ReferralCreated, ReferralChanged, ReferralQueueRead)


@hookimpl
def saphan_register_event_types():
    return COMMUNITY_EVENT_TYPES
