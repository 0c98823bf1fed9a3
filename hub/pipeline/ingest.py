"""Ingest: partner files through their adapter into the store, privately, in batches.

Per file, in one transaction: a rejected row goes to quarantine (its raw text encrypted) with its line
and reason; a record is inserted, updated in place (same key, changed content: ids kept) or left alone
(same content, or an older version than stored); a household unit replaces its member list; a tombstone
removes a household. Citizen IDs and house codes become keyed HMACs, names and other personal fields
AES-GCM ciphertexts, and linking's candidate keys are made while the clear values are at hand. The counts
and the file's digest go to the audit chain in the same transaction, so the log and the data never
disagree. A file that cannot be read at all leaves the store as it was, and a file whose exact content was
ingested before is a replay that writes nothing.

Two stages run side by side: reading, validating, flattening, making linking's candidate keys and
fingerprinting a batch (:func:`read_batches`, in a background process) and keying, encrypting and
writing it (:class:`_BatchWriter`, in this one).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, delete, insert, select, update

from audit.events import IngestCompleted, IngestFailed, RowsQuarantined
from contracts.model import SourceTerms, claimants
from contracts.registry import record_in_force
from hub.adapter_kit import Adapter
from hub.context import Hub
from hub.crypto import FieldCipher, Fingerprinter, KeyedHasher, aad
from hub.db.bulk import bulk_delete, bulk_insert, bulk_update, fetch_by_keys, next_ids
from hub.db.schema import ingest_clock, ingest_runs, quarantine, record_links, source_households, source_records
from hub.db.statistics import refresh_statistics
from hub.errors import AdapterError, ContractViolation, HubError, IngestError
from hub.ids import new_id
from hub.linking.candidate_keys import CandidateKeys
from hub.pipeline.background import in_background
from hub.pipeline.minimise import claimed, minimised
from hub.record_facts import record_facts
from hub.records import PersonRecord, Rejected, SourceRecord, Tombstone
from hub.subject_keys import anchor_for, erased_subjects

#: Columns written for a person record (then ``created_run_id`` and ``id`` on insert); its person and
#: household ids go to ``record_links``.
PERSON_COLUMNS = (
    "source", "record_id", "household_ref", "version", "linkage_key", "id_status",
    "linked_keys", "title", "sex", "birth_year", "tambon_code", "moo", "house_key", "id_variants",
    "first_name_block", "full_name_block", "address_block", "first_name_enc",
    "last_name_enc", "birth_date_enc", "house_code_enc", "house_no_enc", "private_enc", "attributes", "fact_bits",
    "fact_status", "fact_grade", "fact_vulnerabilities", "flags", "fingerprint", "run_id", "line",
)
#: Columns written for a household unit (then ``created_run_id`` on insert).
HOUSEHOLD_COLUMNS = (
    "source", "household_ref", "household_id", "version", "tambon_code", "moo", "house_key", "house_code_enc",
    "house_no_enc", "private_enc", "attributes", "flags", "fingerprint", "run_id", "line", "deleted",
)
#: The fingerprint of a tombstone: equal to no content's fingerprint.
TOMBSTONE_FINGERPRINT = bytes(16)
#: Quarantine reasons listed in one audit event at most; the count is always complete.
MAX_REASONS_IN_EVENT = 1000


@dataclass
class FileReport:
    """What one file did to the store. Counts of records are per person; ``rows_read`` per row/line.

    ``stale`` counts records left as stored because the stored version is newer; ``erased`` the records
    of persons whose data was erased at their request (not stored again); ``replay`` is true when
    this exact file had been ingested before (nothing was written). ``households_*`` count household units
    (logbook, survey) whose own facts were written.
    """

    source: str
    path: Path
    sha256: str = ""
    run_id: int = 0
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    deleted: int = 0
    quarantined: int = 0
    households_inserted: int = 0
    households_updated: int = 0
    erased: int = 0
    replay: bool = False
    quarantine_reasons: list[dict] = field(default_factory=list)
    fields_refused: set[str] = field(default_factory=set)  # fields no contract lets the hub take

    @property
    def accepted(self) -> int:
        """Rows that passed validation (written, unchanged or older than what is stored)."""
        return self.rows_read - self.quarantined


class FlatPerson(NamedTuple):
    """A person record reduced to plain values (cheap to pass between processes), JSON already made.
    ``citizen_id`` and ``linked_ids`` hold clear digits: they exist in memory only, never stored."""

    record_id: str
    household_ref: str | None
    version: str
    line: int
    citizen_id: str | None
    id_status: str | None
    linked_ids: tuple[tuple[str, str], ...]
    title: str | None
    first_name: str | None
    last_name: str | None
    birth_date: str | None
    birth_year: int | None
    sex: str | None
    tambon_code: str
    moo: int | None
    house_code: str | None  # keyed for every record; stored encrypted only when ``own_address``
    house_no: str | None  # only when ``own_address``
    own_address: bool  # no household unit: the address belongs to this record
    private_json: str | None
    attributes_json: str
    flags_json: str
    id_variants: bytes | None  # linking's candidate keys (hub.linking.candidate_keys), keyed
    first_name_block: int | None
    full_name_block: int | None
    address_block: int | None
    facts: tuple  # hub.record_facts, taken out of the attributes
    fingerprint: bytes = b""  # keyed digest of all the above but the line and the facts, to tell changed from unchanged

    def fingerprinted(self, fingerprint: Fingerprinter) -> FlatPerson:
        return self._replace(fingerprint=fingerprint(repr(self[:3] + self[4:-2])))


class FlatHousehold(NamedTuple):
    """A household unit reduced to plain values, with the record ids of its members."""

    ref: str
    version: str
    line: int
    tambon_code: str
    moo: int | None
    house_code: str | None
    house_no: str | None
    private_json: str | None
    attributes_json: str
    flags_json: str
    member_ids: tuple[str, ...]
    fingerprint: bytes = b""  # keyed digest of all the above but the line

    def fingerprinted(self, fingerprint: Fingerprinter) -> FlatHousehold:
        return self._replace(fingerprint=fingerprint(repr(self[:2] + self[3:-1])))


@dataclass
class ReadBatch:
    """One batch of a file, reduced in file order (a later row wins), flattened and fingerprinted."""

    rows_read: int
    fields_refused: set[str] = field(default_factory=set)
    rejected: list[Rejected] = field(default_factory=list)
    tombstones: dict[str, Tombstone] = field(default_factory=dict)
    households: dict[str, FlatHousehold] = field(default_factory=dict)
    persons: dict[str, FlatPerson] = field(default_factory=dict)

    # Between processes the flat records travel as plain tuples: unpickling a named tuple runs Python
    # code per record, a plain tuple does not.
    def __getstate__(self):
        return (self.rows_read, self.fields_refused, self.rejected, self.tombstones,
                [tuple(h) for h in self.households.values()], [tuple(p) for p in self.persons.values()])

    def __setstate__(self, state) -> None:
        self.rows_read, self.fields_refused, self.rejected, self.tombstones, households, persons = state
        self.households = {h[0]: FlatHousehold._make(h) for h in households}
        self.persons = {p[0]: FlatPerson._make(p) for p in persons}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------------------------------
# Stage 1: read, reduce, flatten, fingerprint (no database, no encryption)
# --------------------------------------------------------------------------------------------------

_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode


def flatten_household(unit: SourceRecord) -> FlatHousehold:
    """The household unit of ``unit`` as plain values."""
    h = unit.household
    return FlatHousehold(h.ref, unit.version, unit.line, h.tambon_code, h.moo, h.house_code, h.house_no,
                         _json(h.private) if h.private else None, _json(h.attributes),
                         _json(sorted(set(h.flags))), tuple(sorted(p.record_id for p in unit.persons)))


def flatten_person(unit: SourceRecord, p: PersonRecord, keys: CandidateKeys) -> FlatPerson:
    """``p`` as plain values, with linking's candidate ``keys``; the address is the record's own when
    there is no household unit."""
    h, cid, born = unit.household, p.citizen_id, p.birth_date
    own = h.ref is None
    flags = p.flags + h.flags if own else p.flags
    first_name_block, full_name_block = keys.name_blocks(p.first_name, p.last_name, born.year if born else None,
                                                         p.sex)
    return FlatPerson(
        p.record_id, h.ref, unit.version, unit.line, cid.digits if cid else None,
        cid.status.value if cid else None, tuple(sorted((k, v.digits) for k, v in p.linked_ids.items())),
        p.title, p.first_name, p.last_name, born.iso() if born else None, born.year if born else None, p.sex,
        h.tambon_code, h.moo, h.house_code, h.house_no if own else None, own,
        _json(p.private) if p.private else None, _json(p.attributes), _json(sorted(set(flags))) if flags else "[]",
        keys.id_variants(cid.digits) if cid else None, first_name_block, full_name_block,
        keys.address_block(h.tambon_code, h.moo, h.house_no) if own else None, record_facts(p.attributes),
    )


def reduce_batch(items: list, fingerprint: Fingerprinter, keys: CandidateKeys) -> ReadBatch:
    """Reduce adapter items in file order, by the rule the store applies between batches: an item replaces
    an earlier one with the same key (a household ref, or the record id of a person without one) unless
    its version is older; a tombstone and a unit of the same household compete the same way. Then
    flatten and fingerprint what remains."""
    batch = ReadBatch(rows_read=len(items))
    units: dict[str, SourceRecord | Tombstone] = {}
    persons: dict[str, tuple[SourceRecord, PersonRecord]] = {}

    def replace_unit(ref: str, item: SourceRecord | Tombstone) -> bool:
        earlier = units.get(ref)
        if earlier is not None and earlier.version > item.version:
            return False
        if isinstance(earlier, SourceRecord):
            for person in earlier.persons:
                persons.pop(person.record_id, None)
        units[ref] = item
        return True

    for item in items:
        if isinstance(item, Rejected):
            batch.rejected.append(item)
        elif isinstance(item, Tombstone):
            replace_unit(item.household_ref, item)
        elif item.household.ref is not None:
            if replace_unit(item.household.ref, item):
                persons.update((p.record_id, (item, p)) for p in item.persons)
        else:
            for person in item.persons:
                earlier = persons.get(person.record_id)
                if earlier is None or earlier[0].version <= item.version:
                    persons[person.record_id] = (item, person)
    batch.tombstones = {ref: unit for ref, unit in units.items() if isinstance(unit, Tombstone)}
    units = {ref: unit for ref, unit in units.items() if isinstance(unit, SourceRecord)}
    batch.households = {ref: flatten_household(unit).fingerprinted(fingerprint) for ref, unit in units.items()}
    batch.persons = {rid: flatten_person(unit, person, keys).fingerprinted(fingerprint)
                     for rid, (unit, person) in persons.items()}
    return batch


def read_batches(adapter: Adapter, path: Path, *, size: int, fingerprint: Fingerprinter,
                 keys: CandidateKeys, allowed: frozenset[str], owners: Mapping[str, SourceTerms],
                 uploader: str | None) -> Iterator[ReadBatch]:
    """The file as reduced, fingerprinted batches of at most ``size`` items, with candidate keys, holding
    only the ``allowed`` fields (each batch names the fields it removed) and only records some contract
    claims (:func:`hub.pipeline.minimise.claimed`)."""
    refused: set[str] = set()
    items = claimed(minimised(adapter.read_file(path), allowed, refused, declared=frozenset(adapter.fields)),
                    owners, uploader=uploader)
    while chunk := list(itertools.islice(items, size)):
        batch = reduce_batch(chunk, fingerprint, keys)
        batch.fields_refused = set(refused)
        yield batch


# --------------------------------------------------------------------------------------------------
# Stage 2: key, encrypt, write
# --------------------------------------------------------------------------------------------------


class _BatchWriter:
    """Writes read batches inside the file's transaction."""

    def __init__(self, hub: Hub, conn: Connection, report: FileReport):
        self.conn, self.report, self.source = conn, report, report.source
        self.cipher, self.keyring, self.subjects = hub.cipher, hub.keyring, hub.cipher.subjects
        self.erased = erased_subjects(conn)  # persons erased at their request, never stored again
        self.id_key = KeyedHasher(hub.keyring.derived("citizen-id"))
        self.house_key = KeyedHasher(hub.keyring.derived("house-code"))
        self.owners = hub.contracts.owners(report.source)  # of a source several partners provide
        # Members a household no longer lists, by record id, with the household they left. They are
        # removed when the file ends, unless they turn up again (in another household, say) before that.
        self.leavers: dict[str, str] = {}

    def write(self, batch: ReadBatch) -> None:
        self.report.rows_read += batch.rows_read
        if self.report.replay:
            self._note_rejected(batch.rejected)
            self.report.unchanged += len(batch.persons)
            return
        self._reject(batch.rejected)
        self._apply_tombstones(batch.tombstones)
        stale_units, household_ids = self._write_households(batch.households)
        self._write_persons(batch.persons, stale_units, household_ids)

    def close(self) -> None:
        """Remove the members who left their household and did not turn up again in the file."""
        rows = [(self.source, rid, ref) for rid, ref in self.leavers.items()]
        self.report.deleted += bulk_delete(self.conn, source_records, ("source", "record_id", "household_ref"), rows)
        self.leavers.clear()

    # ---------------------------------------------------------------- quarantine and tombstones

    def _note_rejected(self, rejected: list[Rejected]) -> None:
        self.report.quarantined += len(rejected)
        room = max(MAX_REASONS_IN_EVENT - len(self.report.quarantine_reasons), 0)
        self.report.quarantine_reasons.extend({"line": r.line, "reason": r.reason} for r in rejected[:room])

    def _reject(self, rejected: list[Rejected]) -> None:
        """Count rejected rows in the report and store them with their reasons; the raw text is encrypted."""
        self._note_rejected(rejected)
        if not rejected:
            return
        run_id, now, name = self.report.run_id, _now(), self.report.path.name
        self.conn.execute(insert(quarantine), [
            {"run_id": run_id, "source": self.source, "file_name": name, "line": r.line, "reason": r.reason,
             "raw_enc": self.cipher.encrypt(r.raw, aad("quarantine", self.source, f"{run_id}:{r.line}", "raw")),
             "created_at": now}
            for r in rejected])

    def _apply_tombstones(self, tombstones: dict[str, Tombstone]) -> None:
        """Remove each household's members and personal fields, keeping a tombstone row with the deletion's
        version (a household stored with a newer version is left alone)."""
        if not tombstones:
            return
        t, r = source_households, source_records
        stored = {row.household_ref: row for row in fetch_by_keys(
            self.conn, t, source=self.source, key="household_ref", keys=list(tombstones),
            columns=("id", "household_ref", "household_id", "version"))}
        inserts, updates = [], []
        for ref, stone in tombstones.items():
            old = stored.get(ref)
            if old is None:
                inserts.append(self._tombstone_row(stone, new_id()) + (self.report.run_id,))
            elif old.version <= stone.version:
                updates.append(self._tombstone_row(stone, old.household_id) + (old.id,))
        if updates:
            refs = [row[1] for row in updates]
            gone = self.conn.execute(delete(r).where(r.c.source == self.source, r.c.household_ref.in_(refs)))
            self.report.deleted += gone.rowcount
        bulk_insert(self.conn, t, HOUSEHOLD_COLUMNS + ("created_run_id",), inserts)
        bulk_update(self.conn, t, HOUSEHOLD_COLUMNS, updates)

    def _tombstone_row(self, stone: Tombstone, household_id: str) -> tuple:
        """A household row in :data:`HOUSEHOLD_COLUMNS` order that says only: deleted at this version."""
        return (self.source, stone.household_ref, household_id, stone.version, None, None, None, None, None,
                None, "{}", "[]", TOMBSTONE_FINGERPRINT, self.report.run_id, stone.line, True)

    # ---------------------------------------------------------------- households

    def _write_households(self, units: dict[str, FlatHousehold]) -> tuple[set[str], dict[str, str]]:
        """Insert or update household units; drop members no longer listed. Returns the refs whose stored
        version is newer, or that another partner's record holds (quarantined), whose persons are skipped,
        and the household id of every other unit."""
        if not units:
            return set(), {}
        t, r = source_households, source_records
        refs = list(units)
        stored = {row.household_ref: row for row in fetch_by_keys(
            self.conn, t, source=self.source, key="household_ref", keys=refs,
            columns=("id", "household_ref", "household_id", "version", "fingerprint", "attributes", "deleted"))}
        others = [ref for ref, old in stored.items() if self.owners and not old.deleted
                  and self._owners_of(old.attributes) != self._owners_of(units[ref].attributes_json)]
        self._reject([Rejected(units[ref].line, f"{ref}: another partner's record has this id; not taken", "")
                      for ref in others])
        members: dict[str, list[str]] = {}
        for rid, ref in fetch_by_keys(self.conn, r, source=self.source, key="household_ref", keys=refs,
                                      columns=("record_id", "household_ref")):
            members.setdefault(ref, []).append(rid)
        stale, ids, inserts, updates = set(others), {}, [], []
        for ref, h in units.items():
            if ref in stale:
                continue
            old = stored.get(ref)
            if old is not None and old.version > h.version:
                stale.add(ref)
                continue
            ids[ref] = old.household_id if old is not None else new_id()
            self.leavers.update((rid, ref) for rid in members.get(ref, ()) if rid not in h.member_ids)
            if old is None:
                inserts.append(self._household_row(h, ids[ref]) + (self.report.run_id,))
            elif old.fingerprint != h.fingerprint:
                updates.append(self._household_row(h, ids[ref]) + (old.id,))
        bulk_insert(self.conn, t, HOUSEHOLD_COLUMNS + ("created_run_id",), inserts)
        bulk_update(self.conn, t, HOUSEHOLD_COLUMNS, updates)
        self.report.households_inserted += len(inserts)
        self.report.households_updated += len(updates)
        return stale, ids

    def _owners_of(self, attributes: dict | str | None) -> set[str]:
        """The partners whose own record a unit with ``attributes`` (JSON text as the driver may give it) is;
        empty for a source one partner provides."""
        return claimants(self.owners, json.loads(attributes) if isinstance(attributes, str) else attributes)

    def _household_row(self, h: FlatHousehold, household_id: str) -> tuple:
        """The stored row in :data:`HOUSEHOLD_COLUMNS` order."""
        cipher, source = self.cipher, self.source
        return (
            source, h.ref, household_id, h.version, h.tambon_code, h.moo,
            self.house_key(h.house_code) if h.house_code else None,
            cipher.encrypt(h.house_code, aad("source_households", source, h.ref, "house_code")),
            cipher.encrypt(h.house_no, aad("source_households", source, h.ref, "house_no")),
            cipher.encrypt(h.private_json, aad("source_households", source, h.ref, "private")),
            h.attributes_json, h.flags_json, h.fingerprint, self.report.run_id, h.line, False,
        )

    # ---------------------------------------------------------------- persons

    def _write_persons(self, persons: dict[str, FlatPerson], stale_units: set[str],
                       household_ids: dict[str, str]) -> None:
        if not persons:
            return
        r = source_records
        stored = {row.record_id: row for row in fetch_by_keys(
            self.conn, r, source=self.source, key="record_id", keys=list(persons),
            columns=("id", "record_id", "version", "fingerprint"))}
        # person, household id (None: a stored record without a unit keeps its own), stored row id
        to_write: list[tuple[FlatPerson, str | None, int | None]] = []
        for rid, p in persons.items():
            ref, old = p.household_ref, stored.get(rid)
            if ref in stale_units or (old is not None and ref is None and old.version > p.version):
                self.report.stale += 1
                continue
            self.leavers.pop(rid, None)  # listed again, by a household whose data is current
            if old is not None and old.fingerprint == p.fingerprint:
                self.report.unchanged += 1
            elif old is None:
                to_write.append((p, household_ids[ref] if ref is not None else new_id(), None))
            else:
                to_write.append((p, household_ids.get(ref), old.id))
        linkage = {p.record_id: self.id_key(p.citizen_id) for p, _, _ in to_write if p.citizen_id}
        erased = self.erased.intersection(linkage.values())
        if erased:
            self.report.erased += sum(linkage.get(p.record_id) in erased for p, _, _ in to_write)
            to_write = [w for w in to_write if linkage.get(w[0].record_id) not in erased]
        anchors = {p.record_id: anchor_for(linkage.get(p.record_id), self.keyring, self.source, p.record_id)
                   for p, _, _ in to_write}
        keys = self.subjects.ensure(self.conn, anchors.values())
        inserts, updates, links, moves = [], [], [], []
        pks = iter(next_ids(self.conn, r, sum(stored_id is None for _, _, stored_id in to_write)))
        for p, household_id, stored_id in to_write:
            row = self._person_row(p, linkage.get(p.record_id), keys[anchors[p.record_id]])
            if stored_id is None:
                pk = next(pks)
                inserts.append(row + (self.report.run_id, pk))
                links.append((pk, new_id(), household_id))
            else:
                updates.append(row + (stored_id,))
                if household_id is not None:
                    moves.append((household_id, stored_id))
        bulk_insert(self.conn, r, PERSON_COLUMNS + ("created_run_id", "id"), inserts)
        bulk_insert(self.conn, record_links, ("id", "person_id", "household_id"), links)
        bulk_update(self.conn, r, PERSON_COLUMNS, updates)
        bulk_update(self.conn, record_links, ("household_id",), moves)
        self.report.inserted += len(inserts)
        self.report.updated += len(updates)

    def _person_row(self, p: FlatPerson, linkage_key: bytes | None, key: tuple[int, AESGCM]) -> tuple:
        """The stored row in :data:`PERSON_COLUMNS` order: keys hashed, personal fields encrypted with the
        person's own key."""
        rid, source, id_key = p.record_id, self.source, self.id_key
        seal = FieldCipher.sealer(*key)
        return (
            source, rid, p.household_ref, p.version, linkage_key, p.id_status,
            _json({k: id_key(digits).hex() for k, digits in p.linked_ids}) if p.linked_ids else "{}",
            p.title, p.sex, p.birth_year, p.tambon_code, p.moo,
            self.house_key(p.house_code) if p.house_code else None,
            p.id_variants, p.first_name_block, p.full_name_block, p.address_block,
            seal(p.first_name, aad("source_records", source, rid, "first_name")),
            seal(p.last_name, aad("source_records", source, rid, "last_name")),
            seal(p.birth_date, aad("source_records", source, rid, "birth_date")),
            seal(p.house_code, aad("source_records", source, rid, "house_code")) if p.own_address else None,
            seal(p.house_no, aad("source_records", source, rid, "house_no")),
            seal(p.private_json, aad("source_records", source, rid, "private")),
            p.attributes_json, *p.facts, p.flags_json, p.fingerprint, self.report.run_id, p.line,
        )


