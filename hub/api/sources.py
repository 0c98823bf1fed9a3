"""Sources over the API: a partner uploads a file to a source its contract covers (streamed to disk,
size-capped, then ingested like `hub ingest`; the quarantine report comes back); the admin sees each
source's runs, the contracts in force and the quarantine (reasons, never row content)."""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from hub.api.auth import Admin, CallerDep, HubDep, actor_of
from hub.db.schema import ingest_runs
from hub.pipeline.ingest import FileReport, ingest_file
from hub.quarantine import list_quarantine
from hub.sync.status import source_statuses
from hub.views.visibility import writable_sources

router = APIRouter(tags=["sources"])
_FILE_NAME = re.compile(r"^[A-Za-z0-9ก-๙][A-Za-z0-9ก-๙._ -]{0,199}$")


def _report(report: FileReport) -> dict[str, Any]:
    return {"file": report.path.name, "sha256": report.sha256, "run_id": report.run_id,
            "rows_read": report.rows_read, "accepted": report.accepted, "inserted": report.inserted,
            "updated": report.updated, "unchanged": report.unchanged, "deleted": report.deleted,
            "quarantined": report.quarantined, "quarantine": report.quarantine_reasons,
            "already_ingested": report.replay, "fields_not_taken": sorted(report.fields_refused)}


@router.put("/sources/{source}/files/{file_name}", summary="Upload a file to your source; it is ingested at once")
async def put_file(source: str, file_name: str, request: Request, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """The body is the file itself (any content type), streamed to disk; at most ``HUB_UPLOAD_MAX_BYTES``
    (413 beyond). Rows that fail come back in ``quarantine`` with their line and reason."""
    if source not in writable_sources(hub.contracts, who, set(hub.adapters)):
        raise HTTPException(404, "no such source")
    if not _FILE_NAME.match(file_name) or ".." in file_name:
        raise HTTPException(422, "file name: letters, digits, Thai, '.', '_', '-' and spaces, at most 200")
    limit = hub.settings.upload_max_bytes
    directory = Path(tempfile.mkdtemp(prefix="upload-", dir=_uploads(hub)))
    try:
        path = directory / file_name
        size = 0
        with open(path, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"the file is larger than the {limit:,} bytes allowed")
                out.write(chunk)
        if size == 0:
            raise HTTPException(422, "the body is empty: send the file as the request body")
        report = await run_in_threadpool(ingest_file, hub, source, path, actor=actor_of(who),
                                         uploader=who.partner if who.role == "partner" else None)
        return _report(report)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _uploads(hub) -> Path:
    directory = hub.settings.resolved_home / "uploads"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@router.get("/sources", summary="Registered sources, their last ingest runs and their sync status: how each "
                             "is reached, schedule, last success and failure, backlog, staleness (admin)")
def get_sources(hub: HubDep, who: Admin) -> list[dict[str, Any]]:
    t = ingest_runs
    with hub.engine.connect() as conn:
        last = {r.source: r for r in conn.execute(select(t).where(t.c.id.in_(
            select(func.max(t.c.id)).group_by(t.c.source))))}
        sync = {s.source: s.as_dict() for s in source_statuses(hub, conn)}
    out = []
    for name, adapter in sorted(hub.adapters.items()):
        run = last.get(name)
        out.append({"source": name, "title": adapter.title, "record_id": adapter.record_id_doc, "sync": sync[name],
                    "last_run": None if run is None else {
                        "id": run.id, "file": run.file_name, "status": run.status,
                        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                        "rows_read": run.rows_read, "inserted": run.inserted, "quarantined": run.quarantined}})
    return out


@router.get("/contracts", summary="The data-sharing contracts in force, with their digests (admin)")
def get_contracts(hub: HubDep, who: Admin) -> list[dict[str, Any]]:
    return [{"id": c.contract.id, "version": c.contract.version, "sha256": c.sha256,
             "partner": c.contract.partner.id, "title": c.contract.title, "sources": sorted(c.contract.sources),
             "views": [v.name for v in c.contract.views]} for c in hub.contracts.in_force()]


@router.get("/quarantine", summary="Quarantined rows: file, line and reason, never the row (admin)")
def get_quarantine(hub: HubDep, who: Admin, source: str | None = None,
                   run: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                   limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> list[dict[str, Any]]:
    return [{"id": r.id, "source": r.source, "file": r.file_name, "line": r.line, "reason": r.reason,
             "run_id": r.run_id} for r in list_quarantine(hub, source=source, run_id=run, limit=limit)]

