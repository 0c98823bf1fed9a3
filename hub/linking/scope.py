"""What an incremental run works on, found by the database: the records written since the last run (and
those a new decision names), the stored records that could make an *undecided* pair with one, and the
persons and households tied to them. A run after a small delivery decrypts and compares a small part of
the store; its lookups are indexed or single scans inside the database.

A pair of two valid citizen IDs that are not one edit apart is settled by the IDs (two people) and never
scored (:data:`hub.linking.model.UNDECIDED`). So a stored record with a valid ID is compared with the
changed records of its blocks only when one of them lacks a valid ID, or when its ID is one edit from a
changed record's; most of the store has a valid ID, and most candidates need neither decrypting nor scoring.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from sqlalchemy import Connection

from hub.db.bulk import bulk_insert, placeholder
from hub.db.schema import LINKED_RECORDS_SQL, linked_records_sql
from hub.linking.candidate_keys import VARIANT_BYTES
from hub.linking.records import KeyRow, bytes_reader, load_keys

_PG_TYPES = {"BLOB": "BYTEA", "INT": "BIGINT", "TEXT": "TEXT"}
_names = itertools.count()


class _Keys:
    """Temporary one- or two-column tables of keys, dropped when the scope is found."""

    def __init__(self, conn: Connection):
        self.conn, self.tables = conn, []
        self.mark = placeholder(conn)

    def table(self, values: Iterable, *kinds: str) -> str:
        """A new temporary table of the distinct ``values`` (tuples when more than one ``kinds``: BLOB,
        INT or TEXT per column); returns its name."""
        name = f"link_scope_{next(_names)}"
        types = [_PG_TYPES[k] if self.conn.dialect.name == "postgresql" else k for k in kinds]
        columns = [f"v{i}" for i in range(len(kinds))]
        self.conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} "
                                  f"({', '.join(f'{c} {t}' for c, t in zip(columns, types))})")
        bulk_insert(self.conn, name, columns, [v if len(kinds) > 1 else (v,) for v in set(values)])
        self.tables.append(name)
        return name

    def drop(self) -> None:
        for name in self.tables:
            self.conn.exec_driver_sql(f"DROP TABLE {name}")


def changed_records(conn: Connection, watermark: int, decided: set[tuple[str, str]]) -> list[KeyRow]:
    """The records written by ingest runs that committed after ``watermark`` (``ingest_runs.committed``),
    and every record of the persons that ``decided`` (records named by decisions no run has applied yet)
    belong to: a decision re-links whole persons, so a reversed ``same`` can split one."""
    keys = _Keys(conn)
    try:
        where = f"t.run_id IN (SELECT r.id FROM ingest_runs r WHERE r.committed > {keys.mark})"
        if decided:
            named = keys.table(decided, "TEXT", "TEXT")
            where += (f" OR l.person_id IN (SELECT k.person_id FROM {linked_records_sql('s', 'k')} "
                      f"WHERE (s.source, s.record_id) IN (SELECT v0, v1 FROM {named}))")
        return load_keys(conn, where, (watermark,))
    finally:
        keys.drop()


@dataclass
class Scope:
    """``compared``: the changed records and the stored records that may make an undecided pair with one in
    a blocking rule (decrypted and scored). ``persons`` and ``households``: those of the stored records that
    share a citizen ID, a house, a village house number, a household unit or a guardian link with a changed
    record (a run that may renumber them must see them whole)."""

    compared: list[KeyRow]
    persons: set[str]
    households: set[str]


class _Block(NamedTuple):
    """A blocking key of :data:`hub.linking.model.BLOCKING_RULES` that an index finds."""

    columns: str
    kinds: tuple[str, ...]
    key_of: Callable[[KeyRow], object]
    near_ids: bool  # whether valid IDs one edit from a changed record's are looked for in the block


#: A valid ID with a typo that passes the check digit is looked for among namesakes (phonetic first and
#: last name) and housemates; not among all who share a first name or a tambon and birth year, which would
#: read most of those blocks' rows. A full run compares every variant.
_BLOCKS = (
    _Block("t.first_name_block", ("INT",), lambda r: r.first_name_block, near_ids=False),
    _Block("t.full_name_block", ("INT",), lambda r: r.full_name_block, near_ids=True),
    _Block("t.tambon_code, t.birth_year", ("TEXT", "INT"),
           lambda r: (r.tambon_code, r.birth_year) if r.birth_year is not None else None, near_ids=False),
)


class _NearIds:
    """The deletion variants of the changed records' IDs: which stored valid IDs are one edit from one.
    Vectorised: each distinct (variant, changed ID) pair sorted once; a stored ID is near when it shares a
    variant with a changed ID other than itself."""

    def __init__(self, changed: list[KeyRow]):
        self._index: dict[bytes, int] = {}
        blobs = []
        for row in changed:
            if row.variants and row.any_key not in self._index:
                self._index[row.any_key] = len(blobs)
                blobs.append(row.variants)
        flat = np.frombuffer(b"".join(blobs), dtype=np.uint64)
        owner = np.repeat(np.arange(len(blobs)), [len(b) // VARIANT_BYTES for b in blobs])
        order = np.lexsort((owner, flat))
        flat, owner = flat[order], owner[order]
        distinct = np.ones(len(flat), dtype=bool)  # an ID with two equal adjacent digits repeats a variant
        distinct[1:] = (flat[1:] != flat[:-1]) | (owner[1:] != owner[:-1])
        self._variants, self._owners = flat[distinct], owner[distinct]

    def among(self, ids: list[tuple[int, bytes | None, bytes | None]]) -> set[int]:
        """Of ``ids`` (record id, keyed ID, its variants), the records whose ID is one edit from a changed
        record's other ID."""
        ids = [(pk, key, variants) for pk, key, variants in ids if variants]
        if not ids or not len(self._variants):
            return set()
        flat = np.frombuffer(b"".join(v for _, _, v in ids), dtype=np.uint64)
        holder = np.repeat(np.arange(len(ids)), [len(v) // VARIANT_BYTES for _, _, v in ids])
        own = np.array([self._index.get(key, -1) for _, key, _ in ids])[holder]
        low = np.searchsorted(self._variants, flat, side="left")
        high = np.searchsorted(self._variants, flat, side="right")
        first_owner = self._owners[low.clip(max=len(self._owners) - 1)]
        near = (high - low > 1) | ((high - low == 1) & (first_owner != own))
        return {ids[i][0] for i in np.unique(holder[near]).tolist()}


class _ScopeFinder:
    """Gathers the :class:`Scope` of ``changed`` through lookups in the database."""

    def __init__(self, conn: Connection, keys: _Keys, changed: list[KeyRow]):
        self.conn, self.keys, self.changed = conn, keys, changed
        self.as_bytes = bytes_reader(conn)
        self.near = _NearIds(changed)
        self.compared: set[int] = set()
        self.persons: set[str] = set()
        self.households: set[str] = set()

    def _in(self, columns: str, values: set, kinds: tuple[str, ...]) -> str:
        selected = ", ".join(f"v{i}" for i in range(len(kinds)))
        return f"({columns}) IN (SELECT {selected} FROM {self.keys.table(values, *kinds)})"

    def block(self, block: _Block) -> None:
        """The records of ``block`` a changed record may make an undecided pair with: all of a block that
        holds a changed record without a valid ID; of the other blocks, those without a valid ID (read
        from the index), and those with an ID one edit away where the block looks for them."""
        open_keys = {block.key_of(r) for r in self.changed if r.valid_key is None} - {None}
        settled_keys = {block.key_of(r) for r in self.changed if r.valid_key is not None} - {None} - open_keys
        if open_keys:
            where = self._in(block.columns, open_keys, block.kinds)
            self.compared.update(pk for pk, in self.conn.exec_driver_sql(
                f"SELECT t.id FROM source_records t WHERE {where}").fetchall())
        if settled_keys:
            where = self._in(block.columns, settled_keys, block.kinds)
            self.compared.update(pk for pk, in self.conn.exec_driver_sql(
                f"SELECT t.id FROM source_records t WHERE {where} AND COALESCE(t.id_status, '') <> 'valid'").fetchall())
            if block.near_ids:
                self.compared.update(self.near.among([(pk, self.as_bytes(key), self.as_bytes(variants))
                                                      for pk, key, variants in self.conn.exec_driver_sql(
                    f"SELECT t.id, t.linkage_key, t.id_variants FROM source_records t "
                    f"WHERE {where} AND t.id_status = 'valid'").fetchall()]))

    def ids_and_houses(self) -> None:
        """The records with a changed record's citizen ID (or its guardian's) or house are tied to it; the
        house is a blocking rule too, so housemates it may make an undecided pair with are compared."""
        houses = {r.house_key for r in self.changed if r.house_key is not None}
        open_houses = {r.house_key for r in self.changed if r.house_key is not None and r.valid_key is None}
        table = self.keys.table([k for r in self.changed for k in (r.any_key, r.guardian_key, r.house_key)
                                 if k is not None], "BLOB")
        housemates = []  # with a valid ID: compared when it is one edit from a changed record's
        select = (f"SELECT t.id, l.person_id, l.household_id, t.house_key, t.id_status, t.linkage_key, "
                  f"t.id_variants FROM {LINKED_RECORDS_SQL} WHERE t.{{}} IN (SELECT v0 FROM {table})")
        # a UNION, not an OR: each side is an index lookup, where PostgreSQL filters an OR by scanning
        for pk, person, household, house, status, key, variants in self.conn.exec_driver_sql(
                f"{select.format('linkage_key')} UNION {select.format('house_key')}").fetchall():
            self.persons.add(person)
            self.households.add(household)
            house = self.as_bytes(house)
            if house in open_houses or (house in houses and status != "valid"):
                self.compared.add(pk)
            elif house in houses:
                housemates.append((pk, self.as_bytes(key), self.as_bytes(variants)))
        self.compared.update(self.near.among(housemates))

    def tie(self, columns: str, values: set, *kinds: str) -> None:
        """The records sharing ``columns`` with a changed record are tied to it."""
        if values:
            where = self._in(columns, values, kinds)
            for person, household in self.conn.exec_driver_sql(
                    f"SELECT l.person_id, l.household_id FROM {LINKED_RECORDS_SQL} WHERE {where}").fetchall():
                self.persons.add(person)
                self.households.add(household)

    def scope(self) -> Scope:
        ids = self.compared - {r.pk for r in self.changed}
        rows = load_keys(self.conn, f"t.id IN (SELECT v0 FROM {self.keys.table(ids, 'INT')})") if ids else []
        return Scope(sorted([*self.changed, *rows], key=lambda r: r.pk), self.persons, self.households)


def candidates_of(conn: Connection, changed: list[KeyRow]) -> Scope:
    """The :class:`Scope` of the ``changed`` records: what they may make an undecided pair with in each
    blocking rule (:meth:`_ScopeFinder.block`, :meth:`_ScopeFinder.ids_and_houses`), and the persons and
    households tied to them by ID, house, village house number or household unit."""
    keys = _Keys(conn)
    try:
        finder = _ScopeFinder(conn, keys, changed)
        for block in _BLOCKS:
            finder.block(block)
        finder.ids_and_houses()
        finder.tie("t.address_block", {r.address_block for r in changed if r.address_block is not None}, "INT")
        finder.tie("t.source, t.household_ref", {(r.source, r.household_ref) for r in changed if r.household_ref},
                   "TEXT", "TEXT")
        return finder.scope()
    finally:
        keys.drop()


def whole(conn: Connection, persons: set[str], households: set[str], known: Iterable[KeyRow] = ()) -> list[KeyRow]:
    """Every record of the ``persons`` and of the ``households``, and of the households of those persons
    (what a run may renumber must be seen whole), in primary-key order. The ``known`` records (read in
    this transaction) are taken as they are, not read again."""
    keys = _Keys(conn)
    try:
        named = keys.table(persons, "TEXT")
        theirs = {h for h, in conn.exec_driver_sql(
            f"SELECT DISTINCT l.household_id FROM record_links l WHERE l.person_id IN (SELECT v0 FROM {named})")}
        ids = [pk for pk, in conn.exec_driver_sql(f"SELECT l.id FROM record_links l WHERE l.household_id IN "
                                                  f"(SELECT v0 FROM {keys.table(households | theirs, 'TEXT')})")]
        have = {row.pk: row for row in known}
        missing = [pk for pk in ids if pk not in have]
        read = load_keys(conn, f"t.id IN (SELECT v0 FROM {keys.table(missing, 'INT')})") if missing else []
        return sorted([*(have[pk] for pk in ids if pk in have), *read], key=lambda row: row.pk)
    finally:
        keys.drop()