# --------------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------------


def ingest_file(hub: Hub, source: str, path: Path, *, actor: str, uploader: str | None = None,
                progress: Callable[[int], None] | None = None,
                also: Callable[[Connection], None] | None = None) -> FileReport:
    """Ingest one file through ``source``'s adapter, atomically; returns what happened.

    Only the fields some contract lets the hub take from ``source`` are stored (the others are named in
    ``fields_refused``); a source no contract covers raises :class:`ContractViolation`. Of a source several
    partners provide, records no contract claims are quarantined without their text, and so are another
    partner's records in the upload of partner ``uploader``.
    Raises :class:`UnknownSource` for an unregistered source, :class:`AdapterError` when the file
    cannot be read at all and :class:`IngestError` when storing it fails; nothing of the file is then
    stored, and the failure is audited.
    ``progress(n)`` is called after each batch with the rows read in it; ``also(conn)`` writes, in the
    file's transaction, what must commit with it or not at all (a pull's cursor).
    """
    adapter = hub.adapter(source)
    path = Path(path)
    allowed = hub.contracts.taken_fields(source)
    if not allowed:
        message = f"no contract lets the hub take data from {source}; add its terms to a contract's [sources]"
        _audit_failure(hub, source, path, message, actor)
        raise ContractViolation(message)
    size = hub.settings.ingest_batch_size
    fingerprint = Fingerprinter(hub.keyring.fingerprint_secret)
    try:
        report = FileReport(source=source, path=path, sha256=file_sha256(path))
        with hub.engine.begin() as conn:
            report.replay = conn.scalar(select(ingest_runs.c.id).where(
                ingest_runs.c.file_sha256 == report.sha256, ingest_runs.c.source == source,
                ingest_runs.c.status == "completed").limit(1)) is not None
            report.run_id = conn.execute(insert(ingest_runs).values(
                source=source, file_name=str(path), file_sha256=report.sha256, started_at=_now(), status="running",
                rows_read=0, inserted=0, updated=0, unchanged=0, stale=0, deleted=0, quarantined=0,
                households_inserted=0, households_updated=0,
            )).inserted_primary_key[0]
            writer = _BatchWriter(hub, conn, report)
            record_in_force(conn, hub.contracts, audit=hub.audit, actor=actor)
            read = partial(read_batches, adapter, path, size=size, fingerprint=fingerprint,
                           keys=CandidateKeys(hub.keyring), allowed=allowed, owners=hub.contracts.owners(source),
                           uploader=uploader)
            for batch in in_background(read):
                report.fields_refused |= batch.fields_refused
                writer.write(batch)
                if progress:
                    progress(batch.rows_read)
            writer.close()
            if also:
                also(conn)
            _finish(hub, conn, report, actor)
    except (OSError, AdapterError) as exc:
        message = str(exc) if isinstance(exc, HubError) else f"{path}: cannot read ({exc.strerror or exc})"
        _audit_failure(hub, source, path, message, actor)
        raise AdapterError(message) from exc
    except Exception as exc:
        # A database or programming error mid-file. The transaction is rolled back; the driver's message
        # is not repeated, since it may quote a value from the row.
        message = f"{path}: ingest failed ({type(exc).__name__}); nothing of the file was stored"
        _audit_failure(hub, source, path, message, actor)
        raise IngestError(message) from exc
    refresh_statistics(hub.engine, (source_records.name, record_links.name, source_households.name),
                       report.inserted + report.updated + report.deleted + report.households_inserted
                       + report.households_updated)
    return report


