"""Exports that carry no personal fields: the record-to-person map."""
from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from audit.events import LinksExported, RedirectsExported
from hub.context import Hub
from hub.db.schema import source_records
from hub.errors import HubError
from hub.linking.redirects import current_ids

LINKS_HEADER = ("source", "source_record_id", "person_id", "household_id")
REDIRECTS_HEADER = ("kind", "retired_id", "current_id")


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


def export_redirects(hub: Hub, out: Path, *, actor: str) -> int:
    """Write ``kind,retired_id,current_id`` for every id linking retired, chains followed, so a partner
    holding an old id finds today's; returns the row count. The export is audited."""
    if not out.parent.is_dir():
        raise HubError(f"{out.parent}: no such directory to write {out.name} into")
    tmp = out.with_name(out.name + ".tmp")
    rows = 0
    with hub.engine.begin() as conn, open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REDIRECTS_HEADER)
        for kind in ("person", "household"):
            for retired, current in sorted(current_ids(conn, kind).items()):
                writer.writerow((kind, retired, current))
                rows += 1
        hub.audit.append(conn, RedirectsExported(resource=f"file:{out.name}", rows=rows), actor=actor)
    tmp.replace(out)
    return rows
