"""What an incremental run works on, found by the database: the records written since the last run (and
those a new decision names), the records that share a blocking key with them, and, for what the scores
and IDs tie to them, whole persons and whole households. A run after a small delivery decrypts and
compares a small part of the store; its lookups are indexed or single scans inside the database.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable

from sqlalchemy import Connection

from hub.db.bulk import placeholder
from hub.linking.records import KeyRow, load_keys

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
        columns = ", ".join(f"v{i} {t}" for i, t in enumerate(types))
        self.conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({columns})")
        rows = [v if len(kinds) > 1 else (v,) for v in set(values)]
        if rows:
            marks = ", ".join([self.mark] * len(kinds))
            self.conn.exec_driver_sql(f"INSERT INTO {name} VALUES ({marks})", rows)
        self.tables.append(name)
        return name

    def drop(self) -> None:
        for name in self.tables:
            self.conn.exec_driver_sql(f"DROP TABLE {name}")


def changed_records(conn: Connection, watermark: int, decided: set[tuple[str, str]]) -> list[KeyRow]:
    """The records written after ingest run ``watermark``, and every record of the persons that
    ``decided`` (records named by decisions taken since the last run) belong to: a decision re-links
    whole persons, so a reversed ``same`` can split one."""
    keys = _Keys(conn)
    try:
        where = f"t.run_id > {keys.mark}"
        if decided:
            named = keys.table(decided, "TEXT", "TEXT")
            where += (f" OR t.person_id IN (SELECT s.person_id FROM source_records s "
                      f"WHERE (s.source, s.record_id) IN (SELECT v0, v1 FROM {named}))")
        return load_keys(conn, where, (watermark,))
    finally:
        keys.drop()


def candidates_of(conn: Connection, dirty: list[KeyRow]) -> list[KeyRow]:
    """The ``dirty`` records and every record sharing a blocking key, a citizen ID, a house, a household
    unit or a guardian link with one: indexed lookups for the blocks and units, one scan for the keyed
    IDs and houses. An ID one edit from a dirty record's is found through the name and area blocks it
    also shares; a full run compares every variant."""
    keys = _Keys(conn)
    found: dict[int, KeyRow] = {r.pk: r for r in dirty}
    try:
        def lookup(columns: str, values: list, *kinds: str) -> None:
            if values:
                selected = ", ".join(f"v{i}" for i in range(len(kinds)))
                table = keys.table(values, *kinds)
                for row in load_keys(conn, f"({columns}) IN (SELECT {selected} FROM {table})"):
                    found.setdefault(row.pk, row)

        lookup("t.first_name_block", [r.first_name_block for r in dirty if r.first_name_block is not None], "INT")
        lookup("t.full_name_block", [r.full_name_block for r in dirty if r.full_name_block is not None], "INT")
        lookup("t.address_block", [r.address_block for r in dirty if r.address_block is not None], "INT")
        keys_and_houses = keys.table([k for r in dirty for k in (r.any_key, r.guardian_key, r.house_key)
                                      if k is not None], "BLOB")
        for row in load_keys(conn, f"t.linkage_key IN (SELECT v0 FROM {keys_and_houses}) "
                                   f"OR t.house_key IN (SELECT v0 FROM {keys_and_houses})"):
            found.setdefault(row.pk, row)
        lookup("t.source, t.household_ref", [(r.source, r.household_ref) for r in dirty if r.household_ref], "TEXT",
               "TEXT")
        lookup("t.tambon_code, t.birth_year", [(r.tambon_code, r.birth_year) for r in dirty if r.birth_year],
               "TEXT", "INT")
    finally:
        keys.drop()
    return sorted(found.values(), key=lambda r: r.pk)


def whole(conn: Connection, involved: list[KeyRow]) -> list[KeyRow]:
    """Every record of the persons of ``involved``, then every record of their households: what a run
    may renumber must be seen whole."""
    keys = _Keys(conn)
    try:
        persons = keys.table({r.person_id for r in involved}, "TEXT")
        members = load_keys(conn, f"t.person_id IN (SELECT v0 FROM {persons})")
        households = keys.table({r.household_id for r in members} | {r.household_id for r in involved}, "TEXT")
        return load_keys(conn, f"t.household_id IN (SELECT v0 FROM {households})")
    finally:
        keys.drop()
