"""Alkire-Foster figures against a hand-computed example, and the area hierarchy they are summed over."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from contracts.model import View
from hub.views.aggregate import build_aggregate
from hub.views.facts import measure_columns
from hub.views.figures import CAPITALS, DIMENSIONS, REFERRAL_MEASURES, VULNERABILITIES

# ten households in one village; how many of the five dimensions each is deprived in
DEPRIVATIONS = [0, 0, 1, 2, 2, 3, 4, 5, 1, 0]


def _facts(deprivations: list[int], village: str = "340101-01") -> pd.DataFrame:
    n = len(deprivations)
    zeros = np.zeros(n, dtype=np.int64)
    columns = {"persons": np.full(n, 3), "tpmap_persons": zeros, "target_poor": zeros, "eef_students": zeros,
               "eef_poor": zeros, "eef_extremely_poor": zeros, "referrals": zeros, "seen_by": np.ones(n, dtype=int),
               "deprivation_count": np.array(deprivations), "village": [village] * n}
    for name in ("msdhs_households", "msdhs_assisted", "surveyed", "verified_poor", "inclusion_errors",
                 "exclusion_errors", "in_need", "in_need_unserved", *(f"deprived_{d}" for d in DIMENSIONS)):
        columns[name] = np.zeros(n, dtype=bool)
    for name in REFERRAL_MEASURES:
        columns[name] = zeros
    columns["community_verified"] = np.zeros(n, dtype=bool)
    for v in VULNERABILITIES:
        columns[f"vulnerable_{v}"] = zeros
    for c in CAPITALS:
        columns[f"capital_{c}_sum"] = np.zeros(n)
    return pd.DataFrame(columns, index=[f"h{i}" for i in range(n)])


def _view(**kw) -> View:
    return View(name="mpi_test", title="test", purpose="research_statistics", level="village", figures=["mpi"],
                mpi_cutoff=2, threshold=2, roll_up_small_villages=False, **kw)


def test_mpi_matches_the_hand_computed_example():
    # cut-off 2: households 4-8 are poor (2, 2, 3, 4, 5 deprivations): q = 5 of n = 10, H = 0.5;
    # censored deprivations 16 of a possible 5 x 5 = 25, A = 0.64; MPI = H x A = 16 / (5 x 10) = 0.32
    table = build_aggregate(_facts(DEPRIVATIONS), _view())
    village = table.cells.loc["340101-01", "figures"]
    assert (village["households"], village["mpi_poor"], village["mpi_deprivations"]) == (10, 5, 16)
    assert (village["mpi_H"], village["mpi_A"], village["mpi"]) == (0.5, 0.64, 0.32)
    assert village["mpi"] == pytest.approx(village["mpi_H"] * village["mpi_A"])


def test_a_higher_cut_off_counts_fewer_poor():
    measures = measure_columns(_facts(DEPRIVATIONS), mpi_cutoff=4)
    assert (measures["mpi_poor"].sum(), measures["mpi_deprivations"].sum()) == (2, 9)


def test_every_level_up_to_the_nation_sums_the_villages_below():
    facts = pd.concat([_facts(DEPRIVATIONS, "340101-01"), _facts([3] * 6, "340101-02").rename(lambda i: i + "b"),
                       _facts([1] * 4, "500101-01").rename(lambda i: i + "c")])
    cells = build_aggregate(facts, _view()).cells
    assert list(cells["level"].unique()) == ["village", "tambon", "amphoe", "province", "nation"]
    assert cells.loc["340101", "figures"]["mpi_poor"] == 5 + 6
    assert cells.loc["TH", "figures"]["households"] == 20
    assert cells.loc["340101-01", "parent"] == "340101" and cells.loc["3401", "parent"] == "34"
    assert cells.loc["34", "parent"] == "TH" and cells.loc["TH", "parent"] is None


def test_the_indicator_crosswalk_is_data_with_every_indicator_in_a_dimension():
    from hub.thai.indicators import crosswalk, dimensions_failed

    table = crosswalk("jpt-2560-2564")
    assert len(table) == 17 and {i.dimension for i in table.values()} == set(DIMENSIONS)
    assert table["I3"].name_th == "รายได้เฉลี่ยของคนในครัวเรือนต่อปี"
    assert dimensions_failed(["H2", "L1", "L4", "XX"]) == {"health", "living"}
