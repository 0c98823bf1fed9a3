"""Households: records grouped into one household across sources.

A record belongs to a *unit*: its source household (logbook case, survey visit), else the house it is
registered at (the TPMAP household context: keyed house code, or keyed village and house number when the
code was left blank), else itself. A unit's people are its records' persons (as linked) and, for an EEF
student, the guardian the school named (by keyed citizen ID, whether or not any source holds a record of
the guardian). Two units are one household when they share a house code or house number, or when at
least half of the smaller unit's people are in the other: a household that moved is still one household,
while a grown child who set up a home elsewhere is not.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

from hub.linking.records import KeyRow


def _unit_of(row: KeyRow) -> tuple:
    if row.household_ref is not None:
        return ("unit", row.source, row.household_ref)
    if row.house_key is not None:
        return ("house", row.house_key)
    if row.address_block is not None:
        return ("address", row.address_block)
    return ("own", row.pk)


def group_households(rows: Sequence[KeyRow], person_of: Sequence[Hashable]) -> list[int]:
    """The household group (an arbitrary int) of each record; ``person_of``: each record's person."""
    unit_index: dict[tuple, int] = {}
    unit_of = [unit_index.setdefault(_unit_of(row), len(unit_index)) for row in rows]
    parent = list(range(len(unit_index)))

    def find(u: int) -> int:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    def join(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    people: dict[int, set[Hashable]] = defaultdict(set)
    places: dict[tuple, int] = {}
    person_by_key = {row.valid_key: person_of[i] for i, row in enumerate(rows) if row.valid_key is not None}
    for i, row in enumerate(rows):
        unit = unit_of[i]
        people[unit].add(person_of[i])
        if row.guardian_key is not None:
            people[unit].add(person_by_key.get(row.guardian_key, ("guardian", row.guardian_key)))
        if row.house_key is not None:
            join(unit, places.setdefault(("house", row.house_key), unit))
        if row.address_block is not None:
            join(unit, places.setdefault(("address", row.address_block), unit))

    units_of_person: dict[Hashable, list[int]] = defaultdict(list)
    for unit, persons in people.items():
        for person in persons:
            units_of_person[person].append(unit)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for units in units_of_person.values():
        for x in range(len(units)):
            for y in range(x + 1, len(units)):
                shared[min(units[x], units[y]), max(units[x], units[y])] += 1
    for (a, b), overlap in shared.items():
        if 2 * overlap >= min(len(people[a]), len(people[b])):
            join(a, b)
    return [find(u) for u in unit_of]
