"""What a partner may subscribe to, and which fields a notification may carry: the vocabulary of a
contract's ``[notify]`` section. Pure data and checks, importable by :mod:`contracts.model`.

A notification names its household by the partner's own pseudonym (added by the outbox, never a field
here), so no field below may identify a person: each holds a status, a code or a date."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Event kinds by name, with what each announces.
EVENT_KINDS: dict[str, str] = {
    "household.verified": "a household's situation was verified in the field by its community (poor, not poor, "
                          "moved, deceased)",
    "household.corrected": "a community asked for a member's identity to be corrected (held for review): "
                           "which fields, never the values",
    "referral.created": "a household was referred to an agency for a need",
    "referral.changed": "a referral's status changed (accepted, in progress, closed...)",
    "consent.withdrawn": "a consent covering a household the partner holds data of was withdrawn: stop using "
                         "it for those purposes",
}

_CODE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


def _code(value: Any) -> bool:
    return isinstance(value, str) and bool(_CODE.match(value))


def _codes(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= 32 and all(_code(v) for v in value)


def _tambon(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 6 and value.isdigit()


def _day(value: Any) -> bool:
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return len(value) == 10


def _reference(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or \
        (isinstance(value, str) and bool(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value)))


@dataclass(frozen=True)
class NotifyField:
    """A field a notification may carry: what it holds, and the check its value must pass."""

    doc: str
    valid: Callable[[Any], bool]


#: Fields by name. A contract's ``[notify] fields`` lists those its partner receives; the rest are left out.
FIELDS: dict[str, NotifyField] = {
    "status": NotifyField("the new status (verification, referral or consent), a lower-case code", _code),
    "previous_status": NotifyField("the status before the change, a lower-case code", _code),
    "area": NotifyField("the household's tambon, its 6-digit code (never the village)", _tambon),
    "need": NotifyField("what a referral is for, a lower-case code (e.g. disability_allowance)", _code),
    "agency": NotifyField("the agency a referral goes to, its partner id", _code),
    "referral": NotifyField("the referral's id in the hub", _reference),
    "purposes": NotifyField("the purposes a withdrawn consent covered, lower-case codes", _codes),
    "corrected_fields": NotifyField("the names of the fields a correction changed (never their values)", _codes),
    "decided_on": NotifyField("the day of the decision or change, YYYY-MM-DD (Christian era)", _day),
}


def admissible(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the values their field does not admit (none, or a survey's free text where a code
    goes): for callers passing on what someone else wrote. :func:`hub.notify.outbox.notify` refuses such a
    value as a programming error."""
    return {name: value for name, value in data.items() if FIELDS[name].valid(value)}
