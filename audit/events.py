"""Audit event types. Each event is a small dataclass; its fields are its details, and its ``name`` is
the action written to the log. A plugin declares its own types through ``saphan_register_event_types``;
the log refuses an undeclared one. No event carries a clear citizen ID or name.

Besides its details, an event fills the log's searchable columns (:meth:`EventType.facets`: partner,
purpose, area, record count) and, when it is a read of personal data, says how many records of each
village or tambon it read (:meth:`EventType.reads_in` its details): what a community sees as "who used our
data". Those counts are a function of the hashed details alone, so the verifier recomputes them."""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import pluggy

hookimpl = pluggy.HookimplMarker("saphan")


@dataclasses.dataclass(frozen=True, kw_only=True)
class EventType:
    """Base of every audit event. ``resource`` says what was acted on (``file:…``, ``keys``…)."""

    name: ClassVar[str]
    resource: str
    #: Detail fields holding a person's keyed reference: hidden from auditors (who see no personal data).
    personal_fields: ClassVar[tuple[str, ...]] = ()

    def details(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _detail_names(type(self))}

    def facets(self) -> Facets:
        """The log's searchable columns; by default the fields named ``partner``, ``purpose``, ``area`` and
        ``records``, where the event has them."""
        return Facets(*(getattr(self, name, None) for name in ("partner", "purpose", "area", "records")))

    @classmethod
    def reads_in(cls, details: dict[str, Any]) -> dict[str, int]:
        """Records of personal data an event with these ``details`` read, by village (``TTTTTT-MM``) or
        tambon code; empty for an event that read none."""
        return {}


@functools.cache
def _detail_names(event_type: type[EventType]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(event_type) if f.name != "resource")


@dataclasses.dataclass(frozen=True)
class Facets:
    """Who an event concerns, as the log's columns: the partner, the purpose, the area and how many records."""

    partner: str | None = None
    purpose: str | None = None
    area: str | None = None
    records: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class IngestCompleted(EventType):
    """A file went through an adapter: source, file digest, run id and the row counts."""

    name: ClassVar[str] = "ingest.completed"
    source: str
    file_sha256: str
    run_id: int
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    stale: int
    deleted: int
    quarantined: int
    households_inserted: int
    households_updated: int
    erased: int
    fields_refused: list[str]

    def facets(self) -> Facets:
        return Facets(records=self.rows_read)


