"""The demo's last act: publish every contract's views and show what a partner, a policy unit and the
public receive for one district."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hub.context import Hub
from hub.thai.areas import area_name
from hub.views.cli import summarise
from hub.views.publish import publish
from hub.views.read import read_view

_SHOWN = ("households", "persons", "target_poor", "mpi_H", "mpi_A", "mpi", "inclusion_errors", "exclusion_errors",
          "in_need_unserved")


def show_views(hub: Hub, console: Console, *, actor: str) -> None:
    """Publish, print what anonymisation did per view, and one amphoe of the policy view."""
    done = publish(hub, actor=actor)
    table = Table("view", "rows", "persons excluded by consent", "anonymisation", title="Views published (hub publish)")
    for p in done:
        table.add_row(p.view, f"{p.rows:,}", f"{p.excluded_by_consent:,}", summarise(p.report))
    console.print(table)
    nation = read_view(hub, "policy_all_levels", area=None, actor=actor)
    province = next(c["area"] for c in nation.cells if c["level"] == "province")
    amphoe = next(c["area"] for c in read_view(hub, "policy_all_levels", area=province, actor=actor).cells
                  if c["level"] == "amphoe")
    cells = read_view(hub, "policy_all_levels", area=amphoe, actor=actor).cells
    figures = Table("area", "name", *_SHOWN,
                    title=f"policy_all_levels: {area_name(amphoe)} and its tambons (blank: suppressed, below 10)")
    for cell in cells:
        values = cell["figures"]
        figures.add_row(cell["area"], area_name(cell["area"]),
                        *("" if values.get(n) is None else f"{values[n]:g}" for n in _SHOWN))
    console.print(figures)
