"""Planner statistics after bulk writes: on PostgreSQL an ingest or a link run that changed a tenth of a
table analyses it at once (autovacuum may be late, or off, as on the test server); a smaller change does not."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from helpers import ACTOR, TPMAP, ingest, is_postgres
from hub.db.statistics import refresh_statistics
from hub.linking.run import link


def _believed_rows(hub, table: str) -> float:
    with hub.engine.connect() as conn:
        return conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t "
                                 "AND relnamespace = current_schema()::regnamespace"), {"t": table}).scalar_one()


def test_sqlite_gathers_no_statistics(hub):
    if is_postgres(hub.engine):
        pytest.skip("SQLite's rule")
    assert refresh_statistics(hub.engine, ("source_records",), 1_000_000) == []


def test_an_ingest_and_a_link_run_leave_their_tables_analysed(hub):
    if not is_postgres(hub.engine):
        pytest.skip("PostgreSQL plans from gathered statistics; SQLite gathers none")
    assert _believed_rows(hub, "source_records") < 0  # never analysed
    report = ingest(hub, "tpmap", TPMAP)
    for table in ("source_records", "record_links"):
        assert _believed_rows(hub, table) == report.inserted
    link(hub, actor=ACTOR)
    assert _believed_rows(hub, "record_links") == report.inserted


def test_a_change_below_a_tenth_of_a_table_leaves_its_statistics_alone(hub):
    if not is_postgres(hub.engine):
        pytest.skip("PostgreSQL plans from gathered statistics; SQLite gathers none")
    ingest(hub, "tpmap", TPMAP)
    stored = _believed_rows(hub, "source_records")
    assert refresh_statistics(hub.engine, ("source_records",), int(stored * 0.05)) == []
    assert refresh_statistics(hub.engine, ("source_records",), int(stored * 0.1) + 1) == ["source_records"]
