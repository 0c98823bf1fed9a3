"""The web pages: log in with a token, then the page of your role.

- ``/overview``: an aggregate view an analyst may read (a policy unit's, else the public one), one area
  with its figures and charts, and the areas below it to drill into, nation to village;
- ``/community``: a steward's households (identified where consent holds), which agencies know each, and
  who used the community's data;
- ``/auditor``: the audit log with filters, and whether it verifies;
- ``/partner``: the partner's views to download, a form to upload a file to its sources, and the reports
  of its recent ingests.

Every read goes through the same audited functions as the API. The token lives in an HTTP-only,
SameSite=Strict cookie; pages only read, except the login and the upload forms.
"""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from audit.access import area_usage, search_log
from audit.query import Filters
from consent.data_return import read_view as read_data_return
from hub.api.auth import actor_of, hub_of
from hub.community.access import HouseholdNotShown
from hub.community.found import enter_found_household
from hub.community.verification import METHODS, VerificationError, latest_statuses, verify_household
from hub.community.verification import STATUSES as VERIFICATION_STATUSES
from hub.context import Hub
from hub.db.schema import ingest_runs
from hub.errors import HubError
from hub.pipeline.ingest import ingest_file
from hub.quarantine import list_quarantine
from hub.sync.status import source_statuses
from hub.thai.areas import area_name
from hub.thai.dates import buddhist_year
from hub.thai.indicators import DIMENSIONS
from hub.tokens import Caller, TokenError
from hub.tokens import verify as verify_token
from hub.views.files import XLSX_TYPE, csv_bytes, xlsx_bytes
from hub.views.read import current_versions, read_view, view_table
from hub.views.visibility import visible_views, writable_sources
from hub.web.i18n import TEXT, language

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
COOKIE, LANG_COOKIE = "saphan_token", "saphan_lang"
HOME = {"policy": "/overview", "admin": "/overview", "partner": "/partner", "community": "/community",
        "auditor": "/auditor"}


class LoginRequired(Exception):
    """No valid token in the cookie: the handler sends the browser to the login page."""


async def web_caller(request: Request) -> Caller:
    try:
        return verify_token(request.app.state.hub, request.cookies.get(COOKIE, ""))
    except TokenError:
        raise LoginRequired() from None


WebCaller = Annotated[Caller, Depends(web_caller)]
HubDep = Annotated[Hub, Depends(hub_of)]


_THAI_MONTHS = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")


def date_text(iso: str | None, lang: str) -> str:
    """An ISO date as Thai readers write it (13 ม.ค. 2503, Buddhist era), or unchanged in English."""
    if not iso or lang != "th":
        return iso or ""
    try:
        day = dt.date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    return f"{day.day} {_THAI_MONTHS[day.month - 1]} {buddhist_year(day)}"


def render(request: Request, template: str, who: Caller | None, status: int = 200, **context: Any) -> Response:
    lang = language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
    response = templates.TemplateResponse(request, template, {
        "t": TEXT[lang], "lang": lang, "who": who, "area_name": area_name,
        "date": lambda iso: date_text(iso, lang), **context}, status_code=status)
    if request.query_params.get("lang") == lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict")
    return response


@router.get("/login")
def get_login(request: Request) -> Response:
    return render(request, "login.html", None)


@router.post("/login")
def post_login(request: Request, hub: HubDep, token: Annotated[str, Form()]) -> Response:
    try:
        who = verify_token(hub, token.strip())
    except TokenError:
        return render(request, "login.html", None, status=401, failed=True)
    response = RedirectResponse(HOME[who.role], status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=8 * 3600)
    return response


@router.get("/logout")
def get_logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/")
def get_home(who: WebCaller) -> Response:
    return RedirectResponse(HOME[who.role], status_code=303)


def _for(who: Caller, *roles: str) -> None:
    if who.role not in roles:
        raise HTTPException(404, "no such page")


# ------------------------------------------------------------------------------------------------ overview


