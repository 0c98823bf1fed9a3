"""Data minimisation at the door: a record keeps only the fields some contract lets the hub take from its
source (PDPA s.22). A field no contract allows is removed before anything is keyed, encrypted or stored,
and its name (never its value) is reported. A rejected row's raw text (kept, encrypted, in quarantine) loses
those fields too: from a JSON row they are cut out; a row that cannot be parsed is quarantined without its
text when its source yields fields no contract takes.

Where several partners provide one source (each university its own surveys, ``own_records``), a unit no
contract in force claims is not taken at all, and a partner's upload takes only its own units."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from contracts.model import SourceTerms, claimants
from hub.records import Household, Item, PersonRecord, Rejected, SourceRecord

_PERSON_IDENTITY = ("citizen_id", "title", "first_name", "last_name", "birth_date", "sex")
_HOUSEHOLD_ADDRESS = ("moo", "house_code", "house_no")


def _kept(values: dict, allowed: frozenset[str], refused: set[str]) -> dict:
    refused.update(k for k in values if k not in allowed)
    return {k: v for k, v in values.items() if k in allowed}


def _clear(obj, names: Iterable[str], allowed: frozenset[str], refused: set[str]) -> None:
    for name in names:
        if name not in allowed and getattr(obj, name) is not None:
            refused.add(name)
            setattr(obj, name, None)


def _person(person: PersonRecord, allowed: frozenset[str], refused: set[str]) -> None:
    _clear(person, _PERSON_IDENTITY, allowed, refused)
    person.attributes = _kept(person.attributes, allowed, refused)
    person.private = _kept(person.private, allowed, refused)
    linked = {f"{k}_citizen_id": v for k, v in person.linked_ids.items()}
    person.linked_ids = {k[: -len("_citizen_id")]: v for k, v in _kept(linked, allowed, refused).items()}


def _household(household: Household, allowed: frozenset[str], refused: set[str]) -> None:
    _clear(household, _HOUSEHOLD_ADDRESS, allowed, refused)
    household.attributes = _kept(household.attributes, allowed, refused)
    household.private = _kept(household.private, allowed, refused)


def _without(value: Any, names: frozenset[str], refused: set[str]) -> Any:
    if isinstance(value, dict):
        refused.update(k for k in value if k in names)
        return {k: _without(v, names, refused) for k, v in value.items() if k not in names}
    if isinstance(value, list):
        return [_without(v, names, refused) for v in value]
    return value


def _rejected(item: Rejected, withheld: frozenset[str], refused: set[str]) -> Rejected:
    """``item`` with the ``withheld`` fields cut from its raw text, or without its text when it is not JSON."""
    try:
        parsed = json.loads(item.raw)
        if isinstance(parsed, dict):
            return dataclasses.replace(item, raw=json.dumps(_without(parsed, withheld, refused), ensure_ascii=False))
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to walk
        pass
    return dataclasses.replace(item, raw="", reason=f"{item.reason} (raw text not kept: it may hold fields no "
                                                    "contract lets the hub take)")


def minimised(items: Iterable[Item], allowed: frozenset[str], refused: set[str], *,
              declared: frozenset[str]) -> Iterator[Item]:
    """``items`` with every field outside ``allowed`` removed (in place); the names removed go to ``refused``.
    ``declared``: every field the source's adapter can yield (what a rejected row's text may hold)."""
    withheld = declared - allowed
    for item in items:
        if isinstance(item, SourceRecord):
            _household(item.household, allowed, refused)
            for person in item.persons:
                _person(person, allowed, refused)
        elif isinstance(item, Rejected) and withheld:
            item = _rejected(item, withheld, refused)
        yield item


def claimed(items: Iterable[Item], owners: Mapping[str, SourceTerms], *, uploader: str | None) -> Iterator[Item]:
    """``items`` with each record no contract claims turned into a :class:`Rejected` row without its text
    (the hub may not keep it). ``owners``: partner id -> that partner's terms for the source, when its
    contracts mark their own records; ``uploader``: the partner whose upload this is (it may only bring
    its own), else ``None``."""
    for item in items:
        if isinstance(item, SourceRecord) and owners:
            attributes = item.household.attributes
            mine = claimants(owners, attributes)
            named = ", ".join(f"{k} = {attributes.get(k)!r}" for k in sorted({k for t in owners.values()
                                                                               for k in t.own_records or {}}))
            if not mine:
                item = Rejected(item.line, f"no data-sharing contract in force covers this partner's records "
                                           f"({named}); not taken", "")
            elif uploader is not None and uploader not in mine:
                item = Rejected(item.line, f"another partner's record ({named}): a partner uploads only its own; "
                                           "not taken", "")
        yield item
