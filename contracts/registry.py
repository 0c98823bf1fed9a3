"""The contracts the hub has acted under, kept in the database by digest: a contract version is
recorded, with a ``contract.loaded`` audit event, the first time an ingest or a publish relies on it."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from audit.chain import AuditLog
from audit.events import ContractLoaded
from contracts.load import ContractSet
from hub.db.schema import contracts as contracts_table


def record_in_force(conn: Connection, contracts: ContractSet, *, audit: AuditLog, actor: str) -> int:
    """Record every contract version in force not seen before; returns how many were new."""
    seen = {(r.contract_id, r.sha256) for r in conn.execute(
        select(contracts_table.c.contract_id, contracts_table.c.sha256))}
    new = [c for c in contracts.in_force() if (c.contract.id, c.sha256) not in seen]
    now = dt.datetime.now(dt.UTC)
    for loaded in new:
        conn.execute(contracts_table.insert().values(
            contract_id=loaded.contract.id, sha256=loaded.sha256, version=loaded.contract.version,
            body=loaded.text, first_seen_at=now))
        audit.append(conn, ContractLoaded(resource=f"contract:{loaded.contract.id}", version=loaded.contract.version,
                                          sha256=loaded.sha256, file=loaded.path.name), actor=actor)
    return len(new)
