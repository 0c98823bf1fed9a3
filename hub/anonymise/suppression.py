"""Cell suppression for published tables of area statistics (nation > province > amphoe > tambon > village).

Every count is additive along the hierarchy (a parent's cell is the sum of its children's cells, per column)
and some column groups are partitions within a row (``households == seen_by_1 + ... + seen_by_4``). A cell
with ``0 < v < threshold`` is suppressed (primary); zeros are published, they describe an empty cell, not a
person. Complements (secondary suppressions) are then added until no suppressed cell can be pinned.

The attacker knows every visible cell, every relation (each parent with its children per column, each
partition per row), that values are whole numbers ``>= 0`` and that a suppressed cell is never 0. A
suppressed cell is *protected* when a second table, agreeing with everything the attacker knows, differs
from the true one in that cell.

Why a rule per relation is not enough. ``k >= 2`` suppressed cells in every relation, and even "their sum
``S >= k + 1``" (some suppressed cell is at least 2, so one unit can move between two of them), is exact
for one family of leaves but not for the table as a whole: bounds travel between relations. A tambon of 2
whose suppressed villages are 1 and 1 is at least 2 in the attacker's eyes; if its amphoe family is
``{tambon: 2, other tambon: 1}`` with the amphoe visible (3), both tambons are pinned although each
relation alone looks fine. Partitions make the table two-dimensional, and there a cycle of six suppressed
cells over three rows and three columns, every row and column holding a 1 and a 2, is pinned too
(``tests/test_suppression.py`` shows both to an exact attacker).

The rule used: every suppressed cell must lie on a *certificate*, a change ``d`` of the suppressed cells
that keeps every relation and keeps every cell ``>= 1`` (the cells ``d`` lowers by one are ``>= 2``). Then
``true + d`` is a second table the attacker cannot tell from the true one, so every cell in the
certificate is protected, whatever else is suppressed (suppressing more only adds unknowns). Certificates
are products ``d[row, column] = u[row] * w[column]``:

- ``u`` (+1/-1 per row) keeps every parent/children relation: a path that climbs from a leaf through
  ancestors of one sign, crosses to a sibling and descends to a leaf with the other sign; or a path from a
  root (whose cell nothing constrains from above) down to a leaf with one sign;
- ``w`` (+1/-1 per column) keeps every partition: a column outside partitions alone, two parts of a
  partition with opposite signs, a total with one of its parts; in general every smallest +1/-1 solution
  of the partition equations, found by enumeration once per call.

Since ``u`` balances every hierarchy relation for each column and ``w`` every partition for each row, the
product balances all of them. With one column and no partitions these paths are all the certificates
there are (the column is a flow network; any second table decomposes into such paths), so there the audit
is exact; with partitions it is sufficient, not necessary, and may over-suppress a little.

The algorithm: for every column move ``w`` and sign, a dynamic programme over the tree (bottom-up: the
cheapest path down from each row; top-down: the cheapest way to close the path above it) gives, for every
cell, the cheapest certificate through it, its cost being the sum of the values it would newly suppress
(0 when it is already all suppressed). A suppressed cell of cost 0 is certified. Every uncertified cell gets
its cheapest certificate suppressed (ties: the + sign, the sibling over the parent, the first move, the
first row in code order, so the result depends on the data alone); then all cells are audited again,
until every suppressed cell is certified (two rounds in practice: a cell of an added certificate is
certified by it). Within one family this is the familiar "smallest non-zero visible sibling as the
complement"; the parent joins only when it is hidden already or no sibling will do, and then the path goes on
into the parent's own family. Zeros never join a certificate.

Speed (numpy per tree level, one pass per column move and sign): about 0.7 s for 58,112 rows (50,000 synthetic
villages with their 7,142 tambons, 892 amphoes, 77 provinces and the nation) x 20 columns in five
partitions, 12.1% of cells primary, 5.2% secondary; 1.5 s for twice the rows. Choosing the certificates
one column at a time instead of all at once saved only 2.5% of the secondaries, for nine times the time.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SMALL_VILLAGES = "other"
_VILLAGE = re.compile(r"^(\d{6})-\d{2}$")
_MAX_MOVE_SIZE = 6  # columns in one column move; partitions needing more are refused
_MAX_SUPPORTS = 20_000  # column sets tried per move size
_MAX_ROUNDS = 8  # audit/repair rounds; two suffice (see the module docstring)
_PLUS, _MINUS = 0, 1  # row sign of a certificate path, as an array index


# ------------------------------------------------------------------------------------------------ villages


def village_groups(households: pd.Series, *, threshold: int) -> dict[str, str]:
    """Published cell code for each village: itself when it has ``>= threshold`` households, otherwise
    ``"TTTTTT-other"``, the small villages of tambon ``TTTTTT`` together. A group still below
    ``threshold`` takes in the tambon's smallest remaining villages (ties by code) until it reaches it or
    holds every village of the tambon. Index: village codes ``"TTTTTT-MM"``; values: household counts."""
    _check_threshold(threshold)
    if not households.index.is_unique:
        raise ValueError("village codes must be unique")
    codes = households.index.astype(str)
    tambons = pd.Series(codes.str.extract(_VILLAGE, expand=False))
    if tambons.isna().any():
        raise ValueError(f"not a village code TTTTTT-MM: {list(codes[tambons.isna().to_numpy()][:5])}")
    counts = _whole_numbers(households, "households")
    frame = pd.DataFrame({"code": codes, "tambon": tambons.to_numpy(), "households": counts})
    frame = frame.sort_values(["tambon", "households", "code"])
    small = frame["households"] < threshold
    # The group is the shortest prefix, in (households, code) order, holding every small village and reaching
    # the threshold: a village joins while the villages before it still fall short.
    before = frame.groupby("tambon")["households"].cumsum() - frame["households"]
    has_small = small.groupby(frame["tambon"]).transform("any")
    grouped = has_small & (small | (before < threshold))
    cell = np.where(grouped, frame["tambon"] + "-" + SMALL_VILLAGES, frame["code"])
    published = dict(zip(frame["code"], cell))
    return {code: published[code] for code in codes}


# ------------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class SuppressionReport:
    """What :func:`protect` did: count cells examined, primary ones (``0 < v < threshold``) and the
    secondary ones suppressed so that no suppressed cell can be recovered."""

    threshold: int
    cells: int
    primary: int
    secondary: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Level:
    """The rows of one depth, grouped into families (code order inside a family)."""

    rows: np.ndarray  # row numbers, family after family
    starts: np.ndarray  # where each family begins in ``rows``
    parents: np.ndarray  # the parent row of each family
    family: np.ndarray  # family number of each entry of ``rows``


@dataclass(frozen=True)
class _Tree:
    parent: np.ndarray  # parent row, -1 for a root
    leaf: np.ndarray  # True: no children in the table
    roots: np.ndarray
    levels: list[_Level]  # depth 1, 2, ... (roots have depth 0)


@dataclass(frozen=True)
class _Move:
    """A column move ``w``: these columns change by these signs and every partition still holds."""

    columns: np.ndarray
    signs: np.ndarray


def _check_threshold(threshold: int) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer) or threshold < 1:
        raise ValueError(f"threshold must be a whole number >= 1, got {threshold!r}")


def _whole_numbers(values: pd.Series, name: str) -> np.ndarray:
    if not pd.api.types.is_integer_dtype(values.dtype) or isinstance(values.dtype, pd.BooleanDtype):
        raise ValueError(f"{name}: expected whole-number counts, got dtype {values.dtype}")
    if values.isna().any():
        raise ValueError(f"{name}: has missing values")
    array = values.to_numpy(dtype=np.int64)
    if (array < 0).any():
        raise ValueError(f"{name}: counts cannot be negative")
    return array


def _build_tree(codes: np.ndarray, parents: pd.Series) -> _Tree:
    """Rows must already be in code order; ``parents`` holds each row's parent code (missing for a root)."""
    is_root = parents.isna().to_numpy()
    parent = np.full(codes.size, -1, dtype=np.int64)
    found = pd.Index(codes).get_indexer(parents[~is_root].astype(str).to_numpy())
    if (found < 0).any():
        missing = parents[~is_root].to_numpy()[found < 0]
        raise ValueError(f"parent codes not in the table: {sorted(set(map(str, missing)))[:5]}")
    parent[~is_root] = found
    depth = _depths(parent, codes)
    levels = [_level(np.flatnonzero(depth == d), parent) for d in range(1, int(depth.max(initial=0)) + 1)]
    leaf = np.bincount(parent[parent >= 0], minlength=codes.size) == 0
    return _Tree(parent=parent, leaf=leaf, roots=np.flatnonzero(is_root), levels=levels)