def _audit_failure(hub: Hub, source: str, path: Path, message: str, actor: str) -> None:
    with hub.engine.begin() as conn:
        hub.audit.append(conn, IngestFailed(resource=f"file:{path.name}", source=source, reason=message),
                         actor=actor)


def _finish(hub: Hub, conn: Connection, report: FileReport, actor: str) -> None:
    counts = {k: getattr(report, k) for k in
              ("rows_read", "inserted", "updated", "unchanged", "stale", "deleted", "quarantined",
               "households_inserted", "households_updated", "erased")}
    conn.execute(update(ingest_runs).where(ingest_runs.c.id == report.run_id).values(
        status="completed", finished_at=_now(), **counts))
    resource = f"file:{report.path.name}"
    hub.audit.append(conn, IngestCompleted(resource=resource, source=report.source, file_sha256=report.sha256,
                                           run_id=report.run_id, fields_refused=sorted(report.fields_refused),
                                           **counts), actor=actor)
    if report.quarantined and not report.replay:
        hub.audit.append(conn, RowsQuarantined(resource=resource, source=report.source, run_id=report.run_id,
                                               rows=report.quarantine_reasons), actor=actor)
    # last, after the audit log's head (which an ingest may hold from its start): the clock's row stays
    # locked until this run commits, so no later-numbered run can commit before it
    clock = ingest_clock
    committed = conn.execute(update(clock).where(clock.c.id == 1).values(value=clock.c.value + 1)
                             .returning(clock.c.value)).scalar_one()
    conn.execute(update(ingest_runs).where(ingest_runs.c.id == report.run_id).values(committed=committed))
