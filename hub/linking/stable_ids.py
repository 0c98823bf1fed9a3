"""Stable person and household ids: a cluster keeps the oldest id among its records, so new data never
renumbers anyone (partners' pseudonyms derive from these ids).

Each record carries the id it had before the run (ingest gives a new record a fresh one). A cluster takes
the id its records held first (the earliest ingest run, then the earliest row); an id goes to one cluster
only, so when a cluster splits, the part with the id's oldest holder keeps it and the rest take their
next-oldest id or a fresh one. An id no cluster keeps is retired and redirected to the cluster that took
its oldest holder.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.ids import new_id


@dataclass
class IdAssignment:
    """``ids``: the id of each cluster (in the order given); ``retired``: retired id -> its successor."""

    ids: list[str]
    retired: dict[str, str]


def assign_ids(clusters: Sequence[Sequence[int]], held: Sequence[str],
               age: Sequence[tuple[int, int]]) -> IdAssignment:
    """Ids for ``clusters`` (lists of record indexes), given the id each record ``held`` and each record's
    ``age`` (created run, row id: smaller is older). Only ids that several clusters claim (a split) go
    through the greedy order one by one; a cluster whose oldest id nobody else claims simply keeps it."""
    oldest_by_cluster = []  # per cluster: held id -> age of its oldest holder in the cluster
    claimants: dict[str, int] = {}
    for members in clusters:
        oldest: dict[str, tuple[int, int]] = {}
        for i in members:
            if held[i] not in oldest or age[i] < oldest[held[i]]:
                oldest[held[i]] = age[i]
        oldest_by_cluster.append(oldest)
        for held_id in oldest:
            claimants[held_id] = claimants.get(held_id, 0) + 1
    ids: list[str | None] = [None] * len(clusters)
    first_claim: dict[str, int] = {}
    contested = []  # (age, id, cluster) of every claim on an id that several clusters hold
    for c, oldest in enumerate(oldest_by_cluster):
        best = min(oldest, key=oldest.__getitem__)
        if claimants[best] == 1:
            ids[c] = best
        for held_id, first in oldest.items():
            if claimants[held_id] == 1 and ids[c] is not None:
                first_claim[held_id] = c
            else:  # contested, or the cluster's own turn in the greedy order must see it
                contested.append((first, held_id, c))
    taken = {i for i in ids if i is not None}
    for _, held_id, c in sorted(contested):
        first_claim.setdefault(held_id, c)
        if ids[c] is None and held_id not in taken:
            ids[c] = held_id
            taken.add(held_id)
    final = [i if i is not None else new_id() for i in ids]
    retired = {held_id: final[c] for held_id, c in first_claim.items() if held_id not in taken}
    return IdAssignment(final, retired)
