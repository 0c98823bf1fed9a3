"""Clusters of records that are one person: a union-find that refuses the merges linking must not make.

A merge is refused when it would put two records that people decided are different into one cluster,
or join two clusters that each hold a different valid citizen ID (unless the edge itself says the two
IDs are one typo apart and both sides hold exactly one ID). The refusal's reason goes to review.
"""
from __future__ import annotations

from collections.abc import Iterable

DIFFERENT_IDS = "different_ids"
DECIDED_DIFFERENT = "decided_different"


class Clusters:
    """Union-find over record indexes ``0..n-1`` with each cluster's members and valid IDs."""

    def __init__(self, n: int, valid_keys: list[bytes | None]):
        self._parent = list(range(n))
        self._members: dict[int, list[int]] = {}
        self._keys: dict[int, set[bytes]] = {i: {k} for i, k in enumerate(valid_keys) if k is not None}
        self._apart: dict[int, set[int]] = {}

    def keep_apart(self, a: int, b: int) -> None:
        """Records ``a`` and ``b`` must never share a cluster (a decision someone made)."""
        self._apart.setdefault(a, set()).add(b)
        self._apart.setdefault(b, set()).add(a)

    def find(self, i: int) -> int:
        parent = self._parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def members(self, root: int) -> list[int]:
        return self._members.get(root, [root])

    def refusal(self, a: int, b: int, *, one_edit_ids: bool = False, check_ids: bool = True) -> str | None:
        """Why ``a``'s and ``b``'s clusters must not merge, or ``None`` when they may (or already are one).
        ``check_ids=False`` only asks about people's decisions (to restore what an earlier run joined)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        keys_a, keys_b = self._keys.get(ra), self._keys.get(rb)
        if check_ids and keys_a and keys_b and keys_a != keys_b \
                and not (one_edit_ids and len(keys_a) == len(keys_b) == 1):
            return DIFFERENT_IDS
        if not self._apart:
            return None
        small, other = (ra, rb) if len(self.members(ra)) <= len(self.members(rb)) else (rb, ra)
        for x in self.members(small):
            if any(self.find(y) == other for y in self._apart.get(x, ())):
                return DECIDED_DIFFERENT
        return None

    def union(self, a: int, b: int) -> None:
        """Merge unconditionally (callers check :meth:`refusal` first where it matters)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if len(self.members(ra)) < len(self.members(rb)):
            ra, rb = rb, ra
        self._parent[rb] = ra
        members = self._members.pop(ra, None) or [ra]
        members.extend(self._members.pop(rb, None) or [rb])  # the smaller cluster's
        self._members[ra] = members
        keys = self._keys.pop(rb, None)
        if keys:
            self._keys.setdefault(ra, set()).update(keys)

    def union_all(self, groups: Iterable[Iterable[int]]) -> None:
        for group in groups:
            first = None
            for i in group:
                if first is None:
                    first = i
                else:
                    self.union(first, i)

    def roots(self) -> list[int]:
        """The cluster of every record, as its root index."""
        return [self.find(i) for i in range(len(self._parent))]
