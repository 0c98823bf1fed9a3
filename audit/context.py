"""Who is acting, for the log's ``role`` and ``request_id`` columns.

The role follows from the actor name the hub already writes: ``api:ROLE:subject`` for an API caller
(its token's role), ``cli:user`` for the operator at the command line, ``system:…`` for the hub itself.
The request id ties together every event one API request or one command wrote: the API takes the
caller's ``X-Request-ID`` (or makes one) and returns it; each ``hub`` command makes its own.
"""
from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("saphan_request_id", default=None)
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def role_of(actor: str) -> str:
    """``api:partner:eef`` -> ``partner``; ``cli:…`` -> ``operator``; otherwise the actor's prefix."""
    kind, _, rest = actor.partition(":")
    if kind == "api":
        return rest.partition(":")[0] or "api"
    return {"cli": "operator"}.get(kind, kind)


def new_request_id(given: str | None = None) -> str:
    """``given`` when it is a usable id (at most 64 of ``A-Za-z0-9._:-``), else a fresh random one."""
    return given if given and _VALID.match(given) else uuid.uuid4().hex


def set_request_id(request_id: str | None):
    """Make ``request_id`` the current one; returns the token :func:`reset_request_id` takes."""
    return _request_id.set(request_id)


def reset_request_id(token) -> None:
    _request_id.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()
