"""Backing up the hub's database and restoring it: SQLite through its online backup API (a consistent copy
while the hub runs), PostgreSQL through ``pg_dump``/``pg_restore`` (custom format, the hub's schema only).

A backup holds no key: the keys directory is backed up separately, and a database backup without it is
ciphertext, by design. Each backup is audited (``backup.created``) before the copy is taken, so the
backup's own log says when it was made.

Restoring an older backup loses the log's events after it. That is a truncation, and the hub's own witness
(:mod:`audit.hub_witness`, beside the keys) would rightly refuse to sign over it; ``restore`` therefore
sets that witness aside (renamed, kept for auditors: ``hub audit verify --witness`` with it names what was
lost) and records the restore in the restored log (``backup.restored``: from which file, the head it
restored, the newest checkpoint the old witness named).
"""
from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from audit.checkpoints import read_witness
from audit.events import BackupCreated, BackupRestored
from audit.hub_witness import FILE as WITNESS_FILE
from hub.context import Hub
from hub.db.schema import audit_events
from hub.errors import HubError
from hub.settings import Settings


class BackupError(HubError):
    """A backup or restore could not be made; nothing was changed."""


@dataclass(frozen=True)
class Backup:
    path: Path
    backend: str
    size: int  # bytes
    audit_seq: int  # the newest event the backup holds (its own backup.created)


def _libpq(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (PostgreSQL's client tools, the server's version or newer)")
    return found


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-2000:]}")


def back_up(hub: Hub, out: Path, *, actor: str) -> Backup:
    """Write a consistent copy of ``hub``'s database to ``out`` (which must not exist)."""
    if out.exists():
        raise BackupError(f"{out} exists already; a backup never overwrites a file")
    backend = hub.engine.dialect.name
    with hub.engine.begin() as conn:
        hub.audit.append(conn, BackupCreated(resource="database", backend=backend, file=out.name), actor=actor)
        seq = int(conn.scalar(select(func.max(audit_events.c.seq))))
    out.parent.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        with sqlite3.connect(hub.engine.url.database) as source, sqlite3.connect(out) as target:
            source.backup(target)
    else:
        with hub.engine.connect() as conn:
            schema = conn.scalar(text("SELECT current_schema()"))
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--schema={schema}",
              f"--file={out}", f"--dbname={_libpq(hub.engine)}"])
    return Backup(out, backend, out.stat().st_size, seq)


@dataclass(frozen=True)
class Restored:
    audit_seq: int  # the newest event restored, before the restore's own
    witness_set_aside: Path | None  # the hub's witness of the lost log, kept for auditors


def restore(settings: Settings, source: Path, *, actor: str) -> Restored:
    """Replace the database ``settings`` name with the backup ``source`` (stop the hub's other processes
    first), bring its schema up to this version, set the hub's own witness aside and audit the restore.
    Raises :class:`BackupError`; on SQLite a failed restore changes nothing, on PostgreSQL ``pg_restore``
    runs in one transaction."""
    if not source.is_file():
        raise BackupError(f"{source} is not a backup file")
    hub = Hub.open(settings)
    try:
        if hub.engine.dialect.name == "sqlite":
            _restore_sqlite(hub.engine, source)
        else:
            _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
                  "--single-transaction", f"--dbname={_libpq(hub.engine)}", str(source)])
    finally:
        hub.engine.dispose()
    witness = settings.resolved_keys_dir / WITNESS_FILE
    remembered = read_witness(witness) if witness.exists() else None
    kept = None
    if remembered is not None:
        kept = witness.with_name(f"audit-witness.before-restore-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json")
        witness.rename(kept)
    restored, _ = Hub.init(settings)  # a backup of an older version is migrated forward
    try:
        with restored.engine.begin() as conn:
            seq = int(conn.scalar(select(func.max(audit_events.c.seq))))
            restored.audit.append(conn, BackupRestored(
                resource="database", file=source.name, restored_seq=seq,
                lost_after_checkpoint=remembered.seq if remembered else None,
                witness_kept=kept.name if kept else None), actor=actor)
    finally:
        restored.engine.dispose()
    return Restored(seq, kept)


def _restore_sqlite(engine: Engine, source: Path) -> None:
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as backup:
            if backup.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source} is damaged (SQLite's integrity check fails)")
            with sqlite3.connect(engine.url.database) as target:
                backup.backup(target)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not a SQLite backup of the hub ({exc})") from None
