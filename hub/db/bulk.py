"""Bulk inserts at the driver's speed: ``COPY`` on PostgreSQL, ``executemany`` in the caller's
transaction on SQLite. Rows are tuples in ``columns`` order; JSON values are already serialised."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", list(rows))


def bulk_update(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """``UPDATE table SET columns... WHERE id = ?`` for each row; a row is the values then the id."""
    if not rows:
        return
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    assignments = ", ".join(f"{c} = {mark}" for c in columns)
    conn.exec_driver_sql(f"UPDATE {table.name} SET {assignments} WHERE id = {mark}", list(rows))
