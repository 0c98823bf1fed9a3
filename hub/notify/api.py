"""Webhooks over HTTP (``/api/v1/notify``): anyone may fetch the public key that verifies them; the
operator (``admin``) lists the outbox (never a notification's content), retries dead notifications and
sets partners' endpoints."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.api.auth import Admin, HubDep, actor_of
from hub.notify import endpoints, outbox
from hub.notify.signature import public_key

router = APIRouter(prefix="/notify", tags=["notify"])
NotificationId = Annotated[int, Path(ge=1, le=2**62)]
PartnerId = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=endpoints.MAX_URL)


class NotificationOut(BaseModel):
    id: int
    partner: str
    kind: str
    state: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


@router.get("/public-key", response_class=PlainTextResponse, summary="The key that verifies webhooks (PEM)")
def get_public_key(hub: HubDep) -> str:
    return public_key(hub.keyring)


@router.get("/notifications", summary="The outbox, newest first: state and tries, never content (admin)")
def get_notifications(hub: HubDep, who: Admin,
                      state: Literal["pending", "delivered", "dead"] | None = None,
                      partner: Annotated[str | None, Query(max_length=64)] = None,
                      limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> list[NotificationOut]:
    rows = outbox.list_notifications(hub, state=state, partner=partner, limit=limit)
    return [NotificationOut(**{**r, "next_attempt_at": r["next_attempt_at"] if r["state"] == "pending" else None})
            for r in rows]


@router.post("/notifications/{notification_id}/retry", summary="Put a dead notification back in the queue (admin)")
def post_retry(notification_id: NotificationId, hub: HubDep, who: Admin) -> dict[str, Any]:
    try:
        outbox.retry(hub, notification_id, actor=actor_of(who))
    except outbox.NotificationNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except outbox.NotDead as exc:
        raise HTTPException(409, str(exc)) from None
    return {"id": notification_id, "state": "pending"}


@router.put("/endpoints/{partner}", summary="Set where a partner receives its webhooks (admin)")
def put_endpoint(partner: PartnerId, body: EndpointIn, hub: HubDep, who: Admin) -> dict[str, str]:
    try:
        url = endpoints.set_endpoint(hub, partner, body.url, actor=actor_of(who))
    except endpoints.EndpointRefused as exc:
        raise HTTPException(422, str(exc)) from None
    return {"partner": partner, "url": url}


@router.delete("/endpoints/{partner}", summary="Stop sending a partner webhooks; they wait for a new endpoint (admin)")
def delete_endpoint(partner: PartnerId, hub: HubDep, who: Admin) -> dict[str, str]:
    try:
        url = endpoints.remove_endpoint(hub, partner, actor=actor_of(who))
    except endpoints.EndpointRefused as exc:
        raise HTTPException(404, str(exc)) from None
    return {"partner": partner, "removed": url}


@router.get("/endpoints", summary="Every partner's webhook endpoint (admin)")
def get_endpoints(hub: HubDep, who: Admin) -> list[dict[str, Any]]:
    return endpoints.list_endpoints(hub)
