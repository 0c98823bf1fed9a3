"""``hub sources``: the installed adapters and how each source is reached; ``hub sources add`` registers a
source after a dry run, ``hub sources check`` dry-runs a registered one again."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from hub.console import actor, console, fail, open_hub, print_rows
from hub.errors import HubError

sources_app = typer.Typer(help="Partner sources: the installed adapters, registering a source, checking it.",
                          invoke_without_command=True)


@sources_app.callback()
def sources_list(ctx: typer.Context) -> None:
    """List the installed adapters (the SOURCE names ``hub ingest`` accepts) and how each is reached."""
    if ctx.invoked_subcommand is not None:
        return
    from hub.sync.access import load_access, reached_by

    hub = open_hub()
    try:
        access = load_access(hub.settings.resolved_sources_file)
    except HubError as exc:
        fail(str(exc))
    schedules = hub.contracts.schedules()
    rows = [(name, a.title, a.record_id_doc, reached_by(access.get(name)), schedules.get(name, "by hand"))
            for name, a in sorted(hub.adapters.items())]
    print_rows(("source", "partner system", "source_record_id", "reached by", "schedule"), rows,
               title="Installed adapters")


def _options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--option takes NAME=VALUE, not {pair!r}", code=2)
        options[name.strip()] = value
    return options


@sources_app.command("add")
def sources_add(
        source: Annotated[str, typer.Argument(help="The adapter's name, e.g. dla_elderly.")],
        inbox: Annotated[Path | None, typer.Option(help="The directory the partner delivers files to.")] = None,
        api: Annotated[str | None, typer.Option(help="The partner API's base URL (https://...).")] = None,
        api_key_file: Annotated[Path | None, typer.Option(help="File holding the API key (mode 0600).")] = None,
        api_key_env: Annotated[str | None, typer.Option(help="Environment variable holding the API key.")] = None,
        page_size: Annotated[int | None, typer.Option(help="Items per API page (1-500).")] = None,
        option: Annotated[list[str] | None, typer.Option(
            help="An adapter option, NAME=VALUE (repeat); checked against the adapter's typed options.")] = None,
        sample: Annotated[Path | None, typer.Option(
            help="A file of the partner's to dry-run (default: the oldest file waiting in the inbox).")] = None,
        replace: Annotated[bool, typer.Option(help="Replace the source's registration.")] = False) -> None:
    """Register SOURCE: check how it is reached and its options, dry-run it (read real data through its
    adapter and the contracts, store nothing), and only then write it to sources.toml, from where the
    scheduler runs it on its contract's schedule. Exits 1, changing nothing, when any step fails."""
    from pydantic import ValidationError

    from hub.sync.access import SourceAccess
    from hub.sync.registration import register_source

    if (api is None) == (inbox is None):
        fail("give exactly one of --api and --inbox", code=2)
    hub = open_hub()
    table: dict = {"options": _options(option or [])}
    if api is not None:
        table["api"] = {k: v for k, v in (("base_url", api), ("api_key_file", api_key_file and api_key_file.resolve()),
                                          ("api_key_env", api_key_env), ("page_size", page_size)) if v is not None}
    if inbox is not None:
        table["inbox"] = inbox.resolve()
    try:
        access = SourceAccess.model_validate(table)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), code=2)
    try:
        run = register_source(hub, source, access, sample=sample, actor=actor(), replace=replace)
    except HubError as exc:
        fail(f"{exc}; nothing was registered")
    _show(run)
    schedule = hub.contracts.schedules().get(source)
    console.print(f"registered {source} in {hub.settings.resolved_sources_file}; "
                  + (f"the scheduler runs it {schedule}" if schedule else
                     f"its contract sets no schedule: sync it with `hub sync {source}`"))


@sources_app.command("check")
def sources_check(source: Annotated[str, typer.Argument(help="A registered source.")],
                  sample: Annotated[Path | None, typer.Option(help="A file to dry-run instead.")] = None) -> None:
    """Dry-run a registered source again: reach its API or inbox, read through its adapter and the
    contracts, store nothing. Exits 1 when it fails."""
    from hub.sync.access import load_access
    from hub.sync.registration import check_source

    hub = open_hub()
    try:
        access = load_access(hub.settings.resolved_sources_file).get(source)
        if access is None:
            fail(f"{source} is not registered; register it with `hub sources add {source}`")
        run = check_source(hub, source, access, sample=sample, actor=actor())
    except HubError as exc:
        fail(str(exc))
    _show(run)


def _show(run) -> None:
    console.print(f"dry run of {run.source}, read from {escape(run.read_from)}: {run.items} item(s), "
                  f"{run.records} record(s) of {run.persons} person(s), {run.tombstones} deletion(s), "
                  f"{sum(run.rejected.values())} would be quarantined; nothing was stored")
    for reason, n in run.rejected.most_common(5):
        console.print(f"  quarantined {n} x {escape(reason)}")
    if run.fields_refused:
        console.print(f"  not taken (no contract allows): {', '.join(sorted(run.fields_refused))}")
