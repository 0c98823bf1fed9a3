"""The FastAPI application: routers under ``/api/v1``, errors as JSON with a clear message, and the web
pages (:mod:`hub.web.pages`).

Every request runs under a request id (the caller's ``X-Request-ID``, or a new one, returned in the same
header) that the audit events it writes carry. Fail closed: when the audit event of a read cannot be
written, the read's transaction does not commit and the caller gets 503 with no data."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audit.api import router as audit_router
from audit.context import new_request_id, reset_request_id, set_request_id
from consent.api import rights_router
from consent.api import router as consent_router
from consent.vocabulary import ConsentError
from hub.api.nul_guard import RefuseNul
from hub.api.sources import router as sources_router
from hub.api.views import router as views_router
from hub.community.api import router as community_router
from hub.context import Hub
from hub.errors import AuditWriteError, HubError
from hub.notify.api import router as notify_router
from hub.web import pages
from hub.web.pages import LoginRequired
from hub.web.pages import router as pages_router


def create_app(hub: Hub) -> FastAPI:
    app = FastAPI(title="Saphan (สะพาน) hub API", version="1", docs_url="/api/docs",
                  openapi_url="/api/v1/openapi.json")
    app.state.hub = hub
    app.include_router(views_router, prefix="/api/v1")  # first: routes match in order, and view reads are most
    app.include_router(consent_router, prefix="/api/v1")
    app.include_router(rights_router, prefix="/api/v1")
    app.include_router(audit_router, prefix="/api/v1")
    app.include_router(sources_router, prefix="/api/v1")
    app.include_router(notify_router, prefix="/api/v1")
    app.include_router(community_router, prefix="/api/v1")
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=Path(pages.__file__).parent / "static"), name="static")
    app.add_middleware(RefuseNul)
    app.add_middleware(RequestId)

    @app.exception_handler(LoginRequired)
    async def login_first(request: Request, _: LoginRequired) -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(AuditWriteError)
    async def unaudited(_: Request, exc: AuditWriteError) -> JSONResponse:
        return JSONResponse({"detail": "the access could not be recorded in the audit log, so nothing was "
                                       "sent; try again later"}, status_code=503)

    @app.exception_handler(ConsentError)
    async def refused(_: Request, exc: ConsentError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(HubError)
    async def failed(_: Request, exc: HubError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    return app


class RequestId:
    """ASGI middleware: the request's id in a context variable (sync endpoints' threads copy it), and in
    the response's ``X-Request-ID`` header."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = new_request_id(given)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        token = set_request_id(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            reset_request_id(token)
