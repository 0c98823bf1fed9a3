"""``hub publish`` and ``hub views``: build views under the contracts, list them, read one."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hub.console import actor, console, fail, open_hub, print_rows
from hub.errors import HubError

views_app = typer.Typer(help="Published views: what each partner receives.", no_args_is_help=True)


def publish_command(
        views: Annotated[list[str] | None, typer.Option("--view", help="Publish only this view (repeatable).")] = None,
        force: Annotated[bool, typer.Option("--force", help="Rebuild views whose inputs did not change too "
                                                            "(a public view spends budget again).")] = False,
) -> None:
    """Build every view the contracts define (or the ones named) and switch them in at once; print what
    anonymisation did to each. A view nothing it is built from has changed for keeps its version."""
    from hub.views.publish import publish

    hub = open_hub()
    try:
        with console.status("publishing") as status:
            done = publish(hub, views=views, actor=actor(), force=force,
                           progress=lambda name: status.update(f"building {name}"))
    except HubError as exc:
        fail(str(exc))
    rows = [(p.view, f"{p.version_id}" + (" (unchanged)" if p.unchanged else ""), str(p.rows),
             str(p.excluded_by_consent), summarise(p.report)) for p in done]
    print_rows(("view", "version", "rows", "persons excluded by consent", "anonymisation"), rows, title="Published")


def summarise(report: dict) -> str:
    parts = []
    if s := report.get("suppression"):
        parts.append(f"{s['primary']} cells suppressed + {s['secondary']} complements")
    if (rolled := report.get("villages_rolled_up")) is not None:
        parts.append(f"{rolled} small villages rolled up")
    if k := report.get("k_anonymity"):
        levels = ", ".join(f"{c}={lv}" for c, lv in k["levels"].items())
        parts.append(f"k={k['k']} at {levels}; {k['suppressed']} rows suppressed ({k['suppressed_share']:.1%})")
    if d := report.get("differential_privacy"):
        parts.append(f"epsilon {d['epsilon']:g} ({d['mechanism']})")
    if (written := report.get("rows_written")) is not None:
        parts.append(f"{written} rows written, {report['rows_shared']} shared with the version before")
    return "; ".join(parts) or "-"


@views_app.command("list")
def list_views() -> None:
    """The version each view serves now."""
    from hub.views.read import current_versions

    hub = open_hub()
    with hub.engine.connect() as conn:
        versions = current_versions(conn)
    rows = [(v.view, v.contract_id, v.level, str(v.version_id), str(v.rows), f"{v.published_at:%Y-%m-%d %H:%M}",
             summarise(v.report)) for v in versions]
    print_rows(("view", "contract", "level", "version", "rows", "published", "anonymisation"), rows,
               title="Views being served")


@views_app.command("versions")
def versions(view: Annotated[str, typer.Argument(help="The view name (hub views list).")]) -> None:
    """The versions of a view still kept (the current one first), to compare with --version."""
    from hub.views.read import kept_versions

    hub = open_hub()
    with hub.engine.connect() as conn:
        kept = kept_versions(conn, view)
    if not kept:
        fail(f"view {view!r} has no published version; run `hub publish`")
    rows = [(str(v.version_id), "current" if i == 0 else "retired", f"{v.published_at:%Y-%m-%d %H:%M}",
             str(v.rows), v.contract_id, summarise(v.report)) for i, v in enumerate(kept)]
    print_rows(("version", "status", "published", "rows", "contract", "anonymisation"), rows,
               title=f"{view}: versions kept")


@views_app.command("show")
def show(view: Annotated[str, typer.Argument(help="The view name (hub views list).")],
         area: Annotated[str | None, typer.Option(help="A DOPA code (province 2, amphoe 4, tambon 6 digits) or a "
                                                       "village TTTTTT-MM; default: the nation.")] = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
         version: Annotated[int | None, typer.Option(help="A kept earlier version (hub views versions NAME).")]
         = None) -> None:
    """An aggregate view's figures for the area and the areas just below it, or a microdata view's rows in
    the area; blank cells are suppressed. The read is audited."""
    from hub.thai.areas import area_name
    from hub.views.read import cell_text, columns, read_view

    hub = open_hub()
    try:
        part = read_view(hub, view, area=area, actor=actor(), version_id=version)
    except HubError as exc:
        fail(str(exc))
    items = part.rows or part.cells
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=1))
        return
    if not items:
        typer.echo(f"{view}: no rows in {area}")
        return
    names = columns(hub.contracts.view(view)[1])
    if part.rows:
        rows = [tuple(cell_text(r["fields"].get(n)) for n in names) for r in part.rows]
        print_rows(tuple(names), rows, title=f"{view} ({len(rows)} rows)")
        return
    rows = [(c["area"], area_name(c["area"]), *(cell_text(c["figures"].get(n)) for n in names)) for c in part.cells]
    print_rows(("area", "name", *names), rows, title=f"{view}, version {part.version.version_id}")


@views_app.command("export")
def export(view: Annotated[str, typer.Argument(help="The view name (hub views list).")],
           out: Annotated[Path, typer.Option(help="The CSV file to write (UTF-8 with BOM: Thai opens in Excel).")],
           area: Annotated[str | None, typer.Option(help="Only this area and below it (a DOPA code or "
                                                         "TTTTTT-MM); default: everything.")] = None,
           version: Annotated[int | None, typer.Option(help="A kept earlier version (hub views versions NAME).")]
           = None) -> None:
    """Write a view's current version as CSV: an aggregate's every area (with Thai names; blank cells are
    suppressed), or a microdata view's rows. The export is audited."""
    from hub.views.read import export_view

    hub = open_hub()
    try:
        rows = export_view(hub, view, out, area=area, actor=actor(), version_id=version)
    except HubError as exc:
        fail(str(exc))
    typer.echo(f"{out}: {rows} rows of {view}")
