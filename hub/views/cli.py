"""``hub publish`` and ``hub views``: build views under the contracts, list them, read one."""
from __future__ import annotations

import csv
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
    from hub.views.read import read_view

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
    names = _columns(hub, view, items[0]["fields"] if part.rows else items[0]["figures"])
    if part.rows:
        rows = [tuple(_text(r["fields"].get(n)) for n in names) for r in part.rows]
        print_rows(tuple(names), rows, title=f"{view} ({len(rows)} rows)")
        return
    rows = [(c["area"], area_name(c["area"]), *(_text(c["figures"].get(n)) for n in names)) for c in part.cells]
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
    from hub.thai.areas import area_name
    from hub.views.read import read_view

    hub = open_hub()
    try:
        part = read_view(hub, view, area=area, actor=actor(), whole=True, version_id=version)
    except HubError as exc:
        fail(str(exc))
    items = part.rows or part.cells
    stored = (items[0]["fields"] if part.rows else items[0]["figures"]) if items else {}
    names = _columns(hub, view, stored)
    with open(out, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        if part.rows:
            writer.writerow(["row", *names])
            writer.writerows([r["row"], *(_text(r["fields"].get(n)) for n in names)] for r in part.rows)
        else:
            writer.writerow(["area", "name", "level", "parent", *names])
            writer.writerows([c["area"], area_name(c["area"]), c["level"], c["parent"] or "",
                              *(_text(c["figures"].get(n)) for n in names)] for c in part.cells)
    typer.echo(f"{out}: {len(items)} {'rows' if part.rows else 'areas'} of {view} "
               f"(version {part.version.version_id})")


def _columns(hub, view: str, stored: dict) -> list[str]:
    """The view's columns in its contract's order (a database may store JSON keys in any order)."""
    from hub.views.figures import measures_of, ratios_of

    try:
        spec = hub.contracts.view(view)[1]
    except HubError:
        return sorted(stored)
    if spec.microdata:
        ordered = [name for name, rule in spec.fields.items() if rule.transform != "drop"]
    else:
        ordered = [m.name for m in measures_of(spec.figures)] + [r.name for r in ratios_of(spec.figures)]
    return [n for n in ordered if n in stored] + sorted(set(stored) - set(ordered))


def _text(value) -> str:
    return "" if value is None else str(value)