def _depths(parent: np.ndarray, codes: np.ndarray) -> np.ndarray:
    depth = np.zeros(parent.size, dtype=np.int64)
    above = parent.copy()
    for _ in range(parent.size + 1):
        climbing = above >= 0
        if not climbing.any():
            return depth
        depth[climbing] += 1
        above[climbing] = parent[above[climbing]]
    raise ValueError(f"the parent links form a cycle (through {codes[above >= 0][:5].tolist()})")


def _level(rows: np.ndarray, parent: np.ndarray) -> _Level:
    rows = rows[np.argsort(parent[rows], kind="stable")]
    new_family = np.r_[True, parent[rows][1:] != parent[rows][:-1]]
    starts = np.flatnonzero(new_family)
    return _Level(rows=rows, starts=starts, parents=parent[rows[starts]], family=np.cumsum(new_family) - 1)


def _check_hierarchy(values: np.ndarray, tree: _Tree, counts: list[str], codes: np.ndarray) -> None:
    children = np.flatnonzero(tree.parent >= 0)
    sums = np.zeros_like(values)
    np.add.at(sums, tree.parent[children], values[children])
    wrong = ~tree.leaf & (sums != values).any(axis=1)
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        column = counts[int(np.flatnonzero(sums[row] != values[row])[0])]
        raise ValueError(f"{column}: {codes[row]} is {values[row].tolist()} but its children sum to "
                         f"{sums[row].tolist()} ({int(wrong.sum())} parents differ); counts must be additive")


