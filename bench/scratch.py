"""A fresh, empty database for one measurement: SQLite in a directory of its own, or a new schema on a
PostgreSQL server (the hub's tables of an earlier run must not be reused), dropped afterwards."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_database(backend: str, work: Path, pg_url: str | None = None) -> Iterator[str]:
    """The URL of an empty database: ``sqlite`` under ``work``, or ``postgresql`` on the server ``pg_url``."""
    if backend == "sqlite":
        work.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{work / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
