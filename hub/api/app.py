"""The FastAPI application: routers under ``/api/v1``, errors as JSON with a clear message."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from consent.api import rights_router
from consent.api import router as consent_router
from consent.vocabulary import ConsentError
from hub.context import Hub
from hub.errors import HubError


def create_app(hub: Hub) -> FastAPI:
    app = FastAPI(title="Saphan (สะพาน) hub API", version="1", docs_url="/api/docs",
                  openapi_url="/api/v1/openapi.json")
    app.state.hub = hub
    app.include_router(consent_router, prefix="/api/v1")
    app.include_router(rights_router, prefix="/api/v1")

    @app.exception_handler(ConsentError)
    async def refused(_: Request, exc: ConsentError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(HubError)
    async def failed(_: Request, exc: HubError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    return app
