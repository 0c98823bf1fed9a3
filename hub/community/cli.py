"""``hub referrals``: an agency's referral queue (in its pseudonyms) and moving a referral on, from the
operator's desk; agencies do the same through the API."""
from __future__ import annotations

from typing import Annotated

import typer

from hub.console import actor, console, fail, open_hub, print_rows

referrals_app = typer.Typer(help="Referrals of households to agencies, from made to done.", no_args_is_help=True)


@referrals_app.command("list")
def list_referrals(partner: Annotated[str, typer.Option(help="The agency's partner id (msdhs).")],
                   status: Annotated[str | None, typer.Option(help="pending, accepted, done or rejected.")] = None,
                   area: Annotated[str | None, typer.Option(help="A province, amphoe, tambon or village code.")] = None
                   ) -> None:
    """The agency's queue, oldest first: its pseudonym of each household, village, need, status, overdue."""
    from hub.community.referrals import agency_queue  # pandas: not on the ingest path (see tests/test_contracts.py)

    queue = agency_queue(open_hub(), partner, status=status, area=area, limit=10**9, actor=actor())
    print_rows(("id", "household", "village", "agency", "need", "status", "referred on", "overdue"),
               [(str(r["id"]), r["household"], r["village"], r["agency"], r["need"], r["status"], r["referred_on"],
                 "overdue" if r["overdue"] else "") for r in queue.rows],
               title=f"Referrals to {partner}: {queue.total}, {queue.overdue} overdue")


@referrals_app.command("move")
def move(referral_id: int, status: Annotated[str, typer.Argument(help="accepted, done or rejected.")],
         note: Annotated[str, typer.Option(help="Why, for the record.")] = "") -> None:
    """Move a referral on (it only moves forward); audited and announced to the partners concerned."""
    from hub.community.referrals import ReferralError, ReferralNotFound, move_referral

    try:
        moved = move_referral(open_hub(), referral_id, status, partner=None, note=note, actor=actor())
    except (ReferralError, ReferralNotFound) as exc:
        fail(str(exc))
    console.print(f"referral {moved['id']} is now {moved['status']}")
