"""What every ``hub`` command shares: the consoles, the acting user, tables and failures."""
from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hub.errors import HubError

console = Console()
err = Console(stderr=True, soft_wrap=True)


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def print_rows(header: tuple[str, ...], rows: list[tuple[str, ...]], *, title: str) -> None:
    """A table on a terminal; tab-separated lines, never cut or wrapped, when piped or captured."""
    if console.is_terminal:
        table = Table(*header, title=title)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    typer.echo("\t".join(header))
    for row in rows:
        typer.echo("\t".join(row))


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def open_hub():
    from hub.context import Hub

    try:
        return Hub.open()
    except HubError as exc:
        fail(str(exc))
