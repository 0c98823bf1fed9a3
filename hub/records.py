"""What an adapter yields: validated source records, tombstones and rejected rows.

An adapter turns one partner's export into these objects and knows nothing of storage. Every personal
value travels here in clear, in memory only; ingest keys or encrypts it before it touches the database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.thai.citizen_id import CitizenId
from hub.thai.dates import PartialDate


@dataclass(slots=True)
class PersonRecord:
    """One person as one source sees them.

    ``record_id`` is the source's own key for this person (see each adapter's ``record_id_doc``).
    ``attributes`` are non-identifying facts kept in clear for views (dimensions, grade, status).
    ``private`` are other personal facts, stored encrypted. ``linked_ids`` are further citizen IDs
    (a guardian's, say) that are kept only as linkage keys.
    """

    record_id: str
    citizen_id: CitizenId | None = None
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    birth_date: PartialDate | None = None
    sex: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    private: dict[str, Any] = field(default_factory=dict)
    linked_ids: dict[str, CitizenId] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Household:
    """Where the persons of a record live, and facts about their household.

    ``ref`` is the source's household key (a logbook or survey id) when the source has households as
    units; the persons listed are then the whole household, and members no longer listed are removed.
    Without a ``ref`` (TPMAP, EEF) the address belongs to each person record alone.
    """

    tambon_code: str
    moo: int | None = None
    house_code: str | None = None
    house_no: str | None = None
    ref: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    private: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SourceRecord:
    """One row or line of an input: a household context and the persons it carries.

    ``version`` orders records of the same key (a semester, an ``updated_at``): a stored record is not
    replaced by one with an older version, so files ingested out of order do not roll data back. Equal
    versions: the later row wins.
    """

    line: int
    household: Household
    persons: list[PersonRecord]
    version: str = ""


@dataclass(slots=True)
class Tombstone:
    """The source deleted a household upstream: every record of it goes (unless stored data is newer)."""

    line: int
    household_ref: str
    version: str = ""


@dataclass(slots=True)
class Rejected:
    """A row that could not be read; it is quarantined with ``reason`` and its raw text (encrypted)."""

    line: int
    reason: str
    raw: str


Item = SourceRecord | Tombstone | Rejected
