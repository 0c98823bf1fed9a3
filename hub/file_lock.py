"""An exclusive, non-blocking ``flock`` on a file: what an embedded SQLite hub uses where PostgreSQL has an
advisory lock or a lease row. SQLite is embedded, so every process of the hub is on the same machine, and
the kernel releases the lock the moment its holder dies."""
from __future__ import annotations

import fcntl
from pathlib import Path


class FileLock:
    """The lock on ``path`` (created if missing), held by this object from :meth:`hold` to :meth:`release`."""

    def __init__(self, path: Path):
        self.path = path
        self._handle = None

    def hold(self) -> bool:
        """Take the lock if no one holds it, or confirm this object does; whether it now holds it."""
        if self._handle is not None:
            return True
        handle = open(self.path, "a+b")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
