"""``hub backup`` and ``hub restore``."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.console import actor, console, fail, open_hub
from hub.errors import HubError


def backup_command(out: Annotated[Path, typer.Option(help="The backup file to write (never overwritten).")]) -> None:
    """Write a consistent copy of the database while the hub runs (SQLite's backup API, or pg_dump). The
    keys are not in it: back up the keys directory separately, and keep the two apart."""
    from hub.db.backup import back_up

    hub = open_hub()
    try:
        done = back_up(hub, out, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"{done.path}: {done.backend} backup, {done.size:,} bytes, audit log up to event {done.audit_seq}; "
                  f"the keys are not in it (back up {hub.settings.resolved_keys_dir} apart)")


def restore_command(backup: Annotated[Path, typer.Argument(help="A file written by `hub backup`.")],
                    yes: Annotated[bool, typer.Option("--yes", help="Yes, replace the database.")] = False) -> None:
    """Replace the database with a backup (stop the hub's other processes first). The audit log's events
    after the backup are lost with it: the hub's own witness of them is set aside beside the keys, for
    auditors, and the restore is audited."""
    from hub.db.backup import restore
    from hub.settings import Settings

    if not yes:
        fail("restoring replaces the database and everything stored since the backup; pass --yes", code=2)
    open_hub().engine.dispose()  # an initialised hub, with its keys, is restored into
    try:
        done = restore(Settings(), backup, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"restored {backup} (audit log up to event {done.audit_seq}); "
                  + (f"the hub's witness of the log that was lost is kept as {done.witness_set_aside}"
                     if done.witness_set_aside else "no witness was set aside"))
