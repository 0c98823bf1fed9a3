"""Verifications and referrals name households by their stable ids; when a link run retires an id (two
households found to be one), what named it follows to the id that replaced it."""
from __future__ import annotations

from sqlalchemy import Connection

from hub.db.bulk import bulk_insert
from hub.db.schema import household_verifications, referrals


def follow_retired_households(conn: Connection, retired: dict[str, str]) -> None:
    """Rename household ids ``retired`` (old -> new) in verifications and referrals (the caller's
    transaction: the link run that retired them), one statement per table whatever their number."""
    if not retired:
        return
    staged = "retired_households"
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {staged} (old_id VARCHAR(32) PRIMARY KEY, new_id VARCHAR(32))")
    try:
        bulk_insert(conn, staged, ("old_id", "new_id"), list(retired.items()))
        for table in (household_verifications, referrals):
            conn.exec_driver_sql(f"UPDATE {table.name} SET household_id = s.new_id FROM {staged} s "
                                 f"WHERE {table.name}.household_id = s.old_id")
    finally:
        conn.exec_driver_sql(f"DROP TABLE {staged}")
