"""Whom a consent is about: a person (by linkage key, or by hub person id when they have no citizen
ID), a household (hub household id), or a community (a village ``TTTTTT-MM`` or a tambon ``TTTTTT``).

A subject is written as one string, its ``ref``: ``cid:<keyed citizen ID>``, ``pid:<person id>``,
``hid:<household id>``, or the area code. The citizen ID itself is never stored: only the same keyed
HMAC ingest writes as ``linkage_key``.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from consent.vocabulary import ConsentError
from hub.crypto import KeyedHasher
from hub.keys import Keyring
from hub.thai.areas import is_known_tambon
from hub.thai.citizen_id import IdStatus, parse_citizen_id

_HUB_ID = re.compile(r"^[0-9a-f]{32}$")
_COMMUNITY = re.compile(r"^(\d{6})(?:-(\d{2}))?$")


class Level(enum.IntEnum):
    """How specific a subject is; the most specific decision wins."""

    PERSON = 0
    HOUSEHOLD = 1
    VILLAGE = 2
    TAMBON = 3


@dataclass(frozen=True)
class Subject:
    kind: str  # person | household | community
    ref: str

    @property
    def level(self) -> Level:
        if self.kind == "person":
            return Level.PERSON
        if self.kind == "household":
            return Level.HOUSEHOLD
        return Level.VILLAGE if "-" in self.ref else Level.TAMBON

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


def cid_ref(linkage_key: bytes) -> str:
    """The ``cid:`` ref of a keyed citizen ID (a record's ``linkage_key``)."""
    return "cid:" + linkage_key.hex()


def citizen_ref(keyring: Keyring, raw: str) -> str:
    """The ``cid:`` ref of a citizen ID; a :class:`ConsentError` unless the ID is 13 digits with a valid
    check digit (a person at the desk shows their card)."""
    cid = parse_citizen_id(raw)
    if cid is None or cid.status is not IdStatus.VALID:
        raise ConsentError("citizen ID: expected 13 digits with a valid check digit")
    return cid_ref(KeyedHasher(keyring.derived("citizen-id"))(cid.digits))


def person(keyring: Keyring, *, citizen_id: str | None = None, person_id: str | None = None) -> Subject:
    """A person by citizen ID (preferred) or by hub person id (children without an ID)."""
    if (citizen_id is None) == (person_id is None):
        raise ConsentError("name the person by citizen ID or by person id (one of them)")
    if citizen_id is not None:
        return Subject("person", citizen_ref(keyring, citizen_id))
    return Subject("person", "pid:" + _hub_id(person_id, "person id"))


def household(household_id: str) -> Subject:
    return Subject("household", "hid:" + _hub_id(household_id, "household id"))


def community(code: str) -> Subject:
    """A village ``TTTTTT-MM`` (moo 01-99) or a tambon ``TTTTTT`` that geothai knows."""
    match = _COMMUNITY.match(code.strip())
    if not match:
        raise ConsentError(f"community {code!r}: expected a village TTTTTT-MM or a tambon TTTTTT")
    tambon, moo = match.groups()
    if moo is not None and not 1 <= int(moo) <= 99:
        raise ConsentError(f"community {code!r}: village number must be 01-99")
    if not is_known_tambon(tambon):
        raise ConsentError(f"community {code!r}: tambon {tambon} is not a known DOPA code")
    return Subject("community", code.strip())


def village_code(tambon: str, moo: int | None) -> str | None:
    """The community code of a village, ``None`` outside villages (municipal areas)."""
    return None if moo is None else f"{tambon}-{moo:02d}"


def contains(community_code: str, tambon: str, moo: int | None) -> bool:
    """True when the place (tambon, moo) lies in the community."""
    if "-" in community_code:
        return community_code == village_code(tambon, moo)
    return community_code == tambon


def _hub_id(value: str, what: str) -> str:
    value = value.strip().lower()
    if not _HUB_ID.match(value):
        raise ConsentError(f"{what}: expected 32 hexadecimal digits (as `hub export links` shows)")
    return value
