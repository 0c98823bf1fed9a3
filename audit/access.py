"""The audit log's own operations, as the CLI and the API run them: search it, show an area's "who used
our data", verify it, and export a signed checkpoint for a witness. Reading the log is itself audited."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit.checkpoints import write_witness
from audit.events import AuditRead, CheckpointExported
from audit.query import Filters, search, usage
from audit.verify import Verification, verify_log
from hub.context import Hub
from hub.errors import HubError
from hub.signing import public_pem


def search_log(hub: Hub, filters: Filters, *, actor: str) -> list[dict[str, Any]]:
    """Events matching ``filters`` as an auditor sees them; the search is audited."""
    with hub.engine.begin() as conn:
        events = search(conn, filters, hub.audit.declared)
        hub.audit.append(conn, AuditRead(resource="audit:events", query=filters.as_query(), rows=len(events)),
                         actor=actor)
    return events


def area_usage(hub: Hub, area: str, *, actor: str) -> dict[str, Any]:
    """Who read personal data of ``area``; the read is audited."""
    with hub.engine.begin() as conn:
        result = usage(conn, area)
        hub.audit.append(conn, AuditRead(resource=f"audit:usage:{area}", query={"area": area},
                                         rows=len(result["reads"])), actor=actor)
    return result


def audit_public_key(hub: Hub) -> str:
    """The PEM public key that verifies this hub's checkpoints (an auditor pins it)."""
    return public_pem(hub.audit.signing_key())


def verify(hub: Hub, witness_files: Sequence[Path] = (), *, public_key: str | None = None) -> Verification:
    """This hub's log checked (:func:`audit.verify.check_log`) with the witness files and the hub's own
    witness (:mod:`audit.hub_witness`), against ``public_key`` (PEM) when the auditor pins one, else the
    hub's own audit key."""
    own = hub.audit.witness.path
    with hub.engine.connect() as conn:
        return verify_log(conn, public_key=public_key or audit_public_key(hub), event_types=hub.audit.declared,
                          witness_files=[*witness_files, *([own] if own.exists() else [])])


def export_checkpoint(hub: Hub, out: Path, *, actor: str) -> int:
    """Audit the export, sign a checkpoint of the head that includes it, and write it to ``out`` as a
    witness file; returns the checkpoint's seq."""
    if not out.parent.is_dir():
        raise HubError(f"{out.parent}: no such directory to write {out.name} into")
    with hub.engine.begin() as conn:
        hub.audit.append(conn, CheckpointExported(resource="audit", file=out.name), actor=actor)
        checkpoint = hub.audit.sign_head(conn)
    write_witness(out, checkpoint, hub.audit.signing_key())
    return checkpoint.seq