def _partition_columns(partitions: Sequence[tuple[str, Sequence[str]]],
                       counts: list[str]) -> list[tuple[int, list[int]]]:
    position = {name: i for i, name in enumerate(counts)}
    out = []
    for total, parts in partitions:
        names = [total, *parts]
        if not parts or len(set(names)) != len(names):
            raise ValueError(f"partition {total!r} = {list(parts)!r}: needs parts, each named once, not the total")
        absent = [name for name in names if name not in position]
        if absent:
            raise ValueError(f"partition {total!r}: columns not in counts: {absent}")
        out.append((position[total], [position[part] for part in parts]))
    return out


def _check_partitions(values: np.ndarray, partitions: list[tuple[int, list[int]]], counts: list[str],
                      codes: np.ndarray) -> None:
    for total, parts in partitions:
        wrong = values[:, total] != values[:, parts].sum(axis=1)
        if wrong.any():
            raise ValueError(f"{counts[total]} != {' + '.join(counts[p] for p in parts)} in "
                             f"{int(wrong.sum())} rows, e.g. {codes[wrong][:3].tolist()}")


# ----------------------------------------------------------------------------------------- column moves


def _column_moves(width: int, partitions: list[tuple[int, list[int]]]) -> list[_Move]:
    """Every smallest +1/-1 change of the columns that keeps every partition (one sign per move)."""
    equations = np.zeros((len(partitions), width), dtype=np.int64)
    for i, (total, parts) in enumerate(partitions):
        equations[i, total], equations[i, parts] = 1, -1
    moves = [_Move(np.array([c]), np.array([1])) for c in range(width) if not equations[:, c].any()]
    for component in _components(equations):
        found = _smallest_moves(equations[:, component][equations[:, component].any(axis=1)])
        covered = {c for columns, _ in found for c in columns}
        if len(covered) < len(component):
            lost = [int(component[c]) for c in range(len(component)) if c not in covered]
            raise ValueError(f"partitions too entangled: no change of <= {_MAX_MOVE_SIZE} columns moves "
                             f"column(s) {lost} and keeps every partition")
        moves += [_Move(component[list(columns)], np.array(signs)) for columns, signs in found]
    return moves


