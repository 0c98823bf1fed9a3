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

import numpy as np
import pandas as pd

from hub.ids import new_id


def assign_record_ids(group_of: np.ndarray, held: Sequence[str], runs: np.ndarray,
                      rows: np.ndarray) -> tuple[list[str], dict[str, str]]:
    """Each record's id under the module's rule, given its group (``group_of``: any integers, one per
    record), the id it ``held``, and its age (created run ``runs``, then row id ``rows``: smaller is
    older); and the retired ids with their successors. Only ids that several groups claim (a split) go
    through the greedy order one by one; a group whose oldest id nobody else claims simply keeps it."""
    groups, group_of = np.unique(group_of, return_inverse=True)
    claims = pd.DataFrame({"group": group_of, "held": np.asarray(held, dtype=object)})
    claims = claims.iloc[np.lexsort((rows, runs))]  # oldest first
    claims = claims[~claims.duplicated(["group", "held"])]  # each group's claim on an id: its oldest holder
    single = (claims.groupby("held", sort=False)["group"].transform("size") == 1).to_numpy()
    firsts = ~claims["group"].duplicated().to_numpy()  # each group's oldest id
    claim_groups, claim_ids = claims["group"].to_numpy(), claims["held"].to_numpy()
    ids: list[str | None] = [None] * len(groups)
    for group, held_id in zip(claim_groups[firsts & single].tolist(), claim_ids[firsts & single].tolist()):
        ids[group] = held_id
    settled = single & np.array([ids[g] is not None for g in claim_groups.tolist()], dtype=bool)
    first_claim = dict(zip(claim_ids[settled].tolist(), claim_groups[settled].tolist()))
    taken = {i for i in ids if i is not None}
    for held_id, group in zip(claim_ids[~settled].tolist(), claim_groups[~settled].tolist()):
        first_claim.setdefault(held_id, group)  # contested, or the group's own turn must see it: oldest first
        if ids[group] is None and held_id not in taken:
            ids[group] = held_id
            taken.add(held_id)
    final = [i if i is not None else new_id() for i in ids]
    retired = {held_id: final[g] for held_id, g in first_claim.items() if held_id not in taken}
    return [final[g] for g in group_of.tolist()], retired
