"""One publish at a time per hub: a second ``hub publish`` while one runs is refused, so no publish can
take another's unfinished versions for a killed publish's leftovers. PostgreSQL: a session advisory lock
keyed by the schema; SQLite: a :class:`hub.file_lock.FileLock` on a file beside the database."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from hub.context import Hub
from hub.errors import PublishError
from hub.file_lock import FileLock

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
    lock = FileLock(Path(hub.engine.url.database or hub.settings.resolved_home / "hub.db").with_suffix(".publish-lock"))
    if not lock.hold():
        raise PublishError(_BUSY)
    try:
        yield
    finally:
        lock.release()
