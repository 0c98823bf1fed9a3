"""Bulk inserts at the driver's speed: ``COPY`` on PostgreSQL, ``executemany`` in the caller's
transaction on SQLite. Rows are tuples in ``columns`` order; JSON values are already serialised."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, Table

#: Keys per lookup on SQLite, below the 999-parameter limit of SQLite before 3.32.
SQLITE_MAX_KEYS = 900
#: From this many rows, an update goes through a temporary table (``UPDATE ... FROM``: SQLite 3.33+).
UPDATE_FROM_ROWS = 10_000


def key_chunks(keys: Sequence) -> Iterator[Sequence]:
    """``keys`` in runs of at most :data:`SQLITE_MAX_KEYS`, one lookup's worth each (in order)."""
    for start in range(0, len(keys), SQLITE_MAX_KEYS):
        yield keys[start:start + SQLITE_MAX_KEYS]


def placeholder(conn: Connection) -> str:
    """The driver's parameter placeholder: ``%s`` for psycopg, ``?`` for sqlite3."""
    return "%s" if conn.dialect.name == "postgresql" else "?"


def bulk_insert(conn: Connection, table: Table | str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert ``rows`` into ``table`` (a table, or the name of a temporary one)."""
    if not rows:
        return
    name, names = table if isinstance(table, str) else table.name, ", ".join(columns)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {name} ({names}) VALUES ({marks})", list(rows))


def next_ids(conn: Connection, table: Table, count: int) -> range | list[int]:
    """``count`` unused ids for rows of ``table`` about to be inserted with explicit ids (so that rows
    of other tables can name them in the same bulk write): drawn from the id sequence on PostgreSQL;
    on SQLite those after the largest, as SQLite itself would give them (SQLite has one writer at a time,
    and a transaction that read before another's commit cannot write: ids are never given twice)."""
    if not count:
        return []
    if conn.dialect.name == "postgresql":
        return [i for i, in conn.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, %s)", (count,))]
    first = conn.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}").scalar_one()
    return range(first, first + count)


def bulk_update(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple], *,
                most_of_table: bool = False) -> None:
    """``UPDATE table SET columns... WHERE id = ?`` for each row; a row is the values then the id. Many
    rows go through a temporary table and one ``UPDATE ... FROM`` (one statement instead of many).
    ``most_of_table``: the rows are most of the table's, so on SQLite the indexes on ``columns`` are
    rebuilt inside the transaction rather than maintained row by row (a million records' person and
    household ids: 12.6 s maintained, 4.9 s plus 2.4 s rebuilt)."""
    if not rows:
        return
    if len(rows) >= UPDATE_FROM_ROWS:
        update_from(conn, table, columns, rows, rebuild=most_of_table and conn.dialect.name == "sqlite")
        return
    mark = placeholder(conn)
    assignments = ", ".join(f"{c} = {mark}" for c in columns)
    conn.exec_driver_sql(f"UPDATE {table.name} SET {assignments} WHERE id = {mark}", list(rows))


def update_from(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple], *, key: str = "id",
                rebuild: bool = False) -> None:
    """``UPDATE table SET columns... WHERE key = ?`` for every row (the values, then the key's value; keys
    distinct) in one statement, through a temporary table: each row of ``table`` is matched by its value
    before the update, so a value written (even to ``key`` itself) is never matched again. ``rebuild``:
    the indexes on ``columns`` are dropped and made again around the update."""
    staged = f"{table.name}_update"
    values = [f"v{i}" for i in range(len(columns))]
    definitions = ", ".join(f"{v} {table.c[c].type.compile(conn.dialect)}" for v, c in zip(values, columns))
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {staged} "
                         f"({definitions}, k {table.c[key].type.compile(conn.dialect)} PRIMARY KEY)")
    try:
        bulk_insert(conn, staged, (*values, "k"), rows)
        assignments = ", ".join(f"{c} = s.{v}" for c, v in zip(columns, values))
        rebuilt = [index for index in table.indexes if rebuild and not set(index.columns.keys()).isdisjoint(columns)]
        for index in rebuilt:
            index.drop(conn)
        conn.exec_driver_sql(f"UPDATE {table.name} SET {assignments} FROM {staged} s WHERE {table.name}.{key} = s.k")
        for index in rebuilt:
            index.create(conn)
    finally:
        conn.exec_driver_sql(f"DROP TABLE {staged}")


def bulk_delete(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple]) -> int:
    """``DELETE FROM table WHERE columns = row`` for each row; returns the number of rows deleted."""
    if not rows:
        return 0
    mark = placeholder(conn)
    where = " AND ".join(f"{c} = {mark}" for c in columns)
    return sum(conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE {where}", row).rowcount for row in rows)


def fetch_by_keys(conn: Connection, table: Table, *, source: str, key: str, keys: Sequence[str],
                  columns: Sequence[str]) -> list:
    """Rows of ``table`` for ``source`` whose ``key`` column is one of ``keys``, as named tuples.

    On PostgreSQL the keys arrive as one array joined through ``unnest``: a plain ``IN`` list lets a
    planner with stale statistics (a big load still inside its transaction) filter a whole index
    range against every key, which made each lookup cost seconds.
    """
    if not keys:
        return []
    names = ", ".join(f"t.{c}" for c in columns)
    if conn.dialect.name == "postgresql":
        sql = (f"SELECT {names} FROM unnest(%s::text[]) AS k(key) "
               f"JOIN {table.name} t ON t.source = %s AND t.{key} = k.key")
        return list(conn.exec_driver_sql(sql, (list(keys), source)))
    rows = []
    for chunk in key_chunks(keys):  # older SQLite allows 999 parameters
        sql = f"SELECT {names} FROM {table.name} t WHERE t.source = ? AND t.{key} IN ({', '.join('?' * len(chunk))})"
        rows.extend(conn.exec_driver_sql(sql, (source, *chunk)))
    return rows