def _bars(figures: dict, names: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Bars for a chart: each (figure, label) with its value, ``None`` where suppressed, and its width."""
    values = [figures.get(name) for name, _ in names]
    top = max((v for v in values if v is not None), default=0) or 1
    return [{"label": label, "value": v, "width": 0 if v is None else round(100 * v / top, 1)}
            for (_, label), v in zip(names, values)]


@router.get("/overview")
def get_overview(request: Request, hub: HubDep, who: WebCaller, view: str | None = None,
                 area: str = "TH") -> Response:
    readable = {name: spec for name, (_, spec) in visible_views(hub.contracts, who).items() if not spec.microdata}
    if not readable:
        raise HTTPException(404, "no such page")
    choice = view if view in readable else next((n for n in ("policy_all_levels", "public_province")
                                                 if n in readable), sorted(readable)[0])
    part = read_view(hub, choice, area=area, actor=actor_of(who))
    here = next(c for c in part.cells if c["area"] == area)
    children = [c for c in part.cells if c["parent"] == area]
    t = TEXT[language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))]
    figures = here["figures"]
    charts = {
        "dimensions": _bars(figures, [(f"deprived_{d}", t[d]) for d in DIMENSIONS]),
        "errors": _bars(figures, [("inclusion_errors", t["inclusion_errors"]),
                                  ("exclusion_errors", t["exclusion_errors"])]),
        "mpi": _bars({c["area"]: c["figures"].get("mpi") for c in children},
                     [(c["area"], area_name(c["area"])) for c in children]),
    }
    return render(request, "overview.html", who, views=sorted(readable), view=choice, spec=readable[choice],
                  here=here, children=children, charts=charts, drillable=here["level"] != readable[choice].level
                  and bool(children))


# ----------------------------------------------------------------------------------------------- community


@router.get("/community")
def get_community(request: Request, hub: HubDep, who: WebCaller, found: int | None = None,
                  rejected: int | None = None) -> Response:
    _for(who, "community")
    returned = read_data_return(hub, who.area, steward_id=who.steward, actor=actor_of(who))
    used = area_usage(hub, who.area, actor=actor_of(who))
    agencies = {h.household_id: sorted(set(h.sources).union(*(m.sources for m in h.members)))
                for h in returned.households}
    with hub.engine.connect() as conn:
        verdicts = latest_statuses(conn, [h.household_id for h in returned.households])
    return render(request, "community.html", who, returned=returned, used=used, agencies=agencies,
                  verdicts=verdicts, statuses=VERIFICATION_STATUSES, methods=METHODS, found=found, rejected=rejected)


@router.post("/community/verify")
def post_verify(request: Request, hub: HubDep, who: WebCaller, household_id: Annotated[str, Form(max_length=32)],
                status: Annotated[str, Form()], method: Annotated[str, Form()],
                note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """A steward's verification from the community page; back to the page (the same answer for a household
    the community does not see as for one that does not exist)."""
    _for(who, "community")
    try:
        verify_household(hub, community_code=who.area, steward_id=who.steward, household_id=household_id,
                         status=status, evidence={"method": method, "note": note}, actor=actor_of(who))
    except HouseholdNotShown:
        raise HTTPException(404, "no such household in your community") from None
    except VerificationError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(f"/community#h-{household_id}", status_code=303)


@router.post("/community/found")
def post_found(request: Request, hub: HubDep, who: WebCaller, first_name: Annotated[str, Form(max_length=100)],
               last_name: Annotated[str, Form(max_length=100)], house_no: Annotated[str, Form(max_length=32)] = "",
               title: Annotated[str, Form(max_length=32)] = "", birth_date: Annotated[str, Form(max_length=10)] = "",
               sex: Annotated[str, Form(max_length=1)] = "", citizen_id: Annotated[str, Form(max_length=20)] = "",
               moo: Annotated[int | None, Form(ge=1, le=99)] = None) -> Response:
    """A household the stewards found, with its head, from the community page; the page again, with the
    ingest report (a member the hub could not take is named with the reason)."""
    _for(who, "community")
    member = {"citizen_id": citizen_id or None, "title": title or None, "first_name": first_name,
              "last_name": last_name, "birth_date": birth_date or None, "sex": sex or None,
              "relation": "head"}
    try:
        report = enter_found_household(hub, community_code=who.area, steward_id=who.steward, house_no=house_no or None,
                                       moo=moo, members=[member], verified_poor=True, problems=[],
                                       actor=actor_of(who))
    except HubError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(f"/community?found={report.inserted}&rejected={report.quarantined}#found",
                            status_code=303)


# ------------------------------------------------------------------------------------------------- auditor


@router.get("/auditor")
def get_auditor(request: Request, hub: HubDep, who: WebCaller, actor: str | None = None,
                partner: str | None = None, area: str | None = None, action: str | None = None,
                since: str | None = None, until: str | None = None) -> Response:
    _for(who, "auditor", "admin")
    filters = Filters(actor=actor or None, partner=partner or None, area=area or None, action=action or None,
                      since=since or None, until=until or None, limit=200, newest_first=True)
    try:
        events, problem = search_log(hub, filters, actor=actor_of(who)), None
    except HubError as exc:
        events, problem = [], str(exc)
    return render(request, "auditor.html", who, events=events, filters=filters, problem=problem,
                  verified=hub.audit_status.current())


@router.get("/sources")
def get_sources(request: Request, hub: HubDep, who: WebCaller) -> Response:
    """The operator's view of every source: how it is reached, its schedule, last success and failure,
    backlog and staleness."""
    _for(who, "admin")
    with hub.engine.connect() as conn:
        statuses = source_statuses(hub, conn)
    return render(request, "sources.html", who, statuses=statuses)


# ------------------------------------------------------------------------------------------------- partner


def _partner_page(request: Request, hub: Hub, who: Caller, report: dict | None = None, status: int = 200):
    own = visible_views(hub.contracts, who)
    with hub.engine.connect() as conn:
        served = {v.view: v for v in current_versions(conn)}
        sources = sorted(writable_sources(hub.contracts, who, set(hub.adapters)))
        t = ingest_runs
        runs = conn.execute(select(t).where(t.c.source.in_(sources)).order_by(t.c.id.desc()).limit(10)).all()
    quarantine = {run.id: list_quarantine(hub, run_id=run.id, limit=50) for run in runs if run.quarantined}
    views = [(name, spec, served.get(name)) for name, (_, spec) in sorted(own.items()) if not spec.public
             or who.role == "admin"]
    return render(request, "partner.html", who, status=status, views=views, sources=sources, runs=runs,
                  quarantine=quarantine, report=report)


@router.get("/partner")
def get_partner(request: Request, hub: HubDep, who: WebCaller) -> Response:
    _for(who, "partner", "admin")
    return _partner_page(request, hub, who)


@router.get("/partner/views/{name}.{fmt}")
def get_download(name: str, fmt: str, hub: HubDep, who: WebCaller) -> Response:
    _for(who, "partner", "admin")
    if name not in visible_views(hub.contracts, who) or fmt not in ("csv", "xlsx"):
        raise HTTPException(404, "no such view")
    header, rows = view_table(hub, name, area=None, actor=actor_of(who))
    body, kind = (csv_bytes(header, rows), "text/csv; charset=utf-8") if fmt == "csv" else \
        (xlsx_bytes(name, header, rows), XLSX_TYPE)
    file_name = f"{name}-{dt.date.today().isoformat()}.{fmt}"
    return Response(body, media_type=kind, headers={"Content-Disposition": f'attachment; filename="{file_name}"'})


@router.post("/partner/upload")
async def post_upload(request: Request, hub: HubDep, who: WebCaller, source: Annotated[str, Form()],
                      file: Annotated[UploadFile, File()]) -> Response:
    _for(who, "partner", "admin")
    if source not in writable_sources(hub.contracts, who, set(hub.adapters)):
        raise HTTPException(404, "no such source")
    name = Path(file.filename or "upload").name
    directory = Path(tempfile.mkdtemp(prefix="upload-", dir=hub.settings.resolved_home))
    try:
        path = directory / name
        with open(path, "wb") as out:
            shutil.copyfileobj(file.file, out)
        if path.stat().st_size > hub.settings.upload_max_bytes:
            raise HTTPException(413, f"the file is larger than the {hub.settings.upload_max_bytes:,} bytes allowed")
        try:
            report = await run_in_threadpool(ingest_file, hub, source, path, actor=actor_of(who))
        except HubError as exc:
            return _partner_page(request, hub, who, {"file": name, "error": str(exc)}, status=422)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return _partner_page(request, hub, who, {"file": name, "rows_read": report.rows_read, "accepted": report.accepted,
                                             "quarantined": report.quarantine_reasons})
