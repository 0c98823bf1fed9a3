"""Ingest: partner files through their adapter into the store, privately, in batches.

Per file, in one transaction: every item the adapter yields is validated; a rejected row goes to
quarantine (its raw text encrypted) with its line and reason; a record is inserted, updated (same key,
changed content) or left alone (same content, or an older version than stored); a household unit
replaces its member list; a tombstone removes a household. Citizen IDs and house codes become keyed
HMACs, names and other personal fields AES-GCM ciphertexts. The counts and the file's digest go to the
audit chain in the same transaction, so the log and the data never disagree. A file that cannot be
read at all leaves the store as it was.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from audit.events import IngestCompleted, IngestFailed, RowsQuarantined
from hub.context import Hub
from hub.crypto import KeyedHasher, aad
from hub.db.bulk import bulk_insert, bulk_update
from hub.db.schema import ingest_runs, quarantine, source_households, source_records
from hub.errors import AdapterError, HubError
from hub.records import Household, Item, PersonRecord, Rejected, SourceRecord, Tombstone

#: Columns written for a person record (then ``person_id`` and ``created_run_id`` on insert).
PERSON_COLUMNS = (
    "source", "record_id", "household_ref", "household_id", "version", "linkage_key", "id_status",
    "linked_keys", "title", "sex", "birth_year", "tambon_code", "moo", "house_key", "first_name_enc",
    "last_name_enc", "birth_date_enc", "house_code_enc", "house_no_enc", "private_enc", "attributes", "flags",
    "fingerprint", "run_id", "line",
)
#: Columns written for a household unit (then ``created_run_id`` on insert).
HOUSEHOLD_COLUMNS = (
    "source", "household_ref", "household_id", "version", "tambon_code", "moo", "house_key", "house_code_enc",
    "house_no_enc", "private_enc", "attributes", "flags", "fingerprint", "run_id", "line",
)
#: Quarantine reasons listed in one audit event at most; the count is always complete.
MAX_REASONS_IN_EVENT = 1000


@dataclass
class FileReport:
    """What one file did to the store. Counts of records are per person; ``rows_read`` per row/line."""

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
    superseded: int = 0
    quarantined: int = 0
    quarantine_reasons: list[dict] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Rows that passed validation (written, unchanged or older than what is stored)."""
        return self.rows_read - self.quarantined


