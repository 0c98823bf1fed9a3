"""The hub's own witness: the newest checkpoint the hub signed and saw committed, in a file beside its keys.

Whoever controls the database but not the key directory could otherwise delete the newest checkpoints (or
all of them) and rewrite the events after the last one left, with times squeezed so that no checkpoint
falls due, and the hub would sign over the rewrite. Before signing, the hub checks that the checkpoint its
witness names is still in the database with the same head (:meth:`HubWitness.problem`).

The file is a witness file (:mod:`audit.checkpoints`), so ``hub audit verify`` also holds the log to it.
It is written only after the transaction holding the checkpoint commits (a rolled-back checkpoint must not
be remembered), durably, and only forward; the processes of one hub share it under a lock on the keys
directory. A crash between the commit and the write leaves the previous checkpoint remembered, so the
protection then reaches back to that one.
"""
from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select

from audit.checkpoints import Checkpoint, WitnessError, read_witness, witness_text
from hub.db.schema import audit_checkpoints
from hub.keys import write_private

FILE = "audit-witness.json"


class HubWitness:
    """The witness file ``path``; ``signer`` gives the audit key whose public half the file carries."""

    def __init__(self, path: Path, signer: Callable[[], Ed25519PrivateKey]):
        self.path = path
        self._signer = signer
        self._threads = threading.Lock()

    def remembered(self) -> Checkpoint | None:
        """The checkpoint the file names; none before the first. Raises :class:`WitnessError` when the
        file exists but cannot be read."""
        return read_witness(self.path) if self.path.exists() else None

    def remember(self, checkpoint: Checkpoint) -> None:
        """Name ``checkpoint`` (committed) unless the file already names a later one."""
        with self._locked():
            current = self.remembered()
            if current is None or checkpoint.seq > current.seq:
                write_private(self.path, witness_text(checkpoint, self._signer()).encode())

    def problem(self, conn: Connection) -> str | None:
        """What is wrong when the database no longer holds the remembered checkpoint with its head."""
        try:
            remembered = self.remembered()
        except WitnessError as exc:
            return f"the hub's own witness cannot be read ({exc})"
        if remembered is None:
            return None
        row = conn.execute(select(audit_checkpoints.c.head_hash)
                           .where(audit_checkpoints.c.seq == remembered.seq)).first()
        if row is None:
            return (f"checkpoint {remembered.seq}, which the hub signed and saw committed ({self.path.name}), "
                    f"is no longer in the database")
        if bytes(row.head_hash).hex() != remembered.head:
            return f"checkpoint {remembered.seq} no longer has the head the hub signed ({self.path.name})"
        return None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's threads, then the hub's processes (a lock on the keys directory)."""
        with self._threads:
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                fcntl.flock(directory, fcntl.LOCK_EX)
                yield
            finally:
                os.close(directory)
