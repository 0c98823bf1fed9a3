"""The database settings the hub refuses to run on: a PostgreSQL server that a crash could leave corrupt.

Checked whenever the hub opens its database (``hub init``, every command, each API, worker or scheduler
process as it starts):

- ``fsync = off``: the server never forces its writes to disk, so a crash or a power cut can corrupt the
  database, and the audit chain with it;
- ``full_page_writes = off``: a page half-written when the power went can no longer be repaired from the
  write-ahead log.

The embedded SQLite default needs no check: the hub opens it in WAL mode with ``synchronous = NORMAL``,
which never corrupts the file (a power cut may lose the last transactions, never break one).
"""
from __future__ import annotations

from sqlalchemy import Engine

from hub.errors import ConfigurationError

#: Server settings whose value ``off`` the hub refuses.
REQUIRED_ON = ("fsync", "full_page_writes")


class DurabilityError(ConfigurationError):
    """The database server runs with a setting that lets a crash corrupt committed data."""


def require_durable(engine: Engine) -> None:
    """Raise :class:`DurabilityError` naming every setting of :data:`REQUIRED_ON` that is off on the
    PostgreSQL server behind ``engine``; nothing for SQLite."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        off = [name for name in REQUIRED_ON if conn.exec_driver_sql(f"SHOW {name}").scalar() == "off"]
    if off:
        settings = ", ".join(f"{name} = off" for name in off)
        fix = "; ".join(f"ALTER SYSTEM SET {name} = on" for name in off)
        raise DurabilityError(f"refusing to run: the PostgreSQL server has {settings}, so a crash could corrupt "
                              f"committed data and the audit log with it. Turn it back on ({fix}; SELECT "
                              "pg_reload_conf();) and start the hub again.")
