"""``hub notify``: partners' webhook endpoints, the outbox (list, deliver, retry) and the signing key."""
from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from hub.console import actor, console, fail, open_hub, print_rows
from hub.errors import HubError

notify_app = typer.Typer(help="Signed webhooks to partners: endpoints, the outbox, retries, the public key.",
                         no_args_is_help=True)
endpoint_app = typer.Typer(help="Where each partner receives its webhooks.", no_args_is_help=True)
notify_app.add_typer(endpoint_app, name="endpoint")


class State(enum.StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"


def _when(value) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


@endpoint_app.command("set")
def endpoint_set(partner: Annotated[str, typer.Argument(help="The partner's id, as its contract names it.")],
                 url: Annotated[str, typer.Argument(help="An http:// or https:// URL that accepts the POSTs.")]
                 ) -> None:
    """Register (or change) where PARTNER receives its webhooks; its pending ones go there next."""
    from hub.notify.endpoints import set_endpoint

    try:
        stored = set_endpoint(open_hub(), partner, url, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"{partner}: webhooks go to {escape(stored)}")


@endpoint_app.command("remove")
def endpoint_remove(partner: Annotated[str, typer.Argument(help="The partner's id, as its contract names it.")]
                    ) -> None:
    """Stop sending PARTNER webhooks; its notifications wait until it has an endpoint again."""
    from hub.notify.endpoints import remove_endpoint

    try:
        removed = remove_endpoint(open_hub(), partner, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"{partner}: no more webhooks to {escape(removed)}; its notifications wait")


@endpoint_app.command("list")
def endpoint_list() -> None:
    """Every registered endpoint."""
    from hub.notify.endpoints import list_endpoints

    print_rows(("partner", "url", "registered", "by"),
               [(e["partner"], e["url"], _when(e["registered_at"]), e["registered_by"])
                for e in list_endpoints(open_hub())], title="Webhook endpoints")


@notify_app.command()
def deliver() -> None:
    """Post every due notification now, and remove those delivered more than HUB_NOTIFY_KEEP_DAYS ago (the
    scheduler does both every minute); print the counts."""
    from hub.notify.delivery import run_delivery_job

    console.print(run_delivery_job(open_hub(), actor=actor()))


@notify_app.command("list")
def list_command(state: Annotated[State | None, typer.Option(help="Only notifications in this state.")] = None,
                 partner: Annotated[str | None, typer.Option(help="Only this partner's.")] = None,
                 limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100) -> None:
    """Notifications, newest first: partner, kind, state, tries, next try, last error (never their content)."""
    from hub.notify.outbox import list_notifications

    rows = list_notifications(open_hub(), state=state and state.value, partner=partner, limit=limit)
    print_rows(("id", "partner", "kind", "state", "attempts", "next attempt", "last error", "created", "delivered"),
               [(str(r["id"]), r["partner"], r["kind"], r["state"], str(r["attempts"]),
                 _when(r["next_attempt_at"]) if r["state"] == "pending" else "-", r["last_error"] or "",
                 _when(r["created_at"]), _when(r["delivered_at"])) for r in rows], title="Notifications")


@notify_app.command()
def retry(notification_id: Annotated[int, typer.Argument(metavar="ID", help="A dead notification's id.")]) -> None:
    """Put a dead notification back in the queue, to be tried at the next delivery."""
    from hub.notify.outbox import retry as retry_notification

    try:
        retry_notification(open_hub(), notification_id, actor=actor())
    except HubError as exc:
        fail(str(exc))
    console.print(f"notification {notification_id} is pending again")


@notify_app.command("public-key")
def public_key_cmd(out: Annotated[Path | None, typer.Option("--out", help="Write the PEM here.")] = None) -> None:
    """The public key that verifies this hub's webhooks (give it to partners)."""
    from hub.notify.signature import public_key

    pem = public_key(open_hub().keyring)
    if out is None:
        typer.echo(pem, nl=False)
    else:
        out.write_text(pem, encoding="ascii")
        console.print(f"public key: {out}")
