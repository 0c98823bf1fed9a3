"""Run an action once a transaction has committed, and never when it rolls back.

SQLAlchemy Core's ``commit`` event fires before the database commits, and a failed commit would leave an
action run for work that never became durable. So the engine's dialect commit is wrapped: actions queued on
a connection (in its ``info``) run right after the database confirms the commit; a rollback, or the
connection going back to the pool without a commit, drops them.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Connection, Engine
from sqlalchemy import event as sa_event

_QUEUED = "saphan_after_commit"
_log = logging.getLogger(__name__)
_installing = threading.Lock()


def after_commit(conn: Connection, action: Callable[[], None]) -> None:
    """Run ``action`` after the transaction open on ``conn`` commits. An action that fails is logged: the
    commit has happened and stays."""
    _install(conn.engine)
    conn.info.setdefault(_QUEUED, []).append(action)


def _install(engine: Engine) -> None:
    with _installing:
        if not getattr(engine.dialect, "_saphan_after_commit", False):
            _wrap_commit(engine)


def _wrap_commit(engine: Engine) -> None:
    dialect = engine.dialect
    commit = dialect.do_commit

    def do_commit(dbapi_connection) -> None:
        commit(dbapi_connection)
        for action in dbapi_connection.info.pop(_QUEUED, ()):
            try:
                action()
            except Exception:  # noqa: BLE001 - the transaction is committed whatever an action does
                _log.exception("an after-commit action failed")

    dialect.do_commit = do_commit
    dialect._saphan_after_commit = True
    sa_event.listen(engine, "rollback", lambda conn: conn.info.pop(_QUEUED, None))
    sa_event.listen(engine.pool, "checkin", lambda _dbapi, record: record.info.pop(_QUEUED, None))