def _components(equations: np.ndarray) -> list[np.ndarray]:
    """Groups of columns linked through shared partitions."""
    group = np.arange(equations.shape[1])
    for row in equations:
        members = np.flatnonzero(row)
        group[np.isin(group, group[members])] = group[members].min()
    linked = equations.any(axis=0)
    return [np.flatnonzero(linked & (group == g)) for g in np.unique(group[linked])]


def _smallest_moves(equations: np.ndarray) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    width = equations.shape[1]
    found: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    positive: set[int] = set()  # columns in an all-+1 move: a path up to a root with it needs no cell >= 2
    for size in range(2, min(width, _MAX_MOVE_SIZE) + 1):
        if math.comb(width, size) > _MAX_SUPPORTS:
            break
        for columns in itertools.combinations(range(width), size):
            if any(set(c) <= set(columns) for c, _ in found):
                continue  # not smallest
            for tail in itertools.product((1, -1), repeat=size - 1):
                signs = (1, *tail)
                if not (equations[:, columns] @ np.array(signs)).any():
                    found.append((columns, signs))
                    if min(signs) > 0:
                        positive.update(columns)
                    break  # the other signs of these columns are not smaller
        if len(positive) == width:
            break
    return found


# ------------------------------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class _Paths:
    """Cheapest certificate paths for one column move, per row sign (axis 0: ``_PLUS``, ``_MINUS``)."""

    down: np.ndarray  # cost of the cheapest path from the row down to a leaf, the row included
    child: np.ndarray  # the child that path takes
    up: np.ndarray  # cost of the cheapest way to close the certificate above the row
    via_sibling: np.ndarray  # True: closed by a sibling (of opposite sign); False: continues to the parent
    sibling: np.ndarray  # that sibling

    @property
    def through(self) -> np.ndarray:
        return self.down + self.up


def _row_costs(values: np.ndarray, suppressed: np.ndarray, move: _Move) -> np.ndarray:
    """Cost of putting each row into a certificate of this move, per row sign: the values it newly suppresses;
    infinite when a cell is 0 or would drop to 0."""
    cells = values[:, move.columns]
    added = np.where(suppressed[:, move.columns], 0, cells).sum(axis=1).astype(np.float64)
    usable = (cells >= 1).all(axis=1)
    lowered_ok = [(cells[:, move.signs * sign < 0] >= 2).all(axis=1) for sign in (1, -1)]
    return np.stack([np.where(usable & ok, added, np.inf) for ok in lowered_ok])


def _family_min(values: np.ndarray, level: _Level) -> tuple[np.ndarray, np.ndarray]:
    """Smallest value in each family and the position (in ``level.rows``) of the first row holding it."""
    smallest = np.minimum.reduceat(values, level.starts)
    positions = np.where(values == smallest[level.family], np.arange(values.size), values.size)
    return smallest, np.minimum.reduceat(positions, level.starts)


def _closest_sibling(down: np.ndarray, level: _Level) -> tuple[np.ndarray, np.ndarray]:
    """For each row of the level: the cheapest ``down`` among its siblings (itself excluded), and that sibling."""
    values = down[level.rows]
    best, first = _family_min(values, level)
    without = values.copy()
    without[first] = np.inf
    second, second_at = _family_min(without, level)
    is_first = np.arange(values.size) == first[level.family]
    cost = np.where(is_first, second[level.family], best[level.family])
    sibling = level.rows[np.where(is_first, second_at[level.family], first[level.family])]
    return cost, sibling


