"""Retention: a record is kept as long as the longest retention any contract in force gives its source,
counted from the last time the source delivered it (the finish of the ingest run that last wrote it). A
source no contract covers any longer has no retention at all. Records past retention are deleted, with
their ciphertexts; a household unit goes with them when it was last delivered as long ago."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select

from audit.events import RetentionApplied
from contracts.load import ContractSet
from hub.context import Hub
from hub.db.schema import ingest_runs, source_households, source_records


@dataclass(frozen=True)
class SourceRetention:
    source: str
    retention_days: int | None  # None: no contract covers the source any longer
    records: int
    overdue: int
    households_overdue: int

    @property
    def cutoff_reason(self) -> str:
        return "no contract covers it" if self.retention_days is None else f"{self.retention_days} days"


def retention_days(contracts: ContractSet, source: str) -> int | None:
    """The longest retention any contract gives ``source`` (``None`` when none covers it)."""
    days = [c.contract.sources[source].retention_days for c in contracts.in_force() if source in c.contract.sources]
    return max(days) if days else None


def _cutoff(days: int | None, now: dt.datetime) -> dt.datetime:
    return now if days is None else now - dt.timedelta(days=days)


def _overdue_runs(table, source: str, cutoff: dt.datetime):
    return select(ingest_runs.c.id).where(ingest_runs.c.source == source, ingest_runs.c.finished_at < cutoff,
                                          ingest_runs.c.id.in_(select(table.c.run_id).where(table.c.source == source)))


def review(conn: Connection, contracts: ContractSet, *, now: dt.datetime) -> list[SourceRetention]:
    """Per stored source: its retention, its records and how many are past it."""
    sources = conn.scalars(select(source_records.c.source).distinct().order_by(source_records.c.source)).all()
    out = []
    for source in sources:
        days = retention_days(contracts, source)
        cutoff = _cutoff(days, now)
        count = select(func.count()).where(source_records.c.source == source)
        records = conn.scalar(count.select_from(source_records))
        overdue = conn.scalar(count.select_from(source_records).where(
            source_records.c.run_id.in_(_overdue_runs(source_records, source, cutoff))))
        households = conn.scalar(select(func.count()).select_from(source_households).where(
            source_households.c.source == source,
            source_households.c.run_id.in_(_overdue_runs(source_households, source, cutoff))))
        out.append(SourceRetention(source, days, records, overdue, households))
    return out


def apply(hub: Hub, *, actor: str, now: dt.datetime | None = None) -> list[SourceRetention]:
    """Delete every record and household unit past retention, in one transaction with its audit event."""
    now = now or dt.datetime.now(dt.UTC)
    with hub.engine.begin() as conn:
        found = review(conn, hub.contracts, now=now)
        for item in found:
            if not (item.overdue or item.households_overdue):
                continue
            cutoff = _cutoff(item.retention_days, now)
            conn.execute(delete(source_records).where(
                source_records.c.source == item.source,
                source_records.c.run_id.in_(_overdue_runs(source_records, item.source, cutoff))))
            conn.execute(delete(source_households).where(
                source_households.c.source == item.source,
                source_households.c.run_id.in_(_overdue_runs(source_households, item.source, cutoff))))
            hub.audit.append(conn, RetentionApplied(
                resource=f"source:{item.source}", retention=item.cutoff_reason, records_deleted=item.overdue,
                households_deleted=item.households_overdue), actor=actor)
    return found
