"""Planner statistics after bulk writes, on PostgreSQL.

The planner chooses index lookups or scans from each table's statistics. Autovacuum refreshes them once a
tenth of a table has changed, when its daemon next wakes, and not at all where it is switched off; a
bulk load read right after it (an ingest, then the link run) was planned without statistics and scanned a
million rows where an index would have found a few thousand. So the writer of a bulk change
applies autovacuum's rule itself, at once, after its commit. SQLite plans without gathered statistics.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

_log = logging.getLogger(__name__)

#: The share of a table's rows a write must change before its statistics are gathered again (autovacuum's
#: default ``autovacuum_analyze_scale_factor``).
STALE_SHARE = 0.1


def refresh_statistics(engine: Engine, tables: Sequence[str], rows_written: int) -> list[str]:
    """``ANALYZE`` those of ``tables`` never analysed, or of which ``rows_written`` is at least
    :data:`STALE_SHARE` of the rows the planner believes they hold; returns the tables analysed. Called
    after the write committed: a failure here is logged, not raised (the data is stored; only plans wait
    for autovacuum)."""
    if engine.dialect.name != "postgresql" or not rows_written:
        return []
    try:
        with engine.begin() as conn:
            believed = dict(conn.exec_driver_sql(
                "SELECT c.relname, c.reltuples FROM pg_class c WHERE c.relname = ANY(%s) "
                "AND c.relnamespace = current_schema()::regnamespace", (list(tables),)).all())
            stale = [t for t in tables
                     if t in believed and (believed[t] < 0 or rows_written >= STALE_SHARE * believed[t])]
            for table in stale:
                conn.exec_driver_sql(f"ANALYZE {table}")
    except SQLAlchemyError as exc:
        _log.warning("planner statistics not refreshed after a bulk write (%s)", type(exc).__name__)
        return []
    return stale