def _paths(tree: _Tree, cost: np.ndarray) -> _Paths:
    down, child = cost.copy(), np.full(cost.shape, -1, dtype=np.int64)
    for level in reversed(tree.levels):  # children before parents
        for sign in (_PLUS, _MINUS):
            smallest, first = _family_min(down[sign, level.rows], level)
            down[sign, level.parents] = cost[sign, level.parents] + smallest
            child[sign, level.parents] = level.rows[first]
    up = np.full(cost.shape, np.inf)
    up[:, tree.roots] = 0.0  # a root's cell is constrained from above by nothing: the path may end there
    via_sibling, sibling = np.zeros(cost.shape, dtype=bool), np.full(cost.shape, -1, dtype=np.int64)
    for level in tree.levels:  # parents before children
        parents = tree.parent[level.rows]
        for sign in (_PLUS, _MINUS):
            across, other = _closest_sibling(down[1 - sign], level)
            above = cost[sign, parents] + up[sign, parents]
            take = across <= above
            up[sign, level.rows] = np.where(take, across, above)
            via_sibling[sign, level.rows], sibling[sign, level.rows] = take, other
    return _Paths(down=down, child=child, up=up, via_sibling=via_sibling, sibling=sibling)


def _cheapest_certificates(values: np.ndarray, suppressed: np.ndarray, tree: _Tree,
                           moves: list[_Move]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: the cost of its cheapest certificate (0: the cell is protected as things stand), the move
    and the row sign it uses. Only cells that are suppressed and not yet certified are looked into."""
    best = np.full(values.shape, np.inf, order="F")  # column by column below: keep columns contiguous
    move_of = np.full(values.shape, -1, dtype=np.int64, order="F")
    sign_of = np.zeros(values.shape, dtype=np.int64, order="F")
    for number, move in enumerate(moves):
        if not (suppressed[:, move.columns] & (best[:, move.columns] > 0)).any():
            continue
        through = _paths(tree, _row_costs(values, suppressed, move)).through
        sign = (through[_MINUS] < through[_PLUS]).astype(np.int64)
        cost = np.minimum(through[_PLUS], through[_MINUS])
        for column in move.columns:
            better = cost < best[:, column]
            best[better, column], move_of[better, column], sign_of[better, column] = cost[better], number, sign[better]
    return best, move_of, sign_of


def _path_down(tree: _Tree, child: np.ndarray, rows: np.ndarray) -> list[np.ndarray]:
    out = []
    while rows.size:
        out.append(rows)
        rows = np.unique(child[rows[~tree.leaf[rows]]])
    return out


def _certificate_rows(tree: _Tree, paths: _Paths, rows: np.ndarray, sign: int) -> np.ndarray:
    """The rows of the cheapest certificates through ``rows`` (with row sign ``sign``)."""
    out = _path_down(tree, paths.child[sign], rows)
    while rows.size:
        across = paths.via_sibling[sign, rows]
        out += _path_down(tree, paths.child[1 - sign], np.unique(paths.sibling[sign, rows[across]]))
        parents = tree.parent[rows[~across]]
        rows = np.unique(parents[parents >= 0])
        out.append(rows)
    return np.unique(np.concatenate(out))


def _add_certificates(values: np.ndarray, suppressed: np.ndarray, tree: _Tree, moves: list[_Move],
                      pending: np.ndarray, move_of: np.ndarray, sign_of: np.ndarray) -> np.ndarray:
    """``suppressed`` plus the cheapest certificate of every pending cell (all chosen against the same state)."""
    out = suppressed.copy()
    rows, columns = np.nonzero(pending)
    keys = move_of[rows, columns] * 2 + sign_of[rows, columns]
    for key in np.unique(keys):
        number, sign = divmod(int(key), 2)
        move = moves[number]
        paths = _paths(tree, _row_costs(values, suppressed, move))
        chosen = _certificate_rows(tree, paths, np.unique(rows[keys == key]), sign)
        out[np.ix_(chosen, move.columns)] = True
    return out


# -------------------------------------------------------------------------------------------------- protect


def protect(table: pd.DataFrame, *, counts: list[str], partitions: Sequence[tuple[str, Sequence[str]]] = (),
            threshold: int = 5, forced: pd.DataFrame | None = None) -> tuple[pd.DataFrame, SuppressionReport]:
    """Which cells of ``table`` to suppress, and a report.

    ``table``: index = area code (unique); column ``parent`` = the parent's code (missing for a root); the
    whole-number, non-negative columns named in ``counts``, each additive over parent and children; each
    ``(total, parts)`` in ``partitions`` holds in every row. ValueError when any of this is not so.

    Returns a boolean frame (same index and order, columns ``counts``; True = suppress) in which every cell
    with ``0 < v < threshold`` is suppressed, no zero is, and no suppressed cell can be pinned to one value
    by an attacker who knows the visible cells, every relation, that values are whole numbers and that a
    suppressed cell is never 0 (the module docstring gives the rule and why it holds). Deterministic: the
    result depends on the codes and values, not on row order.

    ``forced`` (same index, columns ``counts``; True = must be suppressed) adds cells the caller hides for
    its own reasons, protected like primary ones; forced zeros stay published (a zero is never suppressed).
    """
    _check_threshold(threshold)
    counts = list(counts)
    order, codes, values, tree = _read_table(table, counts)
    moves = _column_moves(len(counts), _checked_partitions(values, partitions, counts, codes))
    primary = (values > 0) & (values < threshold)
    start = primary.copy()
    if forced is not None:
        start |= forced.loc[table.index, counts].to_numpy(dtype=bool)[order] & (values > 0)
    suppressed = _complete(values, start, tree, moves, codes, counts)
    mask = np.empty_like(suppressed)
    mask[order] = suppressed
    report = SuppressionReport(threshold=int(threshold), cells=int(values.size), primary=int(primary.sum()),
                               secondary=int(suppressed.sum() - primary.sum()))
    return pd.DataFrame(mask, index=table.index, columns=counts), report


def _read_table(table: pd.DataFrame, counts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Tree]:
    """Rows in code order: (that order, the codes, the counts as an int64 matrix, the tree), all checked."""
    if not counts or len(set(counts)) != len(counts):
        raise ValueError(f"counts must name columns, each once: {counts!r}")
    absent = [name for name in ["parent", *counts] if name not in table.columns]
    if absent:
        raise ValueError(f"columns not in the table: {absent}")
    if not table.index.is_unique:
        raise ValueError("area codes (the index) must be unique")
    codes = table.index.astype(str).to_numpy()
    order = np.argsort(codes, kind="stable")
    ordered = table.iloc[order]
    values = np.column_stack([_whole_numbers(ordered[name], name) for name in counts])
    tree = _build_tree(codes[order], ordered["parent"])
    _check_hierarchy(values, tree, counts, codes[order])
    return order, codes[order], values, tree


def _checked_partitions(values: np.ndarray, partitions: Sequence[tuple[str, Sequence[str]]], counts: list[str],
                        codes: np.ndarray) -> list[tuple[int, list[int]]]:
    columns = _partition_columns(partitions, counts)
    _check_partitions(values, columns, counts, codes)
    return columns


def _complete(values: np.ndarray, start: np.ndarray, tree: _Tree, moves: list[_Move], codes: np.ndarray,
              counts: list[str]) -> np.ndarray:
    """Audit and repair until every suppressed cell lies on a certificate."""
    suppressed = start.copy()
    for _ in range(_MAX_ROUNDS):
        cost, move_of, sign_of = _cheapest_certificates(values, suppressed, tree, moves)
        pending = suppressed & (cost > 0)
        if not pending.any():
            return suppressed
        if np.isinf(cost[pending]).any():
            row, column = (int(i[0]) for i in np.nonzero(pending & np.isinf(cost)))
            raise ValueError(f"cell {codes[row]}/{counts[column]} cannot be protected with these partitions")
        suppressed = _add_certificates(values, suppressed, tree, moves, pending, move_of, sign_of)
    raise RuntimeError("suppression did not settle; this is a bug")
