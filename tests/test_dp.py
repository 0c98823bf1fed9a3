"""Differential privacy for public figures: noisy non-negative integer cells, the noise really is drawn at the
reported scale, epsilon is split over the columns, OpenDP's own privacy map confirms each column's share, and
bounds are never silently absent."""
from __future__ import annotations

import math

import numpy as np
import opendp.prelude as dp
import pandas as pd
import pytest

from hub.anonymise.dp import DpReport, Measure, clamp_contributions, release

dp.enable_features("contrib")


def figures(cells: int = 40, *, level: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(cells)
    return pd.DataFrame(
        {
            "tambon": [f"1001{i:02d}" for i in range(cells)],
            "households": rng.integers(level, level + 100, cells),
            "score_sum": rng.integers(5 * level, 5 * level + 500, cells),
            "share_poor": rng.random(cells).round(3),
        },
        index=pd.RangeIndex(100, 100 + cells),
    )


MEASURES = (Measure("households", 1), Measure("score_sum", 5))


def expected_absolute_noise(scale: float) -> float:
    """E|X| for the discrete Laplace P(x) ~ exp(-|x| / scale) on the integers: 2a / (1 - a^2), a = exp(-1/scale)."""
    a = math.exp(-1 / scale)
    return 2 * a / (1 - a * a)


def test_release_keeps_the_table_shape_and_gives_non_negative_integers():
    table = figures()
    out, report = release(table, measures=MEASURES, epsilon=1.0)
    assert out.shape == table.shape and list(out.columns) == list(table.columns)
    assert out.index.equals(table.index)
    for measure in MEASURES:
        assert out[measure.column].dtype == np.int64
        assert (out[measure.column] >= 0).all()
    assert out["tambon"].equals(table["tambon"]) and out["share_poor"].equals(table["share_poor"])
    assert isinstance(report, DpReport) and report.mechanism == "discrete_laplace"


def test_noise_differs_between_runs_and_from_the_true_values():
    table = figures(200)
    first, _ = release(table, measures=MEASURES, epsilon=1.0)
    second, _ = release(table, measures=MEASURES, epsilon=1.0)
    for measure in MEASURES:
        assert not first[measure.column].equals(second[measure.column])
        assert not first[measure.column].equals(table[measure.column])


def test_empirical_noise_matches_the_reported_scale():
    table = figures(2_000, level=10_000)  # far from zero: clamping never touches these cells
    out, report = release(table, measures=MEASURES, epsilon=1.0)
    for measure in MEASURES:
        noise = (out[measure.column] - table[measure.column]).to_numpy()
        scale = report.per_measure[measure.column]["scale"]
        expected = expected_absolute_noise(scale)
        assert np.abs(noise).mean() == pytest.approx(expected, rel=0.3)
        assert abs(noise.mean()) < 0.2 * scale  # centred: ~6 standard errors of the mean
    # The column with the larger contribution bound gets proportionally larger noise.
    assert report.per_measure["score_sum"]["scale"] == pytest.approx(5 * report.per_measure["households"]["scale"])


def test_epsilon_is_split_equally_over_the_measures_and_reported():
    out, report = release(figures(), measures=MEASURES, epsilon=0.8)
    assert report.epsilon == 0.8
    assert set(report.per_measure) == {"households", "score_sum"}
    assert sum(entry["epsilon"] for entry in report.per_measure.values()) == pytest.approx(0.8)
    assert report.per_measure["households"] == {"epsilon": 0.4, "scale": pytest.approx(2.5), "contribution": 1}
    assert report.per_measure["score_sum"] == {"epsilon": 0.4, "scale": pytest.approx(12.5), "contribution": 5}
    assert report.as_dict() == {"epsilon": 0.8, "mechanism": "discrete_laplace", "per_measure": report.per_measure}


@pytest.mark.parametrize(("epsilon", "measures"), [(1.0, MEASURES), (0.3, MEASURES), (1 / 3, (Measure("x", 7),))])
def test_opendp_privacy_map_of_the_chosen_scale_is_within_each_share(epsilon, measures):
    table = pd.DataFrame({m.column: [3, 4, 5] for m in measures})
    _, report = release(table, measures=measures, epsilon=epsilon)
    space = dp.vector_domain(dp.atom_domain(T=dp.i64)), dp.l1_distance(T=dp.i64)
    for measure in measures:
        entry = report.per_measure[measure.column]
        spent = dp.m.make_laplace(*space, scale=entry["scale"]).map(measure.contribution)
        assert spent <= entry["epsilon"] == epsilon / len(measures)
        assert spent >= 0.999 * entry["epsilon"]  # and the scale is not wastefully large


def test_negative_noisy_values_are_clamped_to_zero():
    table = pd.DataFrame({"households": np.zeros(500, dtype=np.int64)})
    out, _ = release(table, measures=[Measure("households", 1)], epsilon=0.1)
    assert (out["households"] >= 0).all()
    assert (out["households"] == 0).sum() > 200  # about half the draws are negative, plus the zero draws


@pytest.mark.parametrize("epsilon", [0, -1.0, float("nan"), float("inf"), None, True])
def test_epsilon_must_be_positive_and_finite(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        release(figures(), measures=MEASURES, epsilon=epsilon)


@pytest.mark.parametrize("contribution", [None, 0, -3, 1.5, True])
def test_a_missing_or_zero_contribution_bound_is_refused(contribution):
    with pytest.raises(ValueError, match="contribution bound"):
        release(figures(), measures=[Measure("households", contribution)], epsilon=1.0)


def test_unusable_columns_are_refused():
    table = figures()
    with pytest.raises(ValueError, match="no measures"):
        release(table, measures=[], epsilon=1.0)
    with pytest.raises(ValueError, match="not in the table"):
        release(table, measures=[Measure("persons", 1)], epsilon=1.0)
    with pytest.raises(ValueError, match="measured twice"):
        release(table, measures=[Measure("households", 1), Measure("households", 2)], epsilon=1.0)
    with pytest.raises(ValueError, match="whole-number"):
        release(table, measures=[Measure("share_poor", 1)], epsilon=1.0)
    with_gap = table.astype({"households": "Int64"})
    with_gap.loc[with_gap.index[0], "households"] = pd.NA
    with pytest.raises(ValueError, match="missing values"):
        release(with_gap, measures=[Measure("households", 1)], epsilon=1.0)


def test_clamp_contributions_makes_the_bound_true():
    values = pd.Series([-2, 0, 3, 5, 9, None], dtype="Int64")
    assert clamp_contributions(values, upper=5).tolist() == [0, 0, 3, 5, 5, pd.NA]
    assert clamp_contributions(pd.Series([1, 12, 4]), upper=4).tolist() == [1, 4, 4]
    for upper in (0, -1, 2.5, None):
        with pytest.raises(ValueError, match="upper bound"):
            clamp_contributions(values, upper=upper)
