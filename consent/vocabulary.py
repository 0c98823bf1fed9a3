"""The words of consent: purposes, recipients, lifecycle states and Thailand's PDPA lawful bases.

Purposes are extensible: a plugin adds its own through ``saphan_register_purposes``.
"""
from __future__ import annotations

import re

import pluggy

from hub.errors import HubError

hookimpl = pluggy.HookimplMarker("saphan")


class ConsentError(HubError):
    """A consent request that cannot be recorded as asked (unknown purpose, no steward, a minor...)."""


CORE_PURPOSES = {
    "community_planning": "the community plans with its own households' data (data return)",
    "welfare_referral": "referring a household to an agency's welfare programme",
    "education_support": "scholarships and support for poor students",
    "research_statistics": "research and statistics, with safeguards",
    "public_statistics": "published statistics (aggregates only)",
    "policy_planning": "provincial and national poverty-reduction planning (aggregates only)",
}

REQUESTED, GIVEN, REFUSED, WITHDRAWN, EXPIRED = "requested", "given", "refused", "withdrawn", "expired"
STATUSES = (REQUESTED, GIVEN, REFUSED, WITHDRAWN, EXPIRED)
#: Allowed moves of the lifecycle; ``expired`` is also what a ``given`` consent is after its expiry.
TRANSITIONS = {REQUESTED: {GIVEN, REFUSED}, GIVEN: {WITHDRAWN, EXPIRED}, REFUSED: {GIVEN}, WITHDRAWN: set(),
               EXPIRED: set()}

#: Lawful bases of the PDPA (sections 19, 24 and 26) a contract may rely on instead of consent.
BASES = {
    "consent": "the data subject's consent (s.19)",
    "research_statistics": "research or statistics with safeguards (s.24(1), s.26(5)(d))",
    "vital_interest": "preventing danger to life, body or health (s.24(2), s.26(1))",
    "contract": "performing a contract with the data subject (s.24(3))",
    "public_task": "a task in the public interest or official authority (s.24(4))",
    "legitimate_interest": "legitimate interest (s.24(5))",
    "legal_obligation": "a legal obligation, such as social protection (s.24(6), s.26(5)(c))",
}
#: Bases under which sensitive data (health, disability) may be processed without explicit consent,
#: when the contract says its basis covers it (PDPA s.26).
SENSITIVE_CAPABLE = {"research_statistics", "vital_interest", "public_task", "legal_obligation"}
#: Bases a data subject's objection stops (PDPA s.32).
OBJECTABLE = {"research_statistics", "public_task", "legitimate_interest"}

#: Kinds of partner a grant may name as recipient with ``type:<kind>``.
PARTNER_TYPES = ("agency", "university", "policy_unit", "ngo", "public")
COMMUNITY_RECIPIENT = "community"
_PARTNER = re.compile(r"^partner:[a-z][a-z0-9_]{0,63}$")


def check_recipient(token: str) -> str:
    """``community`` (the subject's own community stewards), ``partner:<id>`` or ``type:<partner type>``."""
    if token == COMMUNITY_RECIPIENT or _PARTNER.match(token):
        return token
    if token.startswith("type:") and token[5:] in PARTNER_TYPES:
        return token
    raise ConsentError(f"recipient {token!r}: expected community, partner:<id> or type:<{'|'.join(PARTNER_TYPES)}>")


def check_purposes(purposes: list[str], known: dict[str, str]) -> list[str]:
    if not purposes:
        raise ConsentError("name at least one purpose")
    unknown = sorted(set(purposes) - set(known))
    if unknown:
        raise ConsentError(f"unknown purpose(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return sorted(set(purposes))


@hookimpl
def saphan_register_purposes():
    return CORE_PURPOSES
