"""Exports as CSV files, audited: the record-to-person map and the retired-id map (no personal fields),
and the writer every export uses (:func:`write_export`)."""
from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from sqlalchemy import Connection, select

from audit.events import EventType, LinksExported, RedirectsExported
from hub.context import Hub
from hub.db.schema import linked_records, record_links, source_records
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
    query = select(r.c.source, r.c.record_id, record_links.c.person_id, record_links.c.household_id) \
        .select_from(linked_records).order_by(*order)
    return write_export(hub, out, LINKS_HEADER, actor=actor,
                        event=lambda n: LinksExported(resource=f"file:{out.name}", rows=n),
                        rows=lambda conn: conn.execute(query.execution_options(stream_results=True, yield_per=10000)))


def export_redirects(hub: Hub, out: Path, *, actor: str) -> int:
    """Write ``kind,retired_id,current_id`` for every id linking retired, chains followed, so a partner
    holding an old id finds today's; returns the row count. The export is audited."""
    def rows(conn: Connection) -> Iterator[tuple]:
        for kind in ("person", "household"):
            for retired, current in sorted(current_ids(conn, kind).items()):
                yield kind, retired, current

    return write_export(hub, out, REDIRECTS_HEADER, actor=actor,
                        event=lambda n: RedirectsExported(resource=f"file:{out.name}", rows=n), rows=rows)


def write_export(hub: Hub, out: Path, header: Sequence[str], *, actor: str, event: Callable[[int], EventType],
                 rows: Callable[[Connection], Iterable[Sequence]], encoding: str = "utf-8") -> int:
    """Write ``header`` and ``rows(conn)`` to ``out`` as CSV, through a temporary file renamed when
    complete, and audit the export (``event(row count)``) in the same transaction; returns the row count.
    ``encoding="utf-8-sig"`` adds the byte-order mark with which Excel shows Thai correctly."""
    if not out.parent.is_dir():
        raise HubError(f"{out.parent}: no such directory to write {out.name} into")
    count = 0
    tmp = out.with_name(out.name + ".tmp")
    try:
        with hub.engine.begin() as conn, open(tmp, "w", encoding=encoding, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows(conn):
                writer.writerow(row)
                count += 1
            hub.audit.append(conn, event(count), actor=actor)
    except BaseException:
        tmp.unlink(missing_ok=True)  # an export whose audit event was not written leaves nothing behind
        raise
    tmp.replace(out)
    return count
