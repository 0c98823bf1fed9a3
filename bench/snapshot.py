"""Snapshots of an embedded hub for benchmarks that start each run from the same state: its SQLite file
and the hub's own audit witness (:mod:`audit.hub_witness`) together. Restoring the database alone would
leave a witness ahead of it, and the hub rightly refuses to sign over a log that lost its checkpoints."""
from __future__ import annotations

import shutil
from pathlib import Path

from audit.hub_witness import FILE as WITNESS


def save(home: Path, snapshot: Path) -> None:
    """Copy the hub under ``home`` (closed) to the file ``snapshot`` and its witness beside it."""
    shutil.copy(home / "hub.db", snapshot)
    witness = home / "keys" / WITNESS
    kept = snapshot.with_suffix(".witness.json")
    if witness.exists():
        shutil.copy(witness, kept)
    else:
        kept.unlink(missing_ok=True)


def restore(snapshot: Path, home: Path) -> None:
    """Put the hub under ``home`` back to ``snapshot``: the database, and the witness as it was then."""
    for suffix in ("-wal", "-shm"):
        (home / f"hub.db{suffix}").unlink(missing_ok=True)
    shutil.copy(snapshot, home / "hub.db")
    kept, witness = snapshot.with_suffix(".witness.json"), home / "keys" / WITNESS
    if kept.exists():
        shutil.copy(kept, witness)
    else:
        witness.unlink(missing_ok=True)
