"""Generalisation ladders and k-anonymity: every published class has at least k rows, at most the allowed
share of rows is suppressed, the least generalised qualifying levels are chosen, and the report tells the truth."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from hub.anonymise.generalise import LADDERS, generalise
from hub.anonymise.kanonymity import KAnonymityReport, QuasiIdentifier, k_anonymise

AREA = QuasiIdentifier("village", "area", "village")
AGE = QuasiIdentifier("age", "age", "year")
SEX = QuasiIdentifier("sex", "sex", "sex")
SIZE = QuasiIdentifier("size", "size", "exact")
QIS = (AREA, AGE, SEX, SIZE)


def people(rows: int, *, seed: int, tambons: int = 40, missing: float = 0.0) -> pd.DataFrame:
    """Synthetic microdata: villages in ``tambons`` tambons of a few provinces, ages 0-95, sex, size 1-9."""
    rng = np.random.default_rng(seed)
    codes = [f"{10 + t % 7:02d}{1 + t % 3:02d}{1 + t:02d}" for t in range(tambons)]
    tambon = rng.choice(codes, rows)
    moo = rng.integers(1, 9, rows)
    frame = pd.DataFrame(
        {
            "village": [f"{t}-{m:02d}" for t, m in zip(tambon, moo)],
            "age": rng.integers(0, 96, rows).astype(float),
            "sex": rng.choice(["M", "F"], rows),
            "size": rng.integers(1, 10, rows),
            "income": rng.normal(5000, 1500, rows).round(2),
        },
        index=pd.RangeIndex(1000, 1000 + rows * 3, 3),  # not 0..n-1: the index must survive
    )
    if missing:
        frame.loc[rng.random(rows) < missing, "age"] = np.nan
    return frame


def class_sizes(frame: pd.DataFrame, columns) -> pd.Series:
    return frame.groupby(list(columns), dropna=False).size()


def brute_force(frame, qis, k, max_suppression):
    """Every lattice node evaluated directly on the full frame with ``generalise``:
    {positions: (steps, suppressed, kept classes)}."""
    ladders = [LADDERS[qi.ladder] for qi in qis]
    ranges = [range(ladder.index(qi.min_level), len(ladder.levels)) for qi, ladder in zip(qis, ladders)]
    nodes = {}
    for positions in itertools.product(*ranges):
        generalised = pd.DataFrame(
            {
                qi.column: generalise(frame[qi.column], ladder=qi.ladder, level=ladder.levels[p].name)
                for qi, ladder, p in zip(qis, ladders, positions)
            }
        )
        sizes = class_sizes(generalised, generalised.columns)
        suppressed = int(sizes[sizes < k].sum())
        steps = sum(p - r.start for p, r in zip(positions, ranges))
        if suppressed <= max_suppression * len(frame):
            nodes[positions] = (steps, suppressed, int((sizes >= k).sum()))
    return nodes


# --- ladders ---------------------------------------------------------------------------------------------


def test_area_ladder_cuts_village_codes_and_leaves_tambon_codes_whole():
    areas = pd.Series(["100101-03", "500203", None, " 500203-12 ", ""], index=[7, 8, 9, 10, 11], name="area")
    expected = {
        "village": ["100101-03", "500203", "*", "500203-12", "*"],
        "tambon": ["100101", "500203", "*", "500203", "*"],
        "amphoe": ["1001", "5002", "*", "5002", "*"],
        "province": ["10", "50", "*", "50", "*"],
        "nation": ["TH", "TH", "*", "TH", "*"],
    }
    assert LADDERS["area"].level_names == tuple(expected)
    for level, values in expected.items():
        result = generalise(areas, ladder="area", level=level)
        assert result.tolist() == values
        assert result.index.tolist() == [7, 8, 9, 10, 11] and result.name == "area"


def test_age_ladder_bands_at_their_edges_and_missing_ages_become_star():
    ages = pd.Series([0, 4, 5, 19, 20, 35, 39, 95, np.nan])
    assert generalise(ages, ladder="age", level="year").tolist() == ["0", "4", "5", "19", "20", "35", "39", "95", "*"]
    assert generalise(ages, ladder="age", level="5y").tolist() == [
        "0-4", "0-4", "5-9", "15-19", "20-24", "35-39", "35-39", "95-99", "*"
    ]
    assert generalise(ages, ladder="age", level="10y").tolist() == [
        "0-9", "0-9", "0-9", "10-19", "20-29", "30-39", "30-39", "90-99", "*"
    ]
    assert generalise(ages, ladder="age", level="20y").tolist() == [
        "0-19", "0-19", "0-19", "0-19", "20-39", "20-39", "20-39", "80-99", "*"
    ]
    assert set(generalise(ages, ladder="age", level="any")) == {"*"}


def test_birth_year_ladder_takes_buddhist_era_years_as_given():
    years = pd.Series([2530, 2534, 2535, 2519, 1990, None], dtype="Int64")
    assert generalise(years, ladder="birth_year", level="year").tolist() == [
        "2530", "2534", "2535", "2519", "1990", "*"
    ]
    assert generalise(years, ladder="birth_year", level="5y").tolist() == [
        "2530-2534", "2530-2534", "2535-2539", "2515-2519", "1990-1994", "*"
    ]
    assert generalise(years, ladder="birth_year", level="10y").tolist() == [
        "2530-2539", "2530-2539", "2530-2539", "2510-2519", "1990-1999", "*"
    ]
    assert generalise(years, ladder="birth_year", level="20y").tolist() == [
        "2520-2539", "2520-2539", "2520-2539", "2500-2519", "1980-1999", "*"
    ]


def test_sex_and_household_size_ladders():
    sex = pd.Series(["M", "F", None])
    assert generalise(sex, ladder="sex", level="sex").tolist() == ["M", "F", "*"]
    assert generalise(sex, ladder="sex", level="any").tolist() == ["*", "*", "*"]
    size = pd.Series([1, 2, 3, 4, 5, 6, 7, 15, 0, None])
    assert generalise(size, ladder="size", level="exact").tolist() == [
        "1", "2", "3", "4", "5", "6", "7", "15", "*", "*"
    ]
    assert generalise(size, ladder="size", level="band").tolist() == [
        "1", "2", "3-4", "3-4", "5-6", "5-6", "7+", "7+", "*", "*"
    ]


def test_generalise_names_the_allowed_ladders_and_levels():
    with pytest.raises(ValueError, match="area, age, birth_year, sex, size"):
        generalise(pd.Series([1]), ladder="income", level="year")
    with pytest.raises(ValueError, match="year, 5y, 10y, 20y, any"):
        generalise(pd.Series([1]), ladder="age", level="tambon")


# --- k-anonymity -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 5, 11])
def test_every_published_class_has_at_least_k_rows(k):
    frame = people(20_000, seed=k, missing=0.01)
    out, report = k_anonymise(frame, quasi_identifiers=QIS, k=k)
    sizes = class_sizes(out, [qi.column for qi in QIS])  # recounted from the output, not from the report
    assert len(out) > 0
    assert sizes.min() >= k
    assert report.suppressed_share <= 0.05


def test_suppression_never_exceeds_the_allowed_share_and_other_columns_are_untouched():
    frame = people(5_000, seed=3)
    for max_suppression in (0.0, 0.01, 0.05, 0.2):
        out, report = k_anonymise(frame, quasi_identifiers=QIS, k=5, max_suppression=max_suppression)
        assert len(frame) - len(out) <= max_suppression * len(frame)
        assert out.index.isin(frame.index).all() and out.index.is_unique
        assert out["income"].equals(frame.loc[out.index, "income"])
        assert list(out.columns) == list(frame.columns)


def test_report_matches_the_output():
    frame = people(8_000, seed=4, missing=0.02)
    out, report = k_anonymise(frame, quasi_identifiers=QIS, k=5)
    sizes = class_sizes(out, [qi.column for qi in QIS])
    assert report.rows == len(frame)
    assert report.suppressed == len(frame) - len(out)
    assert report.suppressed_share == pytest.approx(report.suppressed / len(frame))
    assert report.classes == len(sizes)
    assert report.smallest_class == sizes.min()
    assert report.k == 5
    for qi in QIS:  # each QI column is exactly its generalisation at the reported level
        expected = generalise(frame.loc[out.index, qi.column], ladder=qi.ladder, level=report.levels[qi.column])
        assert out[qi.column].tolist() == expected.tolist()
    assert report.as_dict() == {
        "k": 5,
        "levels": report.levels,
        "rows": report.rows,
        "suppressed": report.suppressed,
        "suppressed_share": report.suppressed_share,
        "classes": report.classes,
        "smallest_class": report.smallest_class,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chosen_levels_agree_with_a_brute_force_search_of_the_whole_lattice(seed):
    frame = people(600, seed=seed, tambons=6, missing=0.01)
    qis = (QuasiIdentifier("village", "area", "tambon"), AGE, SEX)
    out, report = k_anonymise(frame, quasi_identifiers=qis, k=3, max_suppression=0.05)
    nodes = brute_force(frame, qis, 3, 0.05)
    fewest = min(steps for steps, _, _ in nodes.values())
    best = max(
        (classes, -suppressed, tuple(-p for p in positions))
        for positions, (steps, suppressed, classes) in nodes.items()
        if steps == fewest
    )
    chosen = tuple(LADDERS[qi.ladder].index(report.levels[qi.column]) for qi in qis)
    assert nodes[chosen][0] == fewest  # no qualifying node with fewer steps was skipped
    assert (nodes[chosen][2], -nodes[chosen][1], tuple(-p for p in chosen)) == best


def three_villages_two_ages() -> pd.DataFrame:
    # One tambon, three villages, each with one person aged 34 and one aged 35.
    villages = ["100101-01", "100101-02", "100101-03"]
    return pd.DataFrame({"village": [v for v in villages for _ in (0, 1)], "age": [34, 35] * 3})


def test_a_qualifying_node_one_step_up_is_not_skipped_for_a_finer_looking_one_further_up():
    # k=2, no suppression. Start (village, year): classes of 1. One step: (village, 5y) splits 34 | 35 and
    # fails; (tambon, year) gives 2 classes of 3 and qualifies. Two steps up, (village, 10y) would give
    # 3 classes of 2, more classes than (tambon, year), but it costs an extra generalisation step.
    frame = three_villages_two_ages()
    out, report = k_anonymise(
        frame, quasi_identifiers=[QuasiIdentifier("village", "area", "village"), AGE], k=2, max_suppression=0
    )
    assert report.levels == {"village": "tambon", "age": "year"}
    assert report.classes == 2 and report.suppressed == 0
    assert sorted(out["age"]) == ["34", "34", "34", "35", "35", "35"]


def test_within_a_layer_most_classes_win_then_the_earlier_listed_quasi_identifier_stays_finer():
    # Two villages, each with ages 30 and 31: (tambon, year) and (village, 5y) both give 2 classes of 2.
    frame = pd.DataFrame({"village": ["100101-01"] * 2 + ["100101-02"] * 2, "age": [30, 31, 30, 31]})
    area_first = [QuasiIdentifier("village", "area", "village"), AGE]
    _, report = k_anonymise(frame, quasi_identifiers=area_first, k=2, max_suppression=0)
    assert report.levels == {"village": "village", "age": "5y"}
    _, report = k_anonymise(frame, quasi_identifiers=area_first[::-1], k=2, max_suppression=0)
    assert report.levels == {"age": "year", "village": "tambon"}


def test_search_starts_at_the_contract_minimum_levels():
    frame = people(3_000, seed=5)
    qis = [QuasiIdentifier("village", "area", "amphoe"), QuasiIdentifier("age", "age", "10y")]
    out, report = k_anonymise(frame, quasi_identifiers=qis, k=2)
    assert LADDERS["area"].index(report.levels["village"]) >= LADDERS["area"].index("amphoe")
    assert LADDERS["age"].index(report.levels["age"]) >= LADDERS["age"].index("10y")
    assert out["village"].str.len().max() <= 4


def test_fewer_rows_than_k_suppresses_everything_and_says_so():
    frame = people(4, seed=6)
    out, report = k_anonymise(frame, quasi_identifiers=QIS, k=5)
    assert out.empty and list(out.columns) == list(frame.columns)
    assert report.rows == 4 and report.suppressed == 4 and report.suppressed_share == 1.0
    assert report.classes == 0 and report.smallest_class == 0
    out, report = k_anonymise(frame.iloc[0:0], quasi_identifiers=QIS, k=5)
    assert out.empty and report.rows == 0 and report.suppressed_share == 0.0


def test_no_qualifying_node_raises():
    # Missing areas stay "*" apart from "TH" up to the top: 3 of 10 rows in a class smaller than k=5.
    frame = pd.DataFrame({"village": ["100101-01"] * 7 + [None] * 3, "age": range(10)})
    with pytest.raises(ValueError, match="no generalisation reaches k=5"):
        k_anonymise(frame, quasi_identifiers=[AREA, AGE], k=5, max_suppression=0.05)
    _, report = k_anonymise(frame, quasi_identifiers=[AREA, AGE], k=5, max_suppression=0.3)
    assert report.suppressed == 3


def test_bad_arguments_are_refused():
    frame = people(50, seed=7)
    with pytest.raises(ValueError, match="k must be"):
        k_anonymise(frame, quasi_identifiers=QIS, k=0)
    with pytest.raises(ValueError, match="max_suppression"):
        k_anonymise(frame, quasi_identifiers=QIS, max_suppression=1.5)
    with pytest.raises(ValueError, match="twice"):
        k_anonymise(frame, quasi_identifiers=[AREA, AREA])
    with pytest.raises(ValueError, match="not in the frame"):
        k_anonymise(frame, quasi_identifiers=[QuasiIdentifier("tambon", "area", "tambon")])
    with pytest.raises(ValueError, match="allowed: village, tambon"):
        k_anonymise(frame, quasi_identifiers=[QuasiIdentifier("village", "area", "district")])
    with pytest.raises(ValueError, match="no quasi-identifiers"):
        k_anonymise(frame, quasi_identifiers=[])


def test_report_is_a_frozen_value():
    report = KAnonymityReport(5, {"village": "tambon"}, 10, 0, 0.0, 2, 5)
    with pytest.raises(AttributeError):
        report.k = 3


def test_too_many_distinct_combinations_to_encode_asks_for_coarser_start_levels():
    # Six QIs with 2,000 distinct values each: 6.4e19 combinations do not fit one 64-bit key.
    frame = pd.DataFrame({f"age{i}": np.arange(2_000) * (i + 1) for i in range(6)})
    qis = [QuasiIdentifier(f"age{i}", "age", "year") for i in range(6)]
    with pytest.raises(ValueError, match="coarser min_level"):
        k_anonymise(frame, quasi_identifiers=qis, k=2)
    _, report = k_anonymise(frame, quasi_identifiers=[QuasiIdentifier(q.column, "age", "20y") for q in qis], k=2)
    assert report.smallest_class >= 2


def test_the_level_names_contracts_are_checked_against_are_the_ladders_levels():
    from hub.anonymise.generalise import LADDERS
    from hub.anonymise.levels import LEVELS

    assert {name: ladder.level_names for name, ladder in LADDERS.items()} == LEVELS
