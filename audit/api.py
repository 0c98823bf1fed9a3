"""The audit API: auditors search the log (JSON or CSV) and see whether it verifies; a community sees who
used its data. Auditors see no personal data (:mod:`audit.query`)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import PlainTextResponse

from audit.access import area_usage, audit_public_key, search_log
from audit.query import MAX_ROWS, Filters, as_csv
from hub.api.auth import HubDep, actor_of, role
from hub.tokens import Caller

router = APIRouter(prefix="/audit", tags=["audit"])
Auditor = Annotated[Caller, Depends(role("auditor", "admin"))]
Reader = Annotated[Caller, Depends(role("auditor", "admin", "community"))]


def _filters(actor: str | None = None, role: str | None = None, partner: str | None = None,
             area: str | None = None, action: str | None = None,
             since: Annotated[str | None, Query(description="ISO date or time")] = None,
             until: Annotated[str | None, Query(description="ISO date (inclusive) or time")] = None,
             after_seq: Annotated[int, Query(ge=0, le=2**62, description="Page on: events after this seq")] = 0,
             limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 1000) -> Filters:
    return Filters(actor, role, partner, area, action, since, until, after_seq, limit)


FiltersDep = Annotated[Filters, Depends(_filters)]


@router.get("/events", summary="Search the log (no personal data); audited")
def get_events(hub: HubDep, who: Auditor, filters: FiltersDep) -> dict[str, Any]:
    events = search_log(hub, filters, actor=actor_of(who))
    return {"events": events, "next_after_seq": events[-1]["seq"] if len(events) == filters.limit else None}


@router.get("/events.csv", response_class=PlainTextResponse, summary="The same search as CSV; audited")
def get_events_csv(hub: HubDep, who: Auditor, filters: FiltersDep) -> PlainTextResponse:
    return PlainTextResponse(as_csv(search_log(hub, filters, actor=actor_of(who))), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="audit-events.csv"'})


@router.get("/status", summary="Does the log verify (chain and signed checkpoints)? At most a minute old; "
                              "verified_at says when")
def get_status(hub: HubDep, who: Auditor) -> dict[str, Any]:
    return hub.audit_status.current().as_json()


@router.get("/public-key", response_class=PlainTextResponse, summary="The key that verifies checkpoints (PEM)")
def get_public_key(hub: HubDep) -> str:
    return audit_public_key(hub)


@router.get("/usage/{area}", summary="Who used this community's data: partners, purposes, times, records")
def get_usage(area: str, hub: HubDep, who: Reader) -> dict[str, Any]:
    if who.role == "community" and not (area == who.area or (len(who.area or "") == 6 and area.startswith(who.area))):
        raise HTTPException(403, "a community sees the use of its own data only")
    return area_usage(hub, area, actor=actor_of(who))
