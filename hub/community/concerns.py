"""Whom news of a household concerns: the partners whose sources hold a record or unit of it, under the
contracts in force. A notification goes only to them (and only if their contract subscribes to it)."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select, union

from hub.context import Hub
from hub.db.bulk import key_chunks
from hub.db.schema import linked_records, record_links, source_households, source_records


def partners_holding(hub: Hub, conn: Connection, household_ids: Iterable[str]) -> set[str]:
    """The partners that provide a record or unit of any of ``household_ids``: every partner taking its
    source, or of a source several partners share (each university its surveys), the one whose own
    record it is (``own_records``)."""
    ids = sorted(set(household_ids))
    r, h, links = source_records, source_households, record_links
    sources: set[str] = set()
    for chunk in key_chunks(ids):  # a tambon's households: thousands of ids
        sources |= set(conn.scalars(union(select(r.c.source).select_from(linked_records)
                                          .where(links.c.household_id.in_(chunk)),
                                          select(h.c.source).where(h.c.household_id.in_(chunk)))))
    partners: set[str] = set()
    for source in sources:
        if not hub.contracts.owners(source):
            partners |= hub.contracts.providers(source, None)
            continue
        for chunk in key_chunks(ids):  # a shared source's records belong to units, which carry the mark
            for attributes in conn.scalars(select(h.c.attributes).where(h.c.source == source,
                                                                        h.c.household_id.in_(chunk))):
                partners |= hub.contracts.providers(source, attributes)
    return partners


def households_of(conn: Connection, subject_kind: str, subject_ref: str) -> set[str]:
    """The households a consent's subject covers: a person's (by citizen-ID ref or person id), a household,
    or every household with a record in a community (village ``TTTTTT-MM`` or tambon)."""
    r, links = source_records, record_links
    kind, _, value = subject_ref.partition(":")
    if subject_kind == "household":
        return {value}
    query = select(links.c.household_id).select_from(linked_records)
    if subject_kind == "person":
        column = r.c.linkage_key if kind == "cid" else links.c.person_id
        return set(conn.scalars(query.where(column == (bytes.fromhex(value) if kind == "cid" else value))))
    tambon, _, moo = subject_ref.partition("-")
    query = query.where(r.c.tambon_code == tambon)
    return set(conn.scalars(query.where(r.c.moo == int(moo)) if moo else query))
