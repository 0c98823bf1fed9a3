"""Cell suppression of area tables: what is hidden, and that an attacker holding every relation of the table
at once cannot pin a hidden cell. The attacker here is exact and independent of the module: it searches for
a second whole-number table (hidden cells >= 1, visible cells as published) that keeps every relation and
differs in the cell, and every table it finds is checked against the relations again from scratch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.anonymise.suppression import SMALL_VILLAGES, SuppressionReport, protect, village_groups

SEEN_BY = ("seen_by_1", "seen_by_2", "seen_by_3")
PARTITION = [("households", SEEN_BY)]

# ------------------------------------------------------------------------------------------- table making


def area_table(leaves: dict[str, dict[str, int]], parents: dict[str, str | None]) -> pd.DataFrame:
    """A table from leaf values and parent links; every other row is the sum of its children."""
    columns = sorted({column for row in leaves.values() for column in row})
    values = {code: dict(row) for code, row in leaves.items()}
    depth = {code: _depth(code, parents) for code in parents}
    for code in sorted(parents, key=lambda c: -depth[c]):
        parent = parents[code]
        if parent is not None:
            into = values.setdefault(parent, dict.fromkeys(columns, 0))
            for column in columns:
                into[column] = into.get(column, 0) + values[code][column]
    frame = pd.DataFrame.from_dict(values, orient="index")[columns].astype("int64")
    frame.insert(0, "parent", pd.Series(parents))
    return frame.sort_index()


def _depth(code: str, parents: dict[str, str | None]) -> int:
    return 0 if parents[code] is None else 1 + _depth(parents[code], parents)


def with_partition(leaves: dict[str, tuple[int, ...]]) -> dict[str, dict[str, int]]:
    """Leaf rows whose ``households`` is the sum of the ``seen_by_*`` parts given."""
    return {code: {**dict(zip(SEEN_BY, parts)), "households": sum(parts)} for code, parts in leaves.items()}


# ------------------------------------------------------------------------------------------------ attacker


def relations(table: pd.DataFrame, counts: list[str], partitions) -> list[list[tuple[tuple[str, str], int]]]:
    """Every additive relation of the table as cells with coefficients summing to 0."""
    out = []
    children: dict[str, list[str]] = {}
    for code, parent in table["parent"].items():
        if parent is not None and not pd.isna(parent):
            children.setdefault(parent, []).append(code)
    for parent, kids in children.items():
        for column in counts:
            out.append([((parent, column), 1)] + [((kid, column), -1) for kid in kids])
    for code in table.index:
        for total, parts in partitions:
            out.append([((code, total), 1)] + [((code, part), -1) for part in parts])
    return out


def holds(table: pd.DataFrame, values: dict[tuple[str, str], int], rules) -> bool:
    """Do these cell values (hidden ones substituted) keep every relation? Checked from scratch."""
    def value(cell):
        return values.get(cell, int(table.at[cell[0], cell[1]]))
    return all(sum(coefficient * value(cell) for cell, coefficient in rule) == 0 for rule in rules)


class Attacker:
    """Knows every visible cell, every relation, that values are whole and that hidden cells are >= 1."""

    def __init__(self, table: pd.DataFrame, mask: pd.DataFrame, counts: list[str], partitions=(), slack: int = 3):
        self.table, self.rules = table, relations(table, counts, partitions)
        self.hidden = [(code, column) for column in counts for code in mask.index[mask[column].to_numpy()]]
        self.true = {cell: int(table.at[cell]) for cell in self.hidden}
        number = {cell: i for i, cell in enumerate(self.hidden)}
        self.equations = []  # (variable -> coefficient, constant) over hidden cells only
        for rule in self.rules:
            terms = {number[cell]: coefficient for cell, coefficient in rule if cell in number}
            if terms:
                known = sum(coefficient * int(table.at[cell]) for cell, coefficient in rule if cell not in number)
                self.equations.append((terms, -known))
        self.slack = slack  # a second table is looked for within true value + slack (the box is the only limit)

    def pinned(self) -> list[tuple[str, str]]:
        return [cell for cell in self.hidden if self.other_table(cell) is None]

    def other_table(self, cell: tuple[str, str]) -> dict | None:
        """A whole-number table that keeps every relation and differs from the true one in ``cell``."""
        i, true = self.hidden.index(cell), self.true[cell]
        for low, high in ((1, true - 1), (true + 1, true + self.slack)):
            if low > high:
                continue
            lo = [1] * len(self.hidden)
            hi = [self.true[c] + self.slack for c in self.hidden]
            lo[i], hi[i] = low, high
            found = self._search(lo, hi)
            if found is not None:
                other = dict(zip(self.hidden, found))
                assert holds(self.table, other, self.rules) and other[cell] != true and min(found) >= 1
                return other
        return None

    def _search(self, lo: list[int], hi: list[int]) -> list[int] | None:
        if not self._narrow(lo, hi):
            return None
        open_ = [j for j in range(len(lo)) if lo[j] < hi[j]]
        if not open_:
            return lo
        j = min(open_, key=lambda k: hi[k] - lo[k])
        for value in range(lo[j], hi[j] + 1):
            lo2, hi2 = lo.copy(), hi.copy()
            lo2[j] = hi2[j] = value
            found = self._search(lo2, hi2)
            if found is not None:
                return found
        return None

    def _narrow(self, lo: list[int], hi: list[int]) -> bool:
        """Bounds consistency on every equation, to a fixed point; False when one cannot hold."""
        changed = True
        while changed:
            changed = False
            for terms, constant in self.equations:
                smallest = sum(a * (lo[j] if a > 0 else hi[j]) for j, a in terms.items())
                largest = sum(a * (hi[j] if a > 0 else lo[j]) for j, a in terms.items())
                if not smallest <= constant <= largest:
                    return False
                for j, a in terms.items():
                    rest_low = smallest - a * (lo[j] if a > 0 else hi[j])
                    rest_high = largest - a * (hi[j] if a > 0 else lo[j])
                    low, high = (constant - rest_high, constant - rest_low)
                    low, high = (low, high) if a > 0 else (-high, -low)
                    if low > lo[j] or high < hi[j]:
                        lo[j], hi[j] = max(lo[j], low), min(hi[j], high)
                        if lo[j] > hi[j]:
                            return False
                        changed = True
        return True


def assert_safe(table, mask, counts, partitions=(), threshold=5):
    values = table[counts].to_numpy()
    hidden = mask[counts].to_numpy()
    assert not hidden[values == 0].any(), "a zero was suppressed"
    assert hidden[(values > 0) & (values < threshold)].all(), "a small cell is visible"
    assert Attacker(table, mask, counts, partitions).pinned() == []


# ------------------------------------------------------------------------------------- attacker is strong

# A tambon of 2 (villages 1 + 1) and a tambon of 1 (one village of 1) under a visible amphoe of 3: each
# relation alone holds two or more hidden cells, at least one of them >= 2, yet everything is pinned.
TREE_TRAP = area_table(
    {"100101-01": {"n": 1}, "100101-02": {"n": 1}, "100102-01": {"n": 1}},
    {"1001": None, "100101": "1001", "100102": "1001", "100101-01": "100101", "100101-02": "100101",
     "100102-01": "100102"},
)

# Three villages by three parts: a cycle of six hidden cells, each row and column holding a 1 and a 2.
CYCLE_TRAP = area_table(
    with_partition({"100101-01": (2, 1, 7), "100101-02": (9, 2, 2), "100101-03": (2, 8, 1)}),
    {"100101": None, "100101-01": "100101", "100101-02": "100101", "100101-03": "100101"},
)
CYCLE = {("100101-01", "seen_by_1"), ("100101-01", "seen_by_2"), ("100101-02", "seen_by_2"),
         ("100101-02", "seen_by_3"), ("100101-03", "seen_by_3"), ("100101-03", "seen_by_1")}


def mask_of(table, counts, cells) -> pd.DataFrame:
    mask = pd.DataFrame(False, index=table.index, columns=counts)
    for code, column in cells:
        mask.at[code, column] = True
    return mask


def test_attacker_pins_cells_that_a_rule_per_relation_leaves_open():
    tree_mask = mask_of(TREE_TRAP, ["n"], [(c, "n") for c in TREE_TRAP.index if c != "1001"])
    assert len(Attacker(TREE_TRAP, tree_mask, ["n"]).pinned()) == 5
    counts = ["households", *SEEN_BY]
    cycle_mask = mask_of(CYCLE_TRAP, counts, CYCLE)
    assert sorted(Attacker(CYCLE_TRAP, cycle_mask, counts, PARTITION).pinned()) == sorted(CYCLE)


def test_attacker_pins_two_hidden_ones_and_not_a_one_beside_a_two():
    table = area_table({"100101-01": {"n": 1}, "100101-02": {"n": 1}, "100101-03": {"n": 2},
                        "100101-04": {"n": 30}},
                       {"100101": None, **{f"100101-0{i}": "100101" for i in range(1, 5)}})
    ones = mask_of(table, ["n"], [("100101-01", "n"), ("100101-02", "n")])
    assert len(Attacker(table, ones, ["n"]).pinned()) == 2
    one_two = mask_of(table, ["n"], [("100101-01", "n"), ("100101-03", "n")])
    assert Attacker(table, one_two, ["n"]).pinned() == []


def test_protect_closes_both_traps():
    mask, _ = protect(TREE_TRAP, counts=["n"])
    assert_safe(TREE_TRAP, mask, ["n"])
    counts = ["households", *SEEN_BY]
    mask, _ = protect(CYCLE_TRAP, counts=counts, partitions=PARTITION)
    assert_safe(CYCLE_TRAP, mask, counts, PARTITION)


# ---------------------------------------------------------------------------------------------- protect


def tambon(villages: dict[str, int], code: str = "100101") -> pd.DataFrame:
    leaves = {f"{code}-{number}": {"n": n} for number, n in villages.items()}
    return area_table(leaves, {code: None, **{village: code for village in leaves}})


def test_suppressed_cell_cannot_be_recovered_from_parent_and_visible_siblings():
    table = tambon({"01": 3, "02": 40, "03": 50, "04": 20})
    mask, report = protect(table, counts=["n"])
    assert mask["n"].to_dict() == {"100101": False, "100101-01": True, "100101-02": False,
                                   "100101-03": False, "100101-04": True}
    assert report == SuppressionReport(threshold=5, cells=5, primary=1, secondary=1)
    assert_safe(table, mask, ["n"])


def test_complement_is_the_smallest_visible_sibling_ties_by_code():
    table = tambon({"01": 2, "02": 30, "03": 12, "04": 12, "05": 0})
    mask, _ = protect(table, counts=["n"])
    assert set(mask.index[mask["n"]]) == {"100101-01", "100101-03"}


def test_hidden_ones_summing_to_their_count_get_a_larger_partner():
    table = tambon({"01": 1, "02": 1, "03": 30, "04": 45})
    mask, _ = protect(table, counts=["n"])
    assert set(mask.index[mask["n"]]) == {"100101-01", "100101-02", "100101-03"}
    assert_safe(table, mask, ["n"])


def test_zeros_are_published_and_never_chosen_as_complements():
    table = tambon({"01": 3, "02": 0, "03": 0, "04": 9})
    mask, report = protect(table, counts=["n"])
    assert set(mask.index[mask["n"]]) == {"100101-01", "100101-04"}
    assert report.primary == 1 and report.secondary == 1


def test_suppressing_a_total_carries_into_its_own_parent_relation():
    leaves = {"100101-01": 1, "100101-02": 2, "100102-01": 40, "100102-02": 35, "100103-01": 60}
    parents = {"1001": None, "100101": "1001", "100102": "1001", "100103": "1001",
               **{code: code[:6] for code in leaves}}
    table = area_table({code: {"n": n} for code, n in leaves.items()}, parents)
    mask, _ = protect(table, counts=["n"])
    hidden = set(mask.index[mask["n"]])
    assert {"100101", "100101-01", "100101-02"} <= hidden  # the tambon of 3 is itself small
    assert "100102" in hidden  # its amphoe is visible, so a sibling tambon hides with it
    assert "1001" not in hidden
    assert_safe(table, mask, ["n"])


def test_partition_within_row_cannot_reveal_a_suppressed_part():
    table = area_table(
        with_partition({"100101-01": (30, 3, 27), "100101-02": (20, 15, 10), "100101-03": (40, 25, 60)}),
        {"100101": None, "100101-01": "100101", "100101-02": "100101", "100101-03": "100101"},
    )
    counts = ["households", *SEEN_BY]
    mask, report = protect(table, counts=counts, partitions=PARTITION)
    assert mask.at["100101-01", "seen_by_2"]
    assert mask.loc["100101-01"].sum() >= 2  # a part alone in its row would be the total minus the rest
    assert report.primary == 1
    assert_safe(table, mask, counts, PARTITION)


def test_a_cell_in_no_relation_needs_no_complement():
    table = pd.DataFrame({"parent": [None], "n": [3]}, index=["TH"])
    mask, report = protect(table, counts=["n"])
    assert mask.at["TH", "n"] and report.secondary == 0


def test_deterministic_whatever_the_row_order():
    table = random_table(np.random.default_rng(7), leaves=40)
    counts = ["households", *SEEN_BY, "elderly"]
    first, report = protect(table, counts=counts, partitions=PARTITION)
    shuffled = table.sample(frac=1.0, random_state=3)
    again, report_again = protect(shuffled, counts=counts, partitions=PARTITION)
    assert list(again.index) == list(shuffled.index)
    pd.testing.assert_frame_equal(again.loc[first.index], first)
    assert report_again == report and report.secondary > 0


def test_report_as_dict():
    report = SuppressionReport(threshold=5, cells=10, primary=2, secondary=3)
    assert report.as_dict() == {"threshold": 5, "cells": 10, "primary": 2, "secondary": 3}


def test_threshold_decides_what_is_small():
    table = tambon({"01": 5, "02": 7, "03": 9})
    assert not protect(table, counts=["n"], threshold=5)[0]["n"].any()
    mask, _ = protect(table, counts=["n"], threshold=8)
    assert set(mask.index[mask["n"]]) == {"100101-01", "100101-02"}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.assign(n=t["n"].where(t.index != "100101", 99)), "additive"),
        (lambda t: t.assign(parent=t["parent"].replace("100101", "999999")), "not in the table"),
        (lambda t: t.assign(n=t["n"].astype(float)), "whole-number"),
        (lambda t: t.assign(parent=t["parent"].fillna("100101-01")), "cycle"),
        (lambda t: pd.concat([t, t.iloc[:1]]), "unique"),
    ],
)
def test_rejects_tables_breaking_the_contract(change, message):
    with pytest.raises(ValueError, match=message):
        protect(change(tambon({"01": 3, "02": 40})), counts=["n"])


def test_rejects_a_partition_that_does_not_hold():
    table = area_table(with_partition({"100101-01": (3, 4, 5)}), {"100101": None, "100101-01": "100101"})
    table["households"] = 13  # in the village and in its tambon: additive still, but not 3 + 4 + 5
    with pytest.raises(ValueError, match="households != seen_by_1"):
        protect(table, counts=["households", *SEEN_BY], partitions=PARTITION)
    with pytest.raises(ValueError, match="not in counts"):
        protect(table, counts=["households", "seen_by_1"], partitions=PARTITION)


# ---------------------------------------------------------------------------------------- random tables


LAYOUTS = {  # name -> (counts, partitions)
    "one column": (["n"], []),
    "partition": (["households", *SEEN_BY, "elderly"], PARTITION),
    "two partitions of one total": (["households", *SEEN_BY, "urban", "rural"],
                                    [*PARTITION, ("households", ("urban", "rural"))]),
    "nested partitions": (["households", *SEEN_BY, "near", "far"], [*PARTITION, ("seen_by_1", ("near", "far"))]),
}


def random_table(rng: np.random.Generator, *, leaves: int, layout: str = "partition") -> pd.DataFrame:
    """Nation > provinces > amphoes > tambons > villages with small, often tiny, counts; some tambons end the
    hierarchy without villages."""
    parents: dict[str, str | None] = {"TH": None}
    rows: dict[str, dict[str, int]] = {}
    open_ = ["TH"]
    while len(rows) < leaves:
        area = open_[int(rng.integers(len(open_)))]
        free = [code for code in _child_codes(area) if code not in parents]
        if not free:
            open_.remove(area)
            continue
        code = free[int(rng.integers(len(free)))]
        parents[code] = area
        if len(code) >= 6 and (len(code) > 6 or rng.random() < 0.3):
            rows[code] = _random_row(rng, layout)
        else:
            open_.append(code)
    while childless := set(parents) - set(parents.values()) - set(rows):  # areas that got no children
        for area in childless:
            del parents[area]
    return area_table(rows, parents)


def _random_row(rng: np.random.Generator, layout: str) -> dict[str, int]:
    parts = [int(v) for v in rng.choice([0, 1, 1, 2, 2, 3, 4, 6, 9, 15], size=3)]
    households = sum(parts)
    urban, near = int(rng.integers(0, households + 1)), int(rng.integers(0, parts[0] + 1))
    row = {**dict(zip(SEEN_BY, parts)), "households": households, "elderly": int(rng.choice([0, 1, 2, 5, 8])),
           "urban": urban, "rural": households - urban, "near": near, "far": parts[0] - near, "n": households}
    return {column: row[column] for column in LAYOUTS[layout][0]}


def _child_codes(area: str) -> list[str]:
    if area == "TH":
        return [str(p) for p in range(10, 20)]
    if len(area) < 6:
        return [f"{area}{n:02d}" for n in range(1, 4)]
    return [f"{area}-{n:02d}" for n in range(1, 10)]


def every_relation_has_none_or_two_hidden(table, mask, counts, partitions) -> bool:
    for rule in relations(table, counts, partitions):
        hidden = sum(bool(mask.at[cell]) for cell, _ in rule)
        if hidden == 1:
            return False
    return True


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), leaves=st.integers(2, 7), layout=st.sampled_from(sorted(LAYOUTS)),
       threshold=st.sampled_from([3, 5]))
def test_no_hidden_cell_can_be_pinned_by_an_attacker_using_every_relation(seed, leaves, layout, threshold):
    table = random_table(np.random.default_rng(seed), leaves=leaves, layout=layout)
    counts, partitions = LAYOUTS[layout]
    mask, report = protect(table, counts=counts, partitions=partitions, threshold=threshold)
    assert_safe(table, mask, counts, partitions, threshold)
    assert every_relation_has_none_or_two_hidden(table, mask, counts, partitions)
    assert report.primary + report.secondary == int(mask.to_numpy().sum())


@pytest.mark.parametrize("seed", range(6))
def test_no_visible_cell_is_below_threshold(seed):
    table = random_table(np.random.default_rng(seed), leaves=200)
    counts = ["households", *SEEN_BY, "elderly"]
    mask, report = protect(table, counts=counts, partitions=PARTITION)
    values = table[counts].to_numpy()
    hidden = mask.to_numpy()
    assert not ((values > 0) & (values < 5) & ~hidden).any()
    assert not (hidden & (values == 0)).any()
    assert report.primary == int(((values > 0) & (values < 5)).sum())
    assert every_relation_has_none_or_two_hidden(table, mask, counts, PARTITION)


# ---------------------------------------------------------------------------------------------- villages


def test_small_villages_roll_up_into_their_tambon():
    households = pd.Series({"100101-01": 2, "100101-02": 3, "100101-03": 40, "100102-01": 60, "100102-02": 1,
                            "100102-03": 4})
    groups = village_groups(households, threshold=5)
    assert groups == {"100101-01": f"100101-{SMALL_VILLAGES}", "100101-02": "100101-other",
                      "100101-03": "100101-03", "100102-01": "100102-01", "100102-02": "100102-other",
                      "100102-03": "100102-other"}
    assert list(groups) == list(households.index)


def test_a_group_still_too_small_takes_the_smallest_remaining_village():
    households = pd.Series({"100101-01": 1, "100101-02": 2, "100101-03": 30, "100101-04": 9, "100101-05": 9})
    groups = village_groups(households, threshold=5)
    assert [code for code, cell in groups.items() if cell == "100101-other"] == ["100101-01", "100101-02",
                                                                                 "100101-04"]


def test_a_tambon_too_small_altogether_is_one_group():
    groups = village_groups(pd.Series({"100101-01": 1, "100101-02": 0, "100101-03": 2}), threshold=5)
    assert set(groups.values()) == {"100101-other"}


def test_a_tambon_of_large_villages_has_no_group():
    groups = village_groups(pd.Series({"100101-01": 5, "100101-02": 8}), threshold=5)
    assert groups == {"100101-01": "100101-01", "100101-02": "100101-02"}


def test_village_groups_reach_the_threshold_or_take_the_whole_tambon():
    rng = np.random.default_rng(11)
    codes = [f"1001{t:02d}-{v:02d}" for t in range(1, 40) for v in range(1, int(rng.integers(1, 8)))]
    households = pd.Series(rng.choice([0, 1, 2, 3, 4, 6, 20, 80], size=len(codes)), index=codes)
    groups = pd.Series(village_groups(households, threshold=5))
    totals = households.groupby(groups).sum()
    tambon_totals = households.groupby(households.index.str[:6]).sum()
    for cell, total in totals.items():
        if cell.endswith(SMALL_VILLAGES):
            assert total >= 5 or total == tambon_totals[cell[:6]]
        else:
            assert total >= 5
    assert village_groups(households.sample(frac=1.0, random_state=1), threshold=5) == dict(groups)


def test_village_groups_reject_bad_codes():
    with pytest.raises(ValueError, match="TTTTTT-MM"):
        village_groups(pd.Series({"1001": 3}), threshold=5)
