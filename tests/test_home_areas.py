"""A household's home area: the (tambon, moo) most of its records give, decided the same way whatever the
order of the records (consent and the views both place a household there)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from consent.population import COMMUNITY_ENTERED, home_areas


def _frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["household_id", "tambon", "moo", "source"])


def _homes(frame: pd.DataFrame) -> dict[str, tuple]:
    out = home_areas(frame)
    return {h: (t, None if pd.isna(m) else int(m)) for h, t, m in
            zip(out["household_id"], out["tambon"], out["moo"])}


def test_the_most_common_area_wins_and_every_record_gets_it():
    frame = _frame([("h1", "340101", 2, "tpmap"), ("h1", "340101", 2, "eef_students"), ("h1", "340104", 5, "tpmap"),
                    ("h2", "100101", None, "tpmap")])
    out = home_areas(frame)
    assert out["tambon"].tolist() == ["340101", "340101", "340101", "100101"]
    assert out["moo"].tolist()[:3] == [2.0, 2.0, 2.0] and np.isnan(out["moo"].tolist()[3])


def test_ties_go_to_the_smallest_tambon_then_the_smallest_moo_and_a_missing_moo_last():
    assert _homes(_frame([("h", "340104", 1, "tpmap"), ("h", "340101", 9, "tpmap")])) == {"h": ("340101", 9)}
    assert _homes(_frame([("h", "340101", 7, "tpmap"), ("h", "340101", 3, "tpmap")])) == {"h": ("340101", 3)}
    assert _homes(_frame([("h", "340101", None, "tpmap"), ("h", "340101", 4, "tpmap")])) == {"h": ("340101", 4)}


def test_the_answer_does_not_depend_on_the_order_of_the_records():
    rng = np.random.default_rng(7)
    rows = [(f"h{rng.integers(30)}", str(rng.choice(["340101", "340104", "100101"])),
             None if rng.random() < 0.2 else int(rng.integers(1, 4)), "tpmap") for _ in range(600)]
    forward = _homes(_frame(rows))
    assert _homes(_frame(rows[::-1])) == forward
    assert _homes(_frame([rows[i] for i in rng.permutation(len(rows))])) == forward


def test_a_community_entry_votes_only_where_no_agency_knows_the_household():
    known = _frame([("h", "340101", 1, "tpmap"), ("h", "340104", 2, COMMUNITY_ENTERED),
                    ("h", "340104", 2, COMMUNITY_ENTERED)])
    assert _homes(known) == {"h": ("340101", 1)}  # outvoted two to one, yet the agency's record decides
    unknown = _frame([("h", "340104", 2, COMMUNITY_ENTERED), ("h", "340104", 2, COMMUNITY_ENTERED)])
    assert _homes(unknown) == {"h": ("340104", 2)}


def test_without_a_source_column_every_record_votes():
    frame = _frame([("h", "340101", 1, "tpmap"), ("h", "340104", 2, COMMUNITY_ENTERED),
                    ("h", "340104", 2, COMMUNITY_ENTERED)]).drop(columns="source")
    assert _homes(frame) == {"h": ("340104", 2)}
