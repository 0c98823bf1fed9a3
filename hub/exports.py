"""Exports that carry no personal fields: the record-to-person map."""
from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from audit.events import LinksExported
from hub.context import Hub
from hub.db.schema import source_records
from hub.errors import HubError

LINKS_HEADER = ("source", "source_record_id", "person_id", "household_id")


def export_links(hub: Hub, out: Path, *, actor: str) -> int:
    """Write ``source,source_record_id,person_id,household_id`` for every accepted record, sorted by
    source and record id (byte order); returns the row count. The export is audited."""
    r = source_records
    order = (r.c.source, r.c.record_id)
    if hub.engine.dialect.name == "postgresql":  # byte order, as on SQLite, whatever the database's locale
        order = tuple(column.collate("C") for column in order)
    query = select(r.c.source, r.c.record_id, r.c.person_id, r.c.household_id).order_by(*order)
    if not out.parent.is_dir():
        raise HubError(f"{out.parent}: no such directory to write {out.name} into")
    rows = 0
    tmp = out.with_name(out.name + ".tmp")
    with hub.engine.begin() as conn, open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LINKS_HEADER)
        for row in conn.execute(query.execution_options(stream_results=True, yield_per=10000)):
            writer.writerow(row)
            rows += 1
        hub.audit.append(conn, LinksExported(resource=f"file:{out.name}", rows=rows), actor=actor)
    tmp.replace(out)
    return rows
