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

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

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
    """The household group (an arbitrary int) of each record; ``person_of``: each record's person.
    Vectorised (pandas, numpy): a million records take seconds."""
    unit_index: dict[tuple, int] = {}
    unit_of = np.fromiter((unit_index.setdefault(_unit_of(row), len(unit_index)) for row in rows), dtype=np.int64,
                          count=len(rows))
    # each unit's people: its records' persons, and the guardians its EEF students named
    person_by_key = {row.valid_key: person_of[i] for i, row in enumerate(rows) if row.valid_key is not None}
    named = [(i, person_by_key.get(row.guardian_key, ("guardian", row.guardian_key)))
             for i, row in enumerate(rows) if row.guardian_key is not None]
    people = pd.DataFrame({
        "unit": np.concatenate([unit_of, unit_of[[i for i, _ in named]]]),
        "person": pd.factorize(pd.Series([*person_of, *(p for _, p in named)], dtype=object))[0],
    }).drop_duplicates()
    size = people.groupby("unit").size()
    shared = people.merge(people, on="person")
    shared = shared[shared["unit_x"] < shared["unit_y"]].groupby(["unit_x", "unit_y"]).size().reset_index(name="n")
    smaller = np.minimum(size.loc[shared["unit_x"]].to_numpy(), size.loc[shared["unit_y"]].to_numpy())
    joined = shared[2 * shared["n"].to_numpy() >= smaller]
    edges = [(joined["unit_x"].to_numpy(), joined["unit_y"].to_numpy())]
    # units at one house (keyed house code) or one village house number
    for place in ("house_key", "address_block"):
        at = [(unit_of[i], getattr(row, place)) for i, row in enumerate(rows) if getattr(row, place) is not None]
        if at:
            units = np.array([u for u, _ in at])
            codes = pd.factorize(pd.Series([p for _, p in at], dtype=object))[0]
            first = pd.Series(units).groupby(codes).transform("first").to_numpy()
            edges.append((units, first))
    label = components(len(unit_index), np.concatenate([a for a, _ in edges]), np.concatenate([b for _, b in edges]))
    return label[unit_of].tolist()


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The connected components of the graph on ``0..n-1`` with edges ``a[i]-b[i]``: each node's label is
    the smallest node of its component. Vectorised: roots hook onto the smaller label across each edge,
    then every node jumps to its root, until no edge joins two roots."""
    label = np.arange(n)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    while True:
        la, lb = label[a], label[b]
        if np.array_equal(la, lb):
            return label
        low = np.minimum(la, lb)
        np.minimum.at(label, la, low)
        np.minimum.at(label, lb, low)
        while not np.array_equal(jumped := label[label], label):
            label = jumped
