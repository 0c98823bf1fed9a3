"""``hub contracts``: the agreements in force, checked; one shown whole; the schema they follow."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from contracts.load import today
from contracts.model import Contract
from hub.console import console, fail, open_hub, print_rows
from hub.errors import HubError

contracts_app = typer.Typer(help="Data-sharing contracts: what the hub may take and publish.", no_args_is_help=True)


def _contracts():
    hub = open_hub()
    try:
        return hub.contracts
    except HubError as exc:
        fail(str(exc))


@contracts_app.command("list")
def list_contracts() -> None:
    """Every contract in force (checked against this hub): partner, version, sources taken, views, digest."""
    rows = [(c.contract.id, c.contract.partner.id, c.contract.version,
             f"{c.contract.signed_on} to {c.contract.valid_until}" + ("" if c.in_force(today()) else " (not in force)"),
             ", ".join(c.contract.sources) or "-", ", ".join(v.name for v in c.contract.views) or "-", c.sha256[:16])
            for c in _contracts()]
    print_rows(("contract", "partner", "version", "in force", "sources taken", "views", "sha256"), rows,
               title="Contracts")


@contracts_app.command("check")
def check() -> None:
    """Validate every contract file against the schema and this hub; exit 1 naming each problem."""
    contracts = _contracts()
    typer.echo(f"{len(contracts.contracts)} contract(s) valid: "
               + ", ".join(f"{c.contract.id} {c.contract.version}" for c in contracts))


@contracts_app.command("show")
def show(contract_id: Annotated[str, typer.Argument(help="The contract id (its file name without .toml).")]) -> None:
    """Print one contract file as it is in force, with its digest."""
    for loaded in _contracts():
        if loaded.contract.id == contract_id:
            typer.echo(f"# {loaded.path}  sha256 {loaded.sha256}")
            typer.echo(loaded.text)
            return
    fail(f"no contract {contract_id!r}")


@contracts_app.command("retention")
def retention(apply: Annotated[bool, typer.Option("--apply", help="Delete what is past retention (audited).")]
              = False) -> None:
    """Per source: the retention its contracts give, its records, and how many are past it (counted from
    the last delivery); with --apply, delete those."""
    from contracts import retention as rules
    from hub.console import actor

    hub = open_hub()
    try:
        if apply:
            found = rules.apply(hub, actor=actor())
        else:
            with hub.engine.connect() as conn:
                found = rules.review(conn, hub.contracts, now=dt.datetime.now(dt.UTC))
    except HubError as exc:
        fail(str(exc))
    rows = [(r.source, r.cutoff_reason, str(r.records), str(r.overdue), str(r.households_overdue)) for r in found]
    print_rows(("source", "retention", "records", "past retention", "household units past retention"), rows,
               title="Retention" + (": deleted" if apply else ""))


@contracts_app.command("init")
def init(directory: Annotated[Path, typer.Argument(help="The deployment's contracts folder (HUB_CONTRACTS_DIR).")]
         ) -> None:
    """Start a deployment's contracts folder from the agreements the hub ships (TPMAP, MSDHS, EEF, the
    universities, the policy unit, community data return, open data); point HUB_CONTRACTS_DIR at it and add
    each new agreement there. Files already in the folder are left alone."""
    from contracts.load import BUILT_IN

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for shipped in sorted(BUILT_IN.glob("*.toml")):
        target = directory / shipped.name
        if not target.exists():
            target.write_bytes(shipped.read_bytes())
            written.append(shipped.stem)
    console.print(f"{directory}: {', '.join(written) or 'nothing'} written; set HUB_CONTRACTS_DIR={directory}")


@contracts_app.command("schema")
def schema() -> None:
    """The JSON Schema every contract file follows (written as TOML)."""
    console.print_json(json.dumps(Contract.model_json_schema(), ensure_ascii=False))