@dataclasses.dataclass(frozen=True, kw_only=True)
class IngestFailed(EventType):
    """A file could not be read at all; nothing of it was stored."""

    name: ClassVar[str] = "ingest.failed"
    source: str
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class RowsQuarantined(EventType):
    """Rows of a file were set aside: their line numbers and reasons (never their content)."""

    name: ClassVar[str] = "ingest.quarantined"
    source: str
    run_id: int
    rows: list[dict[str, Any]]

    def facets(self) -> Facets:
        return Facets(records=len(self.rows))


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuarantineRowRead(EventType):
    """Someone decrypted the raw text of a quarantined row (it holds personal data)."""

    name: ClassVar[str] = "quarantine.read"
    quarantine_id: int
    reason: str

    def facets(self) -> Facets:
        return Facets(records=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class KeysCreated(EventType):
    """A new keyring was made, or secrets of a kind it lacked were added to it (the KEK id and the
    secrets' names, never key material)."""

    name: ClassVar[str] = "keys.created"
    kek_id: str
    secrets: list[str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class KeysRotated(EventType):
    """The KEK was replaced and every secret re-wrapped."""

    name: ClassVar[str] = "keys.rotated"
    old_kek_id: str
    new_kek_id: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubjectKeysRewrapped(EventType):
    """Every person's data key was wrapped under a new subject wrapping key and the old ones forgotten:
    backups taken before can no longer unwrap the keys of persons erased since."""

    name: ClassVar[str] = "keys.subject_keys_rewrapped"
    wrapping_key: int
    rewrapped: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class TokenIssued(EventType):
    """An API token was issued: to whom, for which role and binding, until when (never the token)."""

    name: ClassVar[str] = "token.issued"
    role: str
    subject: str
    partner: str | None
    area: str | None
    steward: int | None
    expires: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class LinksExported(EventType):
    """The record-to-person map was exported (pseudonymous ids, no personal fields)."""

    name: ClassVar[str] = "export.links"
    rows: int

    def facets(self) -> Facets:
        return Facets(records=self.rows)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RedirectsExported(EventType):
    """The retired-id map was exported (pseudonymous ids only)."""

    name: ClassVar[str] = "export.redirects"
    rows: int

    def facets(self) -> Facets:
        return Facets(records=self.rows)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LinkCompleted(EventType):
    """A linking run assigned person and household ids. ``identities_decrypted`` counts the records whose
    names and birth dates it decrypted to compare them (a read of personal data by the hub itself)."""

    name: ClassVar[str] = "link.completed"
    run_id: int
    mode: str
    identities_decrypted: int
    counts: dict[str, Any]

    def facets(self) -> Facets:
        return Facets(records=self.identities_decrypted)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LinkFailed(EventType):
    """A linking run failed; the ids stayed as they were."""

    name: ClassVar[str] = "link.failed"
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReviewPairRead(EventType):
    """Someone decrypted the two records of a review pair to settle it."""

    name: ClassVar[str] = "review.read"
    review_id: int

    def facets(self) -> Facets:
        return Facets(records=2)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReviewSettled(EventType):
    """Someone decided whether a review pair is one person; the decision binds later runs."""

    name: ClassVar[str] = "review.settled"
    review_id: int
    decision: str
    basis: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ContractLoaded(EventType):
    """The hub acted under a contract version it had not seen before: its id, version and file digest."""

    name: ClassVar[str] = "contract.loaded"
    version: str
    sha256: str
    file: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetentionApplied(EventType):
    """Records of a source past the retention its contracts give were deleted: how many, under which
    retention (days, or none when no contract covers the source any longer)."""

    name: ClassVar[str] = "retention.applied"
    retention: str
    records_deleted: int
    households_deleted: int

    def facets(self) -> Facets:
        return Facets(records=self.records_deleted)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ViewPublished(EventType):
    """A view version was built and switched in: under which contract, what anonymisation did, and a
    public view's privacy spend."""

    name: ClassVar[str] = "view.published"
    partner: str
    purpose: str
    version_id: int
    contract_sha256: str
    rows: int
    excluded_by_consent: int
    epsilon: float | None
    anonymisation: dict[str, Any]

    def facets(self) -> Facets:
        return Facets(self.partner, self.purpose, records=self.rows)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PublishFailed(EventType):
    """A publish failed; the current versions are still served."""

    name: ClassVar[str] = "view.publish_failed"
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ViewRead(EventType):
    """Someone read a published view (for an area, or whole) on behalf of the partner its contract names.
    Microdata rows are personal data, pseudonymised: ``areas`` counts them by the village their household
    lives in (whatever coarser area the row shows); an aggregate's cells are not (``areas`` is empty)."""

    name: ClassVar[str] = "view.read"
    partner: str
    purpose: str
    version_id: int
    area: str | None
    rows: int
    areas: dict[str, int]

    def facets(self) -> Facets:
        return Facets(self.partner, self.purpose, self.area, self.rows)

    @classmethod
    def reads_in(cls, details: dict[str, Any]) -> dict[str, int]:
        return dict(details["areas"])


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckpointExported(EventType):
    """A signed checkpoint of the log's head, this event included, was written to a file for an outside
    witness."""

    name: ClassVar[str] = "audit.checkpoint_exported"
    file: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuditRead(EventType):
    """Someone searched the audit log, or read an area's "who used our data" summary: the query and how
    many events or reads it returned (never personal data: see :mod:`audit.query`)."""

    name: ClassVar[str] = "audit.read"
    query: dict[str, Any]
    rows: int

    def facets(self) -> Facets:
        return Facets(area=self.query.get("area"), records=self.rows)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BackupCreated(EventType):
    """A backup of the database was taken (the keys are backed up separately); appended before the copy,
    so the backup's own log holds it."""

    name: ClassVar[str] = "backup.created"
    backend: str
    file: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class BackupRestored(EventType):
    """The database was replaced by a backup: the log's events after ``restored_seq`` were lost with it.
    The hub's own witness of the lost log was set aside (``witness_kept``, beside the keys)."""

    name: ClassVar[str] = "backup.restored"
    file: str
    restored_seq: int
    lost_after_checkpoint: int | None
    witness_kept: str | None


CORE_EVENT_TYPES = (IngestCompleted, IngestFailed, RowsQuarantined, QuarantineRowRead, KeysCreated,
                    KeysRotated, SubjectKeysRewrapped, TokenIssued, LinksExported, RedirectsExported, LinkCompleted,
                    LinkFailed, ReviewPairRead, ReviewSettled, ContractLoaded, RetentionApplied, ViewPublished,
                    PublishFailed, ViewRead, CheckpointExported, AuditRead, BackupCreated, BackupRestored)


@hookimpl
def saphan_register_event_types():
    return CORE_EVENT_TYPES
