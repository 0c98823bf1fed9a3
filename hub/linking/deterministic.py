"""The deterministic stage: records with the same valid citizen ID are one person, unless their sex and
birth year both disagree; and which IDs are one typo apart (for the probabilistic stage to weigh)."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from hub.linking.candidate_keys import VARIANT_BYTES
from hub.linking.records import KeyRow


@dataclass
class DeterministicLinks:
    """``groups``: record indexes per valid ID (two or more). ``conflicts``: (index in the group's
    majority, index split off) for records whose sex and birth year both disagree with their ID's
    majority; they are left out of the group and go to review."""

    groups: list[list[int]] = field(default_factory=list)
    conflicts: list[tuple[int, int]] = field(default_factory=list)


def _disagrees(row: KeyRow, sex: str | None, year: int | None) -> bool:
    return (row.sex is not None and sex is not None and row.sex != sex
            and row.birth_year is not None and year is not None and row.birth_year != year)


def link_by_id(rows: list[KeyRow]) -> DeterministicLinks:
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if row.valid_key is not None:
            by_key[row.valid_key].append(i)
    out = DeterministicLinks()
    for members in by_key.values():
        if len(members) < 2:
            continue
        sex, year = Counter((rows[i].sex, rows[i].birth_year) for i in members).most_common(1)[0][0]
        agree = [i for i in members if not _disagrees(rows[i], sex, year)]
        for i in members:
            if _disagrees(rows[i], sex, year):
                out.conflicts.append((agree[0], i))
        if len(agree) > 1:
            out.groups.append(agree)
    return out


def near_id_groups(rows: list[KeyRow]) -> list[int | None]:
    """For each record, a group number shared with the records whose ID is one edit from its own (through
    a shared deletion variant), or ``None`` when no other ID is that near. Vectorised: every variant of
    every distinct ID sorted once, neighbours in the sort order compared."""
    key_index: dict[bytes, int] = {}
    blobs: list[bytes] = []
    for row in rows:
        if row.any_key is not None and row.variants and row.any_key not in key_index:
            key_index[row.any_key] = len(key_index)
            blobs.append(row.variants)
    if not blobs:
        return [None] * len(rows)
    variants = np.frombuffer(b"".join(blobs), dtype=np.uint64)
    owners = np.repeat(np.arange(len(blobs)), [len(b) // VARIANT_BYTES for b in blobs])
    order = np.argsort(variants, kind="stable")
    variants, owners = variants[order], owners[order]
    same = (variants[1:] == variants[:-1]) & (owners[1:] != owners[:-1])
    parent: dict[int, int] = {}  # only the IDs with a near neighbour

    def find(k: int) -> int:
        root = k
        while parent.setdefault(root, root) != root:
            root = parent[root]
        parent[k] = root
        return root

    for a, b in zip(owners[:-1][same].tolist(), owners[1:][same].tolist()):
        parent[find(a)] = find(b)
    out: list[int | None] = []
    for row in rows:
        k = key_index.get(row.any_key) if row.any_key is not None else None
        out.append(find(k) if k in parent else None)
    return out
