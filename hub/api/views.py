"""Published views over the API: a partner lists and reads its own views (paged, by area code prefix) and
downloads them as CSV or XLSX; a policy unit also compares areas and follows a figure across the kept
versions. Every read is audited before anything is sent; a view the caller may not read answers 404,
exactly as one that does not exist (:mod:`hub.views.visibility`)."""
from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, HTTPException, Query, Response

from contracts.model import View
from hub.api.auth import CallerDep, HubDep, actor_of
from hub.context import Hub
from hub.sync.status import recent_stale_sources, stale_sources
from hub.thai.areas import area_name
from hub.tokens import Caller
from hub.views.files import XLSX_TYPE, csv_bytes, xlsx_bytes
from hub.views.read import columns, current_versions, kept_versions, read_page, read_view, view_table
from hub.views.visibility import visible_views

router = APIRouter(prefix="/views", tags=["views"])
MAX_PAGE = 5000
AreaQuery = Annotated[str | None, Query(pattern=r"^(\d{2}|\d{4}|\d{6}|\d{6}-\d{2}|TH)$",
                                        description="an area code; everything inside it matches")]


def _view(hub: Hub, who: Caller, name: str) -> View:
    """The view ``name`` if the caller may read it; 404 otherwise, whether or not it exists."""
    found = visible_views(hub.contracts, who).get(name)
    if found is None:
        raise HTTPException(404, "no such view")
    return found[1]


def _stale_inputs(spec: View, stale: list[str]) -> list[str]:
    """The stale sources among those ``spec`` is built from: its data may be behind theirs."""
    return [s for s in stale if not spec.scope or s in spec.scope]


def _summary(spec: View, partner: str, version, stale: list[str]) -> dict[str, Any]:
    return {"name": spec.name, "partner": partner, "purpose": spec.purpose, "level": spec.level,
            "kind": "microdata" if spec.microdata else "aggregate", "public": spec.public, "columns": columns(spec),
            "version_id": version.version_id if version else None, "rows": version.rows if version else 0,
            "published_at": version.published_at.isoformat() if version and version.published_at else None,
            "stale_sources": _stale_inputs(spec, stale)}


@router.get("", summary="The views you may read, with the version each serves and the sources it is built "
                        "from whose data is stale (their last sync failed or is overdue)")
def get_views(hub: HubDep, who: CallerDep) -> list[dict[str, Any]]:
    with hub.engine.connect() as conn:
        served = {v.view: v for v in current_versions(conn)}
    stale = stale_sources(hub)
    return [_summary(spec, loaded.contract.partner.id, served.get(name), stale)
            for name, (loaded, spec) in sorted(visible_views(hub.contracts, who).items())]


@router.get("/{name}/rows", response_model=dict[str, Any],
            summary="A page of a view: microdata rows, or the cells at and below an area; audited")
async def get_rows(name: str, hub: HubDep, who: CallerDep, area: AreaQuery = None,
                   offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
                   limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000) -> Response:
    # async, and encoded here: the most frequent read holds no thread while its audit event commits, and
    # skips FastAPI's generic encoding of what is plain JSON already
    spec = _view(hub, who, name)
    part, total = await read_page(hub, name, area=None if area == "TH" else area, offset=offset, limit=limit,
                                  actor=actor_of(who))
    items = part.rows if spec.microdata else [{**c, "name": area_name(c["area"])} for c in part.cells]
    following = offset + len(items)
    if (stale := recent_stale_sources(hub)) is None:
        stale = await anyio.to_thread.run_sync(stale_sources, hub)
    return Response(orjson.dumps({"view": name, "version_id": part.version.version_id, "total": total,
                                  "offset": offset, "items": items,
                                  "next_offset": following if following < total else None,
                                  "stale_sources": _stale_inputs(spec, stale)}), media_type="application/json")


def _download(hub: Hub, who: Caller, name: str, area: str | None) -> tuple[list[str], list[list[str]]]:
    _view(hub, who, name)
    return view_table(hub, name, area=None if area == "TH" else area, actor=actor_of(who))


@router.get("/{name}/export.csv", summary="The view at and below an area as CSV (UTF-8 with BOM); audited")
def get_csv(name: str, hub: HubDep, who: CallerDep, area: AreaQuery = None) -> Response:
    return Response(csv_bytes(*_download(hub, who, name, area)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@router.get("/{name}/export.xlsx", summary="The view at and below an area as an Excel workbook; audited")
def get_xlsx(name: str, hub: HubDep, who: CallerDep, area: AreaQuery = None) -> Response:
    return Response(xlsx_bytes(name, *_download(hub, who, name, area)), media_type=XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@router.get("/{name}/compare", summary="Aggregate figures of several areas side by side; audited")
def get_compare(name: str, hub: HubDep, who: CallerDep,
                area: Annotated[list[str], Query(min_length=1, max_length=50)]) -> dict[str, Any]:
    spec = _view(hub, who, name)
    if spec.microdata:
        raise HTTPException(422, "compare takes an aggregate view")
    out = []
    for code in area:
        cell = next(c for c in read_view(hub, name, area=code, actor=actor_of(who)).cells if c["area"] == code)
        out.append({"area": code, "name": area_name(code), "level": cell["level"], "figures": cell["figures"]})
    return {"view": name, "areas": out}


@router.get("/{name}/series", summary="One area's figures in each kept version, oldest first; audited")
def get_series(name: str, hub: HubDep, who: CallerDep, area: AreaQuery = None) -> dict[str, Any]:
    spec = _view(hub, who, name)
    if spec.microdata:
        raise HTTPException(422, "series takes an aggregate view")
    code = area or "TH"
    with hub.engine.connect() as conn:
        versions = kept_versions(conn, name)
    points = []
    for version in reversed(versions):
        cells = read_view(hub, name, area=None if code == "TH" else code, actor=actor_of(who),
                          version_id=version.version_id).cells
        cell = next(c for c in cells if c["area"] == code)
        points.append({"version_id": version.version_id, "published_at": version.published_at.isoformat(),
                       "figures": cell["figures"]})
    return {"view": name, "area": code, "name": area_name(code), "versions": points}
