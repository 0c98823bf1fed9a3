"""The bottom-up loop: a community's stewards verify their households (:mod:`.verification`), and
households referred to agencies are tracked until closed (:mod:`.referrals`)."""
from __future__ import annotations

import datetime as dt

#: Where a referral stands; it only moves forward (pending -> accepted -> done / rejected).
REFERRAL_STATUSES = ("pending", "accepted", "done", "rejected")
CLOSED = ("done", "rejected")
#: Days after which a referral not yet done or rejected is overdue.
OVERDUE_DAYS = 60


def overdue(status: str, referred_on: dt.date, today: dt.date) -> bool:
    return status not in CLOSED and referred_on < overdue_before(today)


def overdue_before(today: dt.date) -> dt.date:
    """A referral not closed and made before this day is overdue on ``today``."""
    return today - dt.timedelta(days=OVERDUE_DAYS)
