"""Differential privacy for public figures: noisy integer cells, with the noise scale confirmed by OpenDP.

A published table's rows are disjoint cells (an area, a group): each unit (a household) counts in at most one
row of a column, and adds at most its declared ``contribution`` there. Adding or removing one unit changes
each column by at most that bound in L1 distance, so a column released through OpenDP's discrete Laplace
mechanism at scale ``s`` costs ``contribution / s`` epsilon. The total epsilon is split equally over the
measured columns (sequential composition); each column's scale is found by binary search over OpenDP's own
privacy map, not by the textbook formula (the map rounds up, so ``contribution / epsilon`` can miss by an ulp).

Contribution bounds must be made true before the table is built: clip each unit's value with
:func:`clamp_contributions` (a sum of scores, persons per household), and count a household once.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import opendp.prelude as dp
import pandas as pd

dp.enable_features("contrib")

MECHANISM = "discrete_laplace"  # opendp.measurements.make_laplace over vectors of i64


@dataclass(frozen=True)
class Measure:
    column: str
    contribution: int  # the most one unit (household) can add to this column's cell

    def __post_init__(self):
        if isinstance(self.contribution, bool) or not isinstance(self.contribution, int | np.integer):
            raise ValueError(
                f"{self.column}: contribution bound must be a whole number >= 1, got {self.contribution!r}"
            )
        if self.contribution < 1:
            raise ValueError(f"{self.column}: contribution bound must be >= 1, got {self.contribution}")


@dataclass(frozen=True)
class DpReport:
    epsilon: float
    mechanism: str
    per_measure: dict[str, dict]  # column -> {"epsilon": e, "scale": s, "contribution": c}

    def as_dict(self) -> dict:
        return {
            "epsilon": self.epsilon,
            "mechanism": self.mechanism,
            "per_measure": {column: dict(entry) for column, entry in self.per_measure.items()},
        }


def mechanism(scale: float) -> dp.Measurement:
    """OpenDP's discrete Laplace mechanism on a vector of 64-bit integers under the L1 distance."""
    space = dp.vector_domain(dp.atom_domain(T=dp.i64)), dp.l1_distance(T=dp.i64)
    return dp.m.make_laplace(*space, scale=scale)


def scale_for(contribution: int, epsilon: float) -> float:
    """The smallest scale OpenDP's privacy map confirms as ``epsilon``-DP when a unit moves a column by
    ``contribution`` (binary search over the map)."""
    scale = dp.binary_search_param(mechanism, d_in=int(contribution), d_out=float(epsilon), T=float)
    spent = mechanism(scale).map(int(contribution))
    if not spent <= epsilon:  # binary_search_param promises this; a release must never rest on a promise
        raise RuntimeError(f"OpenDP map gives {spent} > {epsilon} at scale {scale}")
    return scale


def release(table: pd.DataFrame, *, measures: Sequence[Measure], epsilon: float) -> tuple[pd.DataFrame, DpReport]:
    """Noisy copy of the integer columns named in ``measures``; other columns untouched.

    Table rows are disjoint cells (each unit counts in one row per column), so a column's L1 sensitivity is
    its contribution bound. ``epsilon`` is split equally over the columns (sequential composition); each
    column gets OpenDP's discrete Laplace mechanism at the scale OpenDP's privacy map confirms for its share.
    Negative noisy values are clamped to 0 (post-processing, no privacy cost). ValueError for ``epsilon <= 0``,
    no measures, a missing or zero contribution bound, a column named twice, absent, not integer or with
    missing values: bounds are explicit, never silently absent.
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not math.isfinite(epsilon):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}")
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if not measures:
        raise ValueError("no measures to release")
    for measure in measures:
        if not isinstance(measure, Measure):
            raise ValueError(f"not a Measure: {measure!r}")
        # Measure checks its bound when built; a bound changed afterwards (object.__setattr__) is checked here.
        Measure(measure.column, measure.contribution)
    columns = [measure.column for measure in measures]
    if len(set(columns)) != len(columns):
        raise ValueError(f"a column is measured twice: {columns}")
    absent = [column for column in columns if column not in table.columns]
    if absent:
        raise ValueError(f"measured columns not in the table: {absent}")
    for column in columns:
        values = table[column]
        if not pd.api.types.is_integer_dtype(values.dtype) or isinstance(values.dtype, pd.BooleanDtype):
            raise ValueError(f"{column}: expected whole-number counts or sums, got dtype {values.dtype}")
        if values.isna().any():
            raise ValueError(f"{column}: has missing values; a published cell needs a count")

    share = float(epsilon) / len(measures)
    out = table.copy()
    per_measure: dict[str, dict] = {}
    for measure in measures:
        scale = scale_for(measure.contribution, share)
        noisy = np.asarray(mechanism(scale)(table[measure.column].astype("int64").tolist()), dtype=np.int64)
        out[measure.column] = pd.Series(np.maximum(noisy, 0), index=table.index, dtype="int64")
        per_measure[measure.column] = {"epsilon": share, "scale": scale, "contribution": int(measure.contribution)}
    return out, DpReport(epsilon=float(epsilon), mechanism=MECHANISM, per_measure=per_measure)


def clamp_contributions(values: pd.Series, *, upper: int) -> pd.Series:
    """Each unit's value clipped to ``[0, upper]`` before summing: the contribution bound made true.

    Missing values stay missing (count them, or fill them, as the measure requires).
    """
    if isinstance(upper, bool) or not isinstance(upper, int | np.integer) or upper < 1:
        raise ValueError(f"upper bound must be a whole number >= 1, got {upper!r}")
    return values.clip(lower=0, upper=int(upper))
