"""Verifications and referrals name households by their stable ids; when a link run retires an id (two
households found to be one), what named it follows to the id that replaced it."""
from __future__ import annotations

from sqlalchemy import Connection

from hub.db.bulk import update_from
from hub.db.schema import household_verifications, referrals


def follow_retired_households(conn: Connection, retired: dict[str, str]) -> None:
    """Rename household ids ``retired`` (old -> new) in verifications and referrals (the caller's
    transaction: the link run that retired them), one statement per table whatever their number."""
    if not retired:
        return
    renamed = [(new, old) for old, new in retired.items()]
    for table in (household_verifications, referrals):
        update_from(conn, table, ("household_id",), renamed, key="household_id")
