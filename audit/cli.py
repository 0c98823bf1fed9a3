"""``hub audit``: verify the log, export checkpoints for witnesses, search it, and show an area's
"who used our data"."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hub.console import actor, console, fail, open_hub, print_rows
from hub.errors import HubError

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(witness: Annotated[list[Path] | None, typer.Option(
        help="A witness file from `hub audit checkpoint --export` (repeat for several).")] = None,
        public_key: Annotated[Path | None, typer.Option(
            help="The audit key (PEM) the auditor pinned (GET /api/v1/audit/public-key); without it, the "
                 "hub's own key is used, which needs the keys directory.")] = None) -> None:
    """Check the chain, the signed checkpoints and the witnesses; exits 1 naming the first bad event."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from audit.access import verify

    hub = open_hub()
    try:
        pinned = None if public_key is None else public_key.read_text(encoding="ascii")
        if pinned is not None:
            load_pem_public_key(pinned.encode())  # a file that is not a key is the auditor's error, not the log's
        result = verify(hub, witness or [], public_key=pinned)
    except (HubError, OSError, ValueError, TypeError) as exc:
        fail(f"{exc}", code=2)
    if result.problem:
        fail(f"audit log broken at event {result.problem.seq}: {result.problem.what}")
    witnessed = f", and the {result.witnesses} witnessed head(s) agree" if result.witnesses else ""
    console.print(f"audit log intact: {result.events} events, {result.checkpoints} signed checkpoint(s){witnessed}")


@audit_app.command("checkpoint")
def audit_checkpoint(export: Annotated[Path, typer.Option(help="The witness file to write.")]) -> None:
    """Sign the log's current head and write it to a file for an auditor to keep outside the hub."""
    from audit.access import export_checkpoint

    hub = open_hub()
    try:
        seq = export_checkpoint(hub, export, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"signed head at event {seq} written to {export}")


@audit_app.command("log")
def audit_log(actor_name: Annotated[str | None, typer.Option("--actor", help="Exactly this actor.")] = None,
              role: Annotated[str | None, typer.Option(help="admin, partner, community, auditor, policy, "
                                                             "operator or system.")] = None,
              partner: Annotated[str | None, typer.Option(help="A partner id (tpmap, eef...).")] = None,
              area: Annotated[str | None, typer.Option(help="An area code; its sub-areas match too.")] = None,
              action: Annotated[str | None, typer.Option(help="An action, or a family ending in '.' "
                                                               "(consent.).")] = None,
              since: Annotated[str | None, typer.Option(help="From this ISO date or time.")] = None,
              until: Annotated[str | None, typer.Option(help="Up to this ISO date (inclusive) or time.")] = None,
              limit: Annotated[int, typer.Option(help="At most this many events.")] = 1000,
              csv: Annotated[Path | None, typer.Option(help="Write CSV here instead of a table.")] = None) -> None:
    """Search the log as an auditor sees it (no personal data); the search is audited."""
    from audit.access import search_log
    from audit.query import Filters, as_csv

    hub = open_hub()
    filters = Filters(actor=actor_name, role=role, partner=partner, area=area, action=action, since=since,
                      until=until, limit=limit)
    try:
        events = search_log(hub, filters, actor=actor())
    except HubError as exc:
        fail(str(exc))
    if csv is not None:
        csv.write_text(as_csv(events), encoding="utf-8")
        console.print(f"{len(events)} event(s) written to {csv}"
                      + (" (the --limit; there may be more)" if len(events) == limit else ""))
        return
    rows = [(str(e["seq"]), e["occurred_at"][:19], e["actor"], e["action"], e["resource"], e["partner"] or "",
             e["area"] or "", "" if e["record_count"] is None else str(e["record_count"])) for e in events]
    print_rows(("seq", "time (UTC)", "actor", "action", "resource", "partner", "area", "records"), rows,
               title="Audit log")
    if len(events) == limit:
        console.print(f"the first {limit} matching events; there may be more (raise --limit, or narrow --since)")


@audit_app.command("usage")
def audit_usage(area: Annotated[str, typer.Argument(help="A village TTTTTT-MM or a tambon TTTTTT.")],
                as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Who used this community's data: partners' reads of its records, when and for which purpose."""
    from audit.access import area_usage

    hub = open_hub()
    try:
        result = area_usage(hub, area, actor=actor())
    except HubError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    rows = [(e["partner"] or "", e["purpose"] or "", str(e["reads"]), str(e["records"]), e["first"][:10],
             e["last"][:10]) for e in result["by_partner"]]
    print_rows(("partner", "purpose", "reads", "records", "first", "last"), rows,
               title=f"Who used the data of {area}")


@audit_app.command("grant-app-role")
def audit_grant_app_role(role: Annotated[str, typer.Argument(help="The PostgreSQL role the hub runs as.")]) -> None:
    """PostgreSQL: let ROLE use the hub's tables but only read and append the audit tables."""
    from audit.guards import grant_app_role

    hub = open_hub()
    try:
        with hub.engine.begin() as conn:
            grant_app_role(conn, role)
    except ValueError as exc:
        fail(str(exc))
    console.print(f"{role}: may read and write the hub's tables; audit tables: SELECT and INSERT only")
