"""Which households a community's stewards may act on: those their data-return page shows them (living in
their village or tambon, every member's data-return consent holding). Any other household id gets the
same answer as one that does not exist."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection

from consent.data_return import shown_households
from consent.stewards import active_steward
from hub.errors import HubError


class HouseholdNotShown(HubError):
    """The household is not one this community's stewards see (or does not exist: the same answer)."""


def visible_households(conn: Connection, community_code: str, steward_id: int,
                       at: dt.datetime) -> tuple[pd.DataFrame, set[str]]:
    """The records of the households living in ``community_code``, and those of them active steward
    ``steward_id`` sees at ``at`` (:class:`consent.vocabulary.ConsentError` for a steward who is not one)."""
    active_steward(conn, steward_id, community_code, may_cover=True)
    inside, shown, _ = shown_households(conn, community_code, at)
    return inside, shown


def community_household(conn: Connection, community_code: str, steward_id: int, household_id: str,
                        at: dt.datetime) -> pd.DataFrame:
    """The records (``person_id``, ``tambon``, ``moo``...) of ``household_id`` when active steward
    ``steward_id`` of ``community_code`` sees it at ``at``; :class:`HouseholdNotShown` otherwise."""
    inside, shown = visible_households(conn, community_code, steward_id, at)
    if household_id not in shown:
        raise HouseholdNotShown(f"no household {household_id} among those your community sees")
    return inside[inside["household_id"] == household_id]
