"""One publish at a time per hub: a second ``hub publish`` while one runs is refused, so no publish can
take another's unfinished versions for a killed publish's leftovers. PostgreSQL: a session advisory lock
keyed by the schema; SQLite: an exclusive ``flock`` on a file beside the database (SQLite is embedded, so
every publisher runs on the same machine)."""
from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from hub.context import Hub
from hub.errors import PublishError

_BUSY = "another publish is running; try again when it has finished"


@contextmanager
def publish_lock(hub: Hub) -> Iterator[None]:
    """Hold the hub's publish lock for the ``with`` block; :class:`PublishError` when another holds it."""
    if hub.engine.dialect.name == "postgresql":
        with hub.engine.connect() as conn:
            key = "SELECT hashtext('saphan-publish:' || current_schema())"
            if not conn.scalar(text(f"SELECT pg_try_advisory_lock(({key}))")):
                raise PublishError(_BUSY)
            try:
                yield
            finally:
                conn.scalar(text(f"SELECT pg_advisory_unlock(({key}))"))
                conn.commit()
        return
    path = Path(hub.engine.url.database or hub.settings.resolved_home / "hub.db").with_suffix(".publish-lock")
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError(_BUSY) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
