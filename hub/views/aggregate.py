"""An aggregate view, built bottom-up: household facts summed per village, small villages rolled up into
their tambon (where the contract allows), then tambon, amphoe, province and nation as sums of the level
below, so every level adds up. A public view gets differential-privacy noise on its lowest level before
summing up (the sums are post-processing, so the whole table costs one release's epsilon). Then cells
below the threshold are suppressed, with complements, and ratios are computed from what is visible.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from contracts.model import AREA_LEVELS, View
from hub.anonymise import dp
from hub.anonymise.suppression import protect
from hub.thai.areas import all_codes
from hub.views.facts import measure_columns
from hub.views.figures import measures_of, partitions_of, ratios_of

NATION = "TH"
_PREFIX = {"tambon": 6, "amphoe": 4, "province": 2}


@dataclass
class AggregateTable:
    """Rows: one per published area (``area`` code, ``level``, ``parent``); ``figures``: per area, each
    measure and ratio, ``None`` where suppressed."""

    cells: pd.DataFrame
    report: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cells)


def parent_of(code: str, level: str) -> str | None:
    if level == "nation":
        return None
    if level == "village":
        return code[:6]
    nxt = AREA_LEVELS[AREA_LEVELS.index(level) + 1]
    return NATION if nxt == "nation" else code[:_PREFIX[nxt]]


def _code_at(village: pd.Series, level: str) -> pd.Series:
    if level == "village":
        return village
    if level == "nation":
        return pd.Series(NATION, index=village.index)
    return village.str.slice(0, _PREFIX[level])


def _leaf_sums(facts: pd.DataFrame, view: View, columns: list[str], groups: dict[str, str] | None,
               report: dict) -> pd.DataFrame:
    values = measure_columns(facts, mpi_cutoff=view.mpi_cutoff)[columns]
    if view.public:
        cap = view.privacy.max_persons_per_household
        persons = [m.name for m in measures_of(view.figures) if m.unit == "persons"]
        values[persons] = values[persons].clip(upper=cap)
    area, codes = pd.factorize(_code_at(facts["village"], view.level))  # distinct areas, not households
    if view.level == "village" and view.roll_up_small_villages and groups:
        report["villages_rolled_up"] = sum(1 for v in codes if groups.get(v, v) != v)
        codes = pd.Index([groups.get(v, v) for v in codes])
    sums = values.groupby(codes.to_numpy(dtype=object)[area]).sum()
    if view.public:  # every area of the level, whether or not anyone lives there: rows reveal nothing
        sums = sums.reindex(all_codes(view.level), fill_value=0)
    return sums


def _noised(leaves: pd.DataFrame, view: View, report: dict) -> pd.DataFrame:
    cap = view.privacy.max_persons_per_household
    totals = {total for total, _ in partitions_of(view.figures)}  # derived from their parts, not noised
    measures = [dp.Measure(m.name, cap if m.unit == "persons" else 1) for m in measures_of(view.figures)
                if m.name not in totals]
    noisy, dp_report = dp.release(leaves, measures=measures, epsilon=view.privacy.epsilon)
    report["differential_privacy"] = dp_report.as_dict()
    for total, parts in partitions_of(view.figures):  # post-processing: a noisy total is its noisy parts' sum
        noisy[total] = noisy[list(parts)].sum(axis=1)
    return noisy


def _hierarchy(leaves: pd.DataFrame, leaf_level: str) -> pd.DataFrame:
    levels = AREA_LEVELS[AREA_LEVELS.index(leaf_level):]
    tables, current = [], leaves
    for below, level in zip((None, *levels), levels):
        if below is not None:
            current = current.groupby([parent_of(code, below) for code in current.index]).sum()
        table = current.copy()
        table.insert(0, "parent", [parent_of(code, level) for code in table.index])
        table.insert(0, "level", level)
        tables.append(table)
    return pd.concat(tables)


def _suppressed(table: pd.DataFrame, view: View, counts: list[str]) -> tuple[pd.DataFrame, dict]:
    """Cell suppression, with every non-zero count hidden wherever the count it lies within is hidden (a
    visible part would give the attacker a lower bound on the hidden whole)."""
    column = {name: i for i, name in enumerate(counts)}
    within = [(column[m.name], column[m.within]) for m in measures_of(view.figures)
              if m.name in counts and m.within in counts]
    nonzero = (table[counts] > 0).to_numpy()
    forced = None
    for _ in range(len(counts) + 1):
        mask, report = protect(table[["parent", *counts]], counts=counts, partitions=partitions_of(view.figures),
                               threshold=view.threshold, forced=forced)
        hidden = mask.to_numpy(dtype=bool)
        needed = hidden.copy()
        for _ in range(len(within)):  # containment is transitive: a part of a part of a hidden whole
            for part, whole in within:
                needed[:, part] |= needed[:, whole]
        if not (needed & ~hidden & nonzero).any():
            return mask, report.as_dict()
        forced = pd.DataFrame(needed, index=mask.index, columns=counts)
    raise RuntimeError("suppression with containment did not settle; this is a bug")


def build_aggregate(facts: pd.DataFrame, view: View, *, groups: dict[str, str] | None = None) -> AggregateTable:
    """The view's table over the households in ``facts`` (those its consent decision allows). ``groups``
    maps small villages to their roll-up cell (:func:`hub.anonymise.suppression.village_groups`), the same
    for every view of a publish, so two views cannot be subtracted from each other."""
    measures = measures_of(view.figures)
    columns = [m.name for m in measures]
    report: dict = {"households": int(len(facts))}
    leaves = _leaf_sums(facts, view, columns, groups, report)
    if view.public:
        leaves = _noised(leaves, view, report)
    table = _hierarchy(leaves, view.level)
    counts = [m.name for m in measures if m.is_count]
    mask, report["suppression"] = _suppressed(table, view, counts)
    hidden = {m.name: mask[m.base or m.name].to_numpy() for m in measures}
    figures = {m.name: _plain(table[m.name].to_numpy(), hidden[m.name]) for m in measures}
    for r in ratios_of(view.figures):
        num, den = table[r.numerator].to_numpy(dtype=float), table[r.denominator].to_numpy(dtype=float)
        shown = ~hidden[r.numerator] & ~hidden[r.denominator] & (den != 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            figures[r.name] = _plain(np.round(num / (den * r.scale), 4), ~shown)
    cells = table[["level", "parent"]].copy()
    cells["figures"] = [dict(zip(figures, values)) for values in zip(*figures.values())]
    return AggregateTable(cells, report)


def _plain(values: np.ndarray, hidden: np.ndarray) -> list:
    """A column as JSON-ready values: whole numbers as ``int``, others as ``float`` rounded to 4 places,
    ``None`` where hidden or not a number."""
    if np.issubdtype(values.dtype, np.integer):
        out = values.tolist()
    else:
        values = values.astype(float)
        hidden = hidden | np.isnan(values)
        out = [round(v, 4) for v in values.tolist()]
    return [None if h else v for v, h in zip(out, hidden.tolist())]
