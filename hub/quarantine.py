"""Reading the quarantine: reasons for everyone who operates the hub, raw rows only with an audit event."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from audit.events import QuarantineRowRead
from hub.context import Hub
from hub.crypto import aad
from hub.db.schema import quarantine
from hub.errors import HubError


@dataclass(frozen=True)
class QuarantinedRow:
    id: int
    source: str
    file_name: str
    line: int
    reason: str
    run_id: int


def list_quarantine(hub: Hub, *, source: str | None = None, run_id: int | None = None,
                    limit: int = 1000) -> list[QuarantinedRow]:
    """Quarantined rows, newest run first, then by line; no personal data."""
    q = quarantine
    query = select(q.c.id, q.c.source, q.c.file_name, q.c.line, q.c.reason, q.c.run_id) \
        .order_by(q.c.run_id.desc(), q.c.line).limit(limit)
    if source:
        query = query.where(q.c.source == source)
    if run_id is not None:
        query = query.where(q.c.run_id == run_id)
    with hub.engine.connect() as conn:
        return [QuarantinedRow(*row) for row in conn.execute(query)]


def read_raw_row(hub: Hub, quarantine_id: int, *, actor: str, reason: str) -> str:
    """Decrypt one quarantined row's raw text (it holds personal data); the read is audited first."""
    q = quarantine
    with hub.engine.begin() as conn:
        row = conn.execute(select(q).where(q.c.id == quarantine_id)).first()
        if row is None:
            raise HubError(f"no quarantined row with id {quarantine_id}")
        hub.audit.append(conn, QuarantineRowRead(resource=f"quarantine:{quarantine_id}",
                                                 quarantine_id=quarantine_id, reason=reason), actor=actor)
    return hub.cipher.decrypt(row.raw_enc, aad("quarantine", row.source, f"{row.run_id}:{row.line}", "raw"))
