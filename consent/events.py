"""Audit events of the consent registry, declared like any plugin's. They carry keyed subject refs,
area codes and counts, never a name or a clear citizen ID."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from audit.events import EventType, Facets, hookimpl


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConsentRecorded(EventType):
    """A grant, refusal (opt-out), objection or request was recorded, with who decided and its receipt."""

    name: ClassVar[str] = "consent.recorded"
    personal_fields: ClassVar[tuple[str, ...]] = ("subject_ref",)
    consent_id: str
    subject_kind: str
    subject_ref: str
    status: str
    purposes: list[str]
    recipients: list[str]
    grantor: str
    receipt_id: str | None

    def facets(self) -> Facets:
        return Facets(area=self.subject_ref if self.subject_kind == "community" else None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConsentChanged(EventType):
    """A consent moved along its lifecycle (given -> withdrawn, requested -> given, given -> expired)."""

    name: ClassVar[str] = "consent.changed"
    personal_fields: ClassVar[tuple[str, ...]] = ("subject_ref",)
    consent_id: str
    subject_ref: str
    old_status: str
    new_status: str
    reason: str
    receipt_id: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class StewardRegistered(EventType):
    """A community registered a data steward (role and the appointing meeting or document)."""

    name: ClassVar[str] = "consent.steward_registered"
    steward_id: int
    community: str
    role: str

    def facets(self) -> Facets:
        return Facets(area=self.community)


@dataclasses.dataclass(frozen=True, kw_only=True)
class StewardEnded(EventType):
    """A data steward's term ended; grants they made stay valid."""

    name: ClassVar[str] = "consent.steward_ended"
    steward_id: int
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class StewardsRead(EventType):
    """Someone listed a community's stewards with their names."""

    name: ClassVar[str] = "consent.stewards_read"
    community: str
    stewards: int

    def facets(self) -> Facets:
        return Facets(area=self.community, records=self.stewards)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConsentChecked(EventType):
    """Someone asked whether a person's record may appear for a recipient and purpose."""

    name: ClassVar[str] = "consent.checked"
    personal_fields: ClassVar[tuple[str, ...]] = ("subject_ref",)
    subject_ref: str
    purpose: str
    recipient: str
    allowed: bool
    basis: str | None

    def facets(self) -> Facets:
        return Facets(purpose=self.purpose, records=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DecisionsRead(EventType):
    """Someone listed consent decisions (keyed subject references, grantors, evidence) or fetched a
    decision's signed receipt; ``community`` when the read was of one community's."""

    name: ClassVar[str] = "consent.decisions_read"
    community: str | None
    rows: int

    def facets(self) -> Facets:
        return Facets(area=self.community, records=self.rows)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataReturnRead(EventType):
    """A community's stewards read their own households, identified where consent holds."""

    name: ClassVar[str] = "consent.data_return_read"
    community: str
    steward_id: int
    households_identified: int
    persons_identified: int
    households_counted_only: int

    def facets(self) -> Facets:
        return Facets("community", "community_planning", self.community, self.persons_identified)

    @classmethod
    def reads_in(cls, details: dict[str, Any]) -> dict[str, int]:
        persons = details["persons_identified"]
        return {details["community"]: persons} if persons else {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvidenceImported(EventType):
    """Paper consent collected at survey visits was recorded as household decisions."""

    name: ClassVar[str] = "consent.evidence_imported"
    source: str
    households: int
    recorded: int
    changed: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubjectRequestHandled(EventType):
    """A PDPA data-subject request (access, rectification, erasure) and what was done: records read,
    erased or referred for review."""

    name: ClassVar[str] = "rights.request"
    personal_fields: ClassVar[tuple[str, ...]] = ("subject_ref",)
    request_id: int
    kind: str
    subject_ref: str
    records: int
    status: str


CONSENT_EVENT_TYPES = (ConsentRecorded, ConsentChanged, StewardRegistered, StewardEnded, StewardsRead,
                       ConsentChecked, DecisionsRead, DataReturnRead, EvidenceImported, SubjectRequestHandled)


@hookimpl
def saphan_register_event_types():
    return CONSENT_EVENT_TYPES
