"""Engines for the embedded default (SQLite) and production (PostgreSQL), and the migration runner."""
from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

_MIGRATIONS = Path(__file__).with_name("migrations")
#: JSON columns keep Thai text as UTF-8, not \u escapes.
_json_serializer = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


#: SQLite's page cache per connection; its 2 MiB default makes index upkeep thrash on a large load.
SQLITE_CACHE_KIB = 65536
#: WAL pages (4 KiB) before a commit copies them back into the database. At SQLite's default (1,000 pages)
#: the pages every commit touches (the audit head, index tails, the B-trees' upper levels) are copied back
#: again and again; at 10,000 each is copied once per ~40 MiB written (audit appends: +28%).
SQLITE_WAL_PAGES = 10_000
#: Connections kept open: one per thread the API serves requests on (40) and the audit writer. A connection
#: opened beyond the pool is closed on return, and the next one starts with an empty page cache.
SQLITE_POOL = 48


def make_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite gets WAL (checkpointed every ~40 MiB), enforced foreign keys, a 64 MiB
    page cache, a busy timeout and a pool as large as the API's thread pool."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, json_serializer=_json_serializer,
                               pool_size=SQLITE_POOL, max_overflow=SQLITE_POOL)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_PAGES}")
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_json_serializer)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Apply every migration not yet applied (idempotent)."""
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def schema_is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head
