"""Pull a source from its partner's API, page by page, resumable.

Each page is stored as an NDJSON file of its items and ingested (:func:`hub.pipeline.ingest.ingest_file`)
with the source's cursor (:data:`hub.db.schema.source_cursors`) in the same transaction: a page is in the
store together with the cursor that points past it, or neither is. A pull that fails or is killed halfway
therefore resumes from the page after the last one stored, never starting over and never losing one. When
a walk reaches its last page, the greatest change time it stored becomes ``since``, and the next pull asks
only for what changed from then (``updated_since``: the API's times are inclusive, so the newest records
come once more and are recognised as unchanged).
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, insert, select, update

from hub.adapter_kit import Page
from hub.context import Hub
from hub.db.schema import source_cursors
from hub.errors import AdapterError, ConfigurationError, HubError
from hub.pipeline.ingest import ingest_file
from hub.sync.access import load_access
from hub.sync.events import PullCompleted, PullFailed


@dataclass(frozen=True)
class Cursor:
    since: str | None = None
    token: str | None = None
    walk_high: str | None = None
    pages: int = 0
    items: int = 0

    def after(self, page: Page) -> Cursor:
        """Where the pull stands once ``page`` is stored."""
        high = max(filter(None, (self.walk_high, page.high_water)), default=None)
        if page.next_token is None:  # the walk is complete: ask from its newest change next time
            return Cursor(max(filter(None, (self.since, high)), default=None), None, None,
                          self.pages + 1, self.items + len(page.items))
        return Cursor(self.since, page.next_token, high, self.pages + 1, self.items + len(page.items))


@dataclass
class PullReport:
    source: str
    pages: int = 0
    items: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    resumed: bool = False


def read_cursor(conn: Connection, source: str) -> Cursor:
    row = conn.execute(select(source_cursors).where(source_cursors.c.source == source)).first()
    return Cursor() if row is None else Cursor(row.since, row.token, row.walk_high, row.pages, row.items)


def _save_cursor(conn: Connection, source: str, cursor: Cursor) -> None:
    values = {"since": cursor.since, "token": cursor.token, "walk_high": cursor.walk_high, "pages": cursor.pages,
              "items": cursor.items, "updated_at": dt.datetime.now(dt.UTC)}
    if conn.execute(update(source_cursors).where(source_cursors.c.source == source).values(**values)).rowcount == 0:
        conn.execute(insert(source_cursors).values(source=source, **values))


def pull(hub: Hub, source: str, *, actor: str, on_page: Callable[[PullReport], None] | None = None) -> PullReport:
    """Pull what changed at ``source``'s partner since the last pull, resuming a walk left halfway.
    Raises :class:`ConfigurationError` when the source has no API in ``sources.toml``, and
    :class:`HubError` (:class:`~hub.sync.partner_http.PartnerUnavailable`, ``PartnerRefused``,
    :class:`~hub.errors.AdapterError`) when the partner fails; the pages stored until then stay."""
    adapter = hub.adapter(source)
    access = load_access(hub.settings.resolved_sources_file).get(source)
    if access is None or access.api is None or not adapter.pulls():
        raise ConfigurationError(f"{source} has no API to pull from in {hub.settings.resolved_sources_file}")
    api = access.api
    staging = hub.settings.resolved_home / "pulls" / source
    staging.mkdir(parents=True, exist_ok=True)
    with hub.engine.connect() as conn:
        cursor = read_cursor(conn, source)
    report = PullReport(source, resumed=cursor.token is not None)
    with api.client() as client:
        try:
            while True:
                page = adapter.fetch_page(client, since=cursor.since, token=cursor.token, page_size=api.page_size)
                if page.next_token is not None and page.next_token == cursor.token:
                    raise AdapterError(f"{source}'s API gave the same page token twice ({page.next_token!r})")
                cursor = _store(hub, source, page, cursor, staging, report, actor)
                if on_page:
                    on_page(report)
                if page.next_token is None:
                    break
        except HubError as exc:
            with hub.engine.begin() as conn:
                hub.audit.append(conn, PullFailed(resource=f"source:{source}", source=source, pages=report.pages,
                                                  reason=str(exc)), actor=actor)
            raise
        with hub.engine.begin() as conn:
            hub.audit.append(conn, PullCompleted(resource=f"source:{source}", source=source, pages=report.pages,
                                                 items=report.items, since=cursor.since, retries=client.retries),
                             actor=actor)
    return report


def write_page(path: Path, page: Page) -> Path:
    """``page``'s items as the NDJSON file its adapter's ``read_file`` reads (UTF-8, one item a line)."""
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in page.items), encoding="utf-8")
    return path


def _store(hub: Hub, source: str, page: Page, cursor: Cursor, staging: Path, report: PullReport,
           actor: str) -> Cursor:
    """Ingest ``page`` with the cursor past it, in one transaction; the new cursor."""
    moved = cursor.after(page)
    if not page.items:  # nothing to ingest (an empty last page): only the cursor moves
        with hub.engine.begin() as conn:
            _save_cursor(conn, source, moved)
    else:
        path = write_page(staging / f"page-{moved.pages:08d}.ndjson", page)
        try:
            done = ingest_file(hub, source, path, actor=actor, also=lambda conn: _save_cursor(conn, source, moved))
        finally:
            path.unlink(missing_ok=True)
        for name in ("inserted", "updated", "unchanged", "deleted", "quarantined"):
            setattr(report, name, getattr(report, name) + getattr(done, name))
    report.pages += 1
    report.items += len(page.items)
    return moved
