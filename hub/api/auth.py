"""Who is calling: the bearer token verified on every request, and role checks."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.context import Hub
from hub.tokens import Caller, TokenError, verify

_bearer = HTTPBearer(auto_error=False, description="A token from `hub token issue`.")


async def hub_of(request: Request) -> Hub:
    return request.app.state.hub


async def caller(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    """The verified caller; 401 without a valid token. (Async: it only computes, so it runs on the event
    loop instead of costing a thread hop per request.)"""
    if credentials is None:
        raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    try:
        return verify(request.app.state.hub, credentials.credentials)
    except TokenError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


def role(*allowed: str):
    """A dependency admitting only callers of the ``allowed`` roles (403 for the others)."""

    async def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role not in allowed:
            raise HTTPException(403, f"this needs the role {' or '.join(allowed)}")
        return who

    return check


HubDep = Annotated[Hub, Depends(hub_of)]
CallerDep = Annotated[Caller, Depends(caller)]
Admin = Annotated[Caller, Depends(role("admin"))]
Steward = Annotated[Caller, Depends(role("community"))]
AdminOrSteward = Annotated[Caller, Depends(role("admin", "community"))]


def actor_of(who: Caller) -> str:
    """How the audit log names an API caller."""
    return f"api:{who.role}:{who.subject}"