def new_id() -> str:
    """A fresh random 128-bit opaque identifier for a person or household (stable once stored)."""
    return os.urandom(16).hex()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _canonical(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


class _BatchWriter:
    """Writes one batch of adapter items inside the file's transaction."""

    def __init__(self, hub: Hub, conn: Connection, report: FileReport):
        self.conn, self.report, self.source = conn, report, report.source
        self.cipher = hub.cipher
        self.id_key = KeyedHasher(hub.keyring.derived("citizen-id"))
        self.house_key = KeyedHasher(hub.keyring.derived("house-code"))
        self.fingerprint = KeyedHasher(hub.keyring.fingerprint_secret, size=16)
        # Earlier ingests of this very file: a stored row they wrote from a later line already won
        # over an earlier duplicate, so re-reading the file must not write the earlier row again.
        self.same_file_runs = set(conn.scalars(select(ingest_runs.c.id).where(
            ingest_runs.c.file_sha256 == report.sha256, ingest_runs.c.source == report.source,
            ingest_runs.c.id != report.run_id)))

    def _superseded_in_file(self, old, line: int) -> bool:
        """True when ``old`` was written by an earlier ingest of this same file from a later line."""
        if old is not None and old.run_id in self.same_file_runs and old.line > line:
            self.report.superseded += 1
            return True
        return False

    # ---------------------------------------------------------------- the batch

    def write(self, items: list[Item]) -> None:
        persons: dict[str, tuple[SourceRecord, PersonRecord]] = {}
        units: dict[str, SourceRecord] = {}
        tombstones: dict[str, Tombstone] = {}
        rejected: list[Rejected] = []
        for item in items:  # reduce in file order: a later row wins
            if isinstance(item, Rejected):
                rejected.append(item)
            elif isinstance(item, Tombstone):
                self._drop_unit(units.pop(item.household_ref, None), persons)
                tombstones[item.household_ref] = item
            else:
                ref = item.household.ref
                if ref is not None:
                    self._drop_unit(units.pop(ref, None), persons)
                    units[ref] = item
                for person in item.persons:
                    if person.record_id in persons:
                        self.report.superseded += 1
                    persons[person.record_id] = (item, person)
        self._quarantine(rejected)
        self._apply_tombstones(tombstones)
        stale_units, household_ids = self._write_households(units)
        self._write_persons(persons, stale_units, household_ids)

    def _drop_unit(self, unit: SourceRecord | None, persons: dict) -> None:
        if unit is not None:
            for person in unit.persons:
                persons.pop(person.record_id, None)
            self.report.superseded += 1

    # ---------------------------------------------------------------- quarantine and tombstones

    def _quarantine(self, rejected: list[Rejected]) -> None:
        """Store rejected rows, once per file content: an earlier ingest of this file already holds them."""
        self.report.quarantined += len(rejected)
        room = MAX_REASONS_IN_EVENT - len(self.report.quarantine_reasons)
        self.report.quarantine_reasons.extend({"line": r.line, "reason": r.reason} for r in rejected[:max(room, 0)])
        if not rejected or self.same_file_runs:
            return
        run_id, now, name = self.report.run_id, _now(), self.report.path.name
        self.conn.execute(insert(quarantine), [
            {"run_id": run_id, "source": self.source, "file_name": name, "line": r.line, "reason": r.reason,
             "raw_enc": self.cipher.encrypt(r.raw, aad("quarantine", self.source, f"{run_id}:{r.line}", "raw")),
             "created_at": now}
            for r in rejected])

    def _apply_tombstones(self, tombstones: dict[str, Tombstone]) -> None:
        if not tombstones:
            return
        t = source_households
        stored = dict(self.conn.execute(select(t.c.household_ref, t.c.version).where(
            t.c.source == self.source, t.c.household_ref.in_(list(tombstones)))).all())
        refs = [ref for ref, stone in tombstones.items() if ref in stored and stored[ref] <= stone.version]
        if not refs:
            return
        r = source_records
        gone = self.conn.execute(delete(r).where(r.c.source == self.source, r.c.household_ref.in_(refs)))
        self.conn.execute(delete(t).where(t.c.source == self.source, t.c.household_ref.in_(refs)))
        self.report.deleted += gone.rowcount

    # ---------------------------------------------------------------- households

    def _write_households(self, units: dict[str, SourceRecord]) -> tuple[set[str], dict[str, str]]:
        """Insert or update household units; drop members no longer listed. Returns the refs whose stored
        version is newer (their persons are skipped) and the household id of every other unit."""
        if not units:
            return set(), {}
        t, r = source_households, source_records
        refs = list(units)
        stored = {row.household_ref: row for row in self.conn.execute(
            select(t.c.id, t.c.household_ref, t.c.household_id, t.c.version, t.c.fingerprint, t.c.run_id,
                   t.c.line)
            .where(t.c.source == self.source, t.c.household_ref.in_(refs)))}
        members: dict[str, list[str]] = {}
        for rid, ref in self.conn.execute(select(r.c.record_id, r.c.household_ref).where(
                r.c.source == self.source, r.c.household_ref.in_(refs))):
            members.setdefault(ref, []).append(rid)
        stale, ids, inserts, updates, leavers = set(), {}, [], [], []
        for ref, unit in units.items():
            old = stored.get(ref)
            if old is not None and old.version > unit.version:
                stale.add(ref)
                continue
            if self._superseded_in_file(old, unit.line):
                stale.add(ref)
                continue
            ids[ref] = old.household_id if old is not None else new_id()
            listed = {p.record_id for p in unit.persons}
            leavers.extend(rid for rid in members.get(ref, ()) if rid not in listed)
            row = self._household_row(unit, ids[ref])
            if old is None:
                inserts.append(tuple(row[c] for c in HOUSEHOLD_COLUMNS) + (self.report.run_id,))
            elif old.fingerprint != row["fingerprint"]:
                updates.append(tuple(row[c] for c in HOUSEHOLD_COLUMNS) + (old.id,))
        bulk_insert(self.conn, t, HOUSEHOLD_COLUMNS + ("created_run_id",), inserts)
        bulk_update(self.conn, t, HOUSEHOLD_COLUMNS, updates)
        if leavers:
            gone = self.conn.execute(delete(r).where(r.c.source == self.source, r.c.record_id.in_(leavers)))
            self.report.deleted += gone.rowcount
        return stale, ids

    def _household_row(self, unit: SourceRecord, household_id: str) -> dict:
        h = unit.household

        def enc(field_name: str, value: str | None) -> bytes | None:
            return self.cipher.encrypt(value, aad("source_households", self.source, h.ref, field_name))

        fingerprint = self.fingerprint(_canonical(
            [unit.version, h.ref, h.tambon_code, h.moo, h.house_code, h.house_no, h.attributes, h.private,
             h.flags]))
        return {
            "source": self.source, "household_ref": h.ref, "household_id": household_id,
            "version": unit.version, "tambon_code": h.tambon_code, "moo": h.moo,
            "house_key": self.house_key(h.house_code) if h.house_code else None,
            "house_code_enc": enc("house_code", h.house_code), "house_no_enc": enc("house_no", h.house_no),
            "private_enc": enc("private", _canonical(h.private)) if h.private else None,
            "attributes": _canonical(h.attributes), "flags": _canonical(sorted(set(h.flags))),
            "fingerprint": fingerprint,
            "run_id": self.report.run_id, "line": unit.line,
        }

    # ---------------------------------------------------------------- persons

    def _write_persons(self, persons: dict[str, tuple[SourceRecord, PersonRecord]], stale_units: set[str],
                       household_ids: dict[str, str]) -> None:
        if not persons:
            return
        r = source_records
        stored = {row.record_id: row for row in self.conn.execute(
            select(r.c.id, r.c.record_id, r.c.person_id, r.c.household_id, r.c.version, r.c.fingerprint,
                   r.c.run_id, r.c.line)
            .where(r.c.source == self.source, r.c.record_id.in_(list(persons))))}
        inserts, updates = [], []
        for rid, (unit, person) in persons.items():
            ref, old = unit.household.ref, stored.get(rid)
            if ref in stale_units or (old is not None and ref is None and old.version > unit.version):
                self.report.stale += 1
                continue
            if ref is None and self._superseded_in_file(old, unit.line):
                continue
            fingerprint = self._person_fingerprint(unit, person)
            if old is not None and old.fingerprint == fingerprint:
                self.report.unchanged += 1
                continue
            household_id = household_ids[ref] if ref is not None else (old.household_id if old else new_id())
            row = self._person_row(unit, person, fingerprint, household_id)
            if old is None:
                inserts.append(row + (new_id(), self.report.run_id))
            else:
                updates.append(row + (old.id,))
        bulk_insert(self.conn, r, PERSON_COLUMNS + ("person_id", "created_run_id"), inserts)
        bulk_update(self.conn, r, PERSON_COLUMNS, updates)
        self.report.inserted += len(inserts)
        self.report.updated += len(updates)

    def _person_fingerprint(self, unit: SourceRecord, p: PersonRecord) -> bytes:
        """Keyed digest of everything stored for the person, to tell changed from unchanged."""
        h = unit.household
        own_address = (h.house_code, h.house_no, h.flags) if h.ref is None else None
        return self.fingerprint(_canonical([
            unit.version, p.record_id, p.citizen_id.digits if p.citizen_id else None, p.title, p.first_name,
            p.last_name, p.birth_date.iso() if p.birth_date else None, p.sex, p.attributes, p.private,
            {k: v.digits for k, v in p.linked_ids.items()}, p.flags, h.ref, h.tambon_code, h.moo, own_address]))

    def _person_row(self, unit: SourceRecord, p: PersonRecord, fingerprint: bytes, household_id: str) -> tuple:
        """The stored row in :data:`PERSON_COLUMNS` order: keys hashed, personal fields encrypted."""
        h, rid, cipher, source = unit.household, p.record_id, self.cipher, self.source
        own = h.ref is None  # the address belongs to this record, not to a household unit
        birth = p.birth_date.iso() if p.birth_date else None
        cid = p.citizen_id
        flags = p.flags + h.flags if own else p.flags
        return (
            source, rid, h.ref, household_id, unit.version,
            self.id_key(cid.digits) if cid else None,
            cid.status.value if cid else None,
            _canonical({k: self.id_key(v.digits).hex() for k, v in p.linked_ids.items()}) if p.linked_ids else "{}",
            p.title, p.sex, p.birth_date.year if p.birth_date else None, h.tambon_code, h.moo,
            self.house_key(h.house_code) if h.house_code else None,
            cipher.encrypt(p.first_name, aad("source_records", source, rid, "first_name")),
            cipher.encrypt(p.last_name, aad("source_records", source, rid, "last_name")),
            cipher.encrypt(birth, aad("source_records", source, rid, "birth_date")),
            cipher.encrypt(h.house_code, aad("source_records", source, rid, "house_code")) if own else None,
            cipher.encrypt(h.house_no, aad("source_records", source, rid, "house_no")) if own else None,
            cipher.encrypt(_canonical(p.private), aad("source_records", source, rid, "private")) if p.private else None,
            _canonical(p.attributes), _canonical(sorted(set(flags))) if flags else "[]",
            fingerprint, self.report.run_id, unit.line,
        )


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def ingest_file(hub: Hub, source: str, path: Path, *, actor: str,
                progress: Callable[[int], None] | None = None) -> FileReport:
    """Ingest one file through ``source``'s adapter, atomically; returns what happened.

    Raises :class:`UnknownSource` for an unregistered source and :class:`AdapterError` when the file
    cannot be read at all (nothing of it is then stored; the failure is audited).
    ``progress(n)`` is called after each batch with the rows read in it.
    """
    adapter = hub.adapter(source)
    path = Path(path)
    try:
        report = FileReport(source=source, path=path, sha256=file_sha256(path))
        with hub.engine.begin() as conn:
            report.run_id = conn.execute(insert(ingest_runs).values(
                source=source, file_name=str(path), file_sha256=report.sha256, started_at=_now(), status="running",
                rows_read=0, inserted=0, updated=0, unchanged=0, stale=0, deleted=0, quarantined=0,
            )).inserted_primary_key[0]
            writer = _BatchWriter(hub, conn, report)
            for batch in _batches(adapter.read_file(path), hub.settings.ingest_batch_size):
                report.rows_read += len(batch)
                writer.write(batch)
                if progress:
                    progress(len(batch))
            _finish(hub, conn, report, actor)
    except (OSError, AdapterError) as exc:
        message = str(exc) if isinstance(exc, HubError) else f"{path}: cannot read ({exc.strerror or exc})"
        with hub.engine.begin() as conn:
            hub.audit.append(conn, IngestFailed(resource=f"file:{path.name}", source=source, reason=message),
                             actor=actor)
        raise AdapterError(message) from exc
    return report


def _finish(hub: Hub, conn: Connection, report: FileReport, actor: str) -> None:
    counts = {k: getattr(report, k) for k in
              ("rows_read", "inserted", "updated", "unchanged", "stale", "deleted", "quarantined")}
    conn.execute(update(ingest_runs).where(ingest_runs.c.id == report.run_id).values(
        status="completed", finished_at=_now(), **counts))
    resource = f"file:{report.path.name}"
    hub.audit.append(conn, IngestCompleted(resource=resource, source=report.source, file_sha256=report.sha256,
                                           run_id=report.run_id, **counts), actor=actor)
    if report.quarantined:
        hub.audit.append(conn, RowsQuarantined(resource=resource, source=report.source, run_id=report.run_id,
                                               rows=report.quarantine_reasons), actor=actor)
