"""The probabilistic stage: a Fellegi-Sunter model in Splink (DuckDB, in memory) with Thai-aware
comparisons, trained on the hub's own deterministic links.

- **Comparisons**: first and last name (exact, Jaro-Winkler on letters, LK82 or Prayut & Somchaip
  soundex), birth date (exact, day and month swapped, one day apart, one year apart, the eras confused,
  the same month or year of a partial date), sex, area (same house, tambon, amphoe, province) and the
  citizen ID (the same, or one edit apart through the keyed deletion variants).
- **Training**: the m probabilities are counted on the pairs that share a valid citizen ID (the
  deterministic links: labels the hub has for free), u by random sampling, and the prior from the same
  links. The ID comparison's m is fixed: labelled pairs all agree on it.
- **Pairs scored**: only those the deterministic stage could not decide: at least one record has no valid
  ID, or the two valid IDs are one edit apart. Two different valid IDs far apart are two people.
"""
from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import duckdb
import pandas as pd

from hub.linking.records import FEATURE_COLUMNS

#: Blocking: each rule is a cheap equality that true matches with common errors still satisfy.
BLOCKING_RULES = (
    "l.fn_lk = r.fn_lk AND l.byear = r.byear AND l.sex = r.sex",
    "l.fn_lk = r.fn_lk AND l.ln_lk = r.ln_lk",
    "l.tambon = r.tambon AND l.byear = r.byear",
    "l.house = r.house",
    "l.near = r.near",
)
#: Pairs the deterministic stage leaves open (appended to every blocking rule).
UNDECIDED = "(l.id_valid IS NULL OR r.id_valid IS NULL OR (l.near = r.near AND l.id_valid <> r.id_valid))"
#: In an incremental run only pairs with a new or changed record are scored.
TOUCHED = "(l.dirty OR r.dirty)"
U_SAMPLE_PAIRS = 1_000_000
ONE_EDIT_LEVEL = 1  # the gamma of "one edit apart" in the ID comparison
DIFFERENT_LEVEL = 0  # the gamma of every comparison's last level ("different", "elsewhere")


def _level(sql: str, label: str, m: float, u: float, *, fixed_m: bool = False) -> dict:
    """A comparison level with its built-in m and u (trained on the synthetic population, see
    ``docs/linking.md``): training replaces them where the hub's own data shows the level."""
    level = {"sql_condition": sql, "label_for_charts": label, "m_probability": m, "u_probability": u}
    if fixed_m:
        level["fix_m_probability"] = True
    return level


def _null(sql: str) -> dict:
    return {"sql_condition": sql, "label_for_charts": "missing", "is_null_level": True}


#: What differs between the SQL engines Splink runs the comparisons on: DuckDB (embedded) and Spark (Splink
#: registers its Jaro-Winkler from the jar it ships).
_FUNCTIONS = {
    "duckdb": {"jaro_winkler": "jaro_winkler_similarity", "days_apart": "date_diff('day', dob_l, dob_r)"},
    "spark": {"jaro_winkler": "jaro_winkler", "days_apart": "datediff(dob_l, dob_r)"},
}


def _name(column: str, label: str, m: tuple[float, ...], u: tuple[float, ...], dialect: str) -> dict:
    left, right = f"{column}_l", f"{column}_r"
    lk, ps = column + "_lk", column + "_ps"
    jaro_winkler = _FUNCTIONS[dialect]["jaro_winkler"]
    conditions = (
        (f"{left} = {right}", "exact"),
        (f"{jaro_winkler}({left}, {right}) >= 0.92", "Jaro-Winkler >= 0.92"),
        (f"{lk}_l = {lk}_r OR {ps}_l = {ps}_r", "sounds the same"),
        (f"{jaro_winkler}({left}, {right}) >= 0.8", "Jaro-Winkler >= 0.8"),
        ("ELSE", "different"),
    )
    return {"output_column_name": column, "comparison_description": label, "comparison_levels": [
        _null(f"{left} IS NULL OR {right} IS NULL"),
        *(_level(sql, name, m_, u_) for (sql, name), m_, u_ in zip(conditions, m, u))]}


def _birth(dialect: str) -> dict:
    return {"output_column_name": "birth", "comparison_description": "birth date", "comparison_levels": [
        _null("byear_l IS NULL OR byear_r IS NULL"),
        _level("dob_l = dob_r", "exact", 0.95, 5e-5),
        _level("byear_l = byear_r AND bmonth_l = bday_r AND bday_l = bmonth_r", "day and month swapped", 0.006,
               1.5e-5),
        _level(f"abs({_FUNCTIONS[dialect]['days_apart']}) <= 1", "one day apart", 0.015, 9e-5),
        _level("abs(byear_l - byear_r) = 1 AND bmonth_l = bmonth_r AND bday_l = bday_r", "one year apart", 0.008,
               9e-5),
        _level("abs(byear_l - byear_r) = 543 AND bmonth_l = bmonth_r AND bday_l = bday_r", "eras confused", 0.001,
               5e-7),
        _level("byear_l = byear_r AND bmonth_l = bmonth_r", "same year and month", 0.014, 0.0011),
        _level("byear_l = byear_r", "same year", 0.007, 0.014),
        _level("ELSE", "different", 0.001, 0.985),
    ]}
_SEX = {"output_column_name": "sex", "comparison_description": "sex", "comparison_levels": [
    _null("sex_l IS NULL OR sex_r IS NULL"),
    _level("sex_l = sex_r", "same", 0.999, 0.5),
    _level("ELSE", "different", 0.001, 0.5),
]}
_AREA = {"output_column_name": "area", "comparison_description": "where they live", "comparison_levels": [
    _null("tambon_l IS NULL OR tambon_r IS NULL"),
    _level("house_l = house_r", "same house", 0.59, 7e-5),
    _level("tambon_l = tambon_r", "same tambon", 0.38, 0.008),
    _level("amphoe_l = amphoe_r", "same amphoe", 0.005, 0.015),
    _level("province_l = province_r", "same province", 0.02, 0.34),
    _level("ELSE", "elsewhere", 0.005, 0.64),
]}
#: The ID comparison's m is fixed (labelled pairs all agree on the ID): from the partners' error rates.
_ID = {"output_column_name": "citizen_id", "comparison_description": "citizen ID", "comparison_levels": [
    _null("id_any_l IS NULL OR id_any_r IS NULL"),
    _level("id_any_l = id_any_r", "same", 0.95, 1.2e-5, fixed_m=True),
    _level("near_l = near_r", "one edit apart", 0.04, 5e-7, fixed_m=True),
    _level("ELSE", "different", 0.01, 0.99999, fixed_m=True),
]}


def comparisons(dialect: str) -> tuple[dict, ...]:
    """The comparisons with their built-in m and u, their SQL in ``dialect`` (``duckdb`` or ``spark``)."""
    return (
        _name("fn", "first name", m=(0.97, 0.018, 0.01, 0.001, 0.001), u=(0.0019, 0.00014, 0.0019, 0.0016, 0.994),
              dialect=dialect),
        _name("ln", "last name", m=(0.94, 0.016, 0.006, 0.001, 0.037), u=(0.004, 0.00012, 0.002, 0.0019, 0.992),
              dialect=dialect),
        _birth(dialect), _SEX, _AREA, _ID,
    )


COMPARISONS = comparisons("duckdb")


def _quiet_splink() -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)


def frame(rows: Sequence[tuple]) -> pd.DataFrame:
    """The comparison frame from :func:`hub.linking.records.feature_row` tuples."""
    df = pd.DataFrame.from_records(rows, columns=FEATURE_COLUMNS)
    df["dob"] = pd.to_datetime(df["dob"])
    for column in ("byear", "bmonth", "bday", "near"):
        df[column] = df[column].astype("Int64")
    return df


def _rules(extra: Sequence[str]) -> list[str]:
    return [" AND ".join((rule, *extra)) for rule in BLOCKING_RULES]


def _linker(df: pd.DataFrame, settings: dict):
    from splink import DuckDBAPI, Linker

    connection = duckdb.connect()  # in memory
    connection.execute("SET threads = 2")
    # never spill to disk: the frame holds names in clear, which must not reach a file
    connection.execute("SET temp_directory = ''")
    return Linker(df, settings, db_api=DuckDBAPI(connection=connection), set_up_basic_logging=False)


def prior(label_group_sizes: Sequence[int], records: int) -> float:
    """The chance two random records match, from the deterministic groups (the pairs they hold among all
    pairs of the records that have a valid ID)."""
    labelled = sum(label_group_sizes)
    matched = sum(n * (n - 1) // 2 for n in label_group_sizes)
    total = labelled * (labelled - 1) // 2
    if not matched or not total:
        return 1 / max(records, 2)
    return min(max(matched / total, 1e-9), 0.5)


def train(df: pd.DataFrame, probability_two_random_records_match: float, *, estimate_m: bool = True) -> dict:
    """A trained model (Splink settings with m and u) for ``df``: u from random pairs, m from the pairs
    that share a valid ID when ``estimate_m`` (else the built-in m values stand)."""
    _quiet_splink()
    settings = {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "probability_two_random_records_match": probability_two_random_records_match,
        "comparisons": copy.deepcopy(list(COMPARISONS)),
        "blocking_rules_to_generate_predictions": _rules([UNDECIDED]),
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
    }
    linker = _linker(df, settings)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=2566)
    if estimate_m:
        linker.training.estimate_m_from_label_column("id_valid")
    return _fill_unobserved(linker.misc.save_model_to_json())


def _fill_unobserved(model: dict) -> dict:
    """Give the levels that training could not observe their built-in m or u back, instead of Splink's
    silent defaults."""
    for trained, built_in in zip(model["comparisons"], COMPARISONS):
        for level, default in zip(trained["comparison_levels"], built_in["comparison_levels"]):
            for key in ("m_probability", "u_probability"):
                if key in default and level.get(key) is None:
                    level[key] = default[key]
    return model


def score(df: pd.DataFrame, model: dict, *, threshold: float, only_touched: bool, engine: str = "duckdb",
          spark_master: str = "local[2]") -> pd.DataFrame:
    """The undecided pairs of ``df`` that ``model`` scores at ``threshold`` or above: columns
    ``unique_id_l``, ``unique_id_r``, ``match_probability``, ``match_weight`` and one ``gamma_<comparison>``
    level per comparison. With ``only_touched``, only pairs with a ``dirty`` record are scored. ``engine``:
    where Splink runs, DuckDB in this process or Spark (:mod:`hub.linking.spark`, at ``spark_master``); both
    give the same pairs and probabilities."""
    _quiet_splink()
    settings = in_dialect(model, engine)
    settings["blocking_rules_to_generate_predictions"] = _rules([UNDECIDED, TOUCHED] if only_touched else [UNDECIDED])
    settings["retain_matching_columns"] = True  # Splink writes the gamma levels only with these
    settings["retain_intermediate_calculation_columns"] = True
    if engine == "spark":
        from hub.linking.spark import spark_linker

        linker = spark_linker(df, settings, spark_master)
    else:
        linker = _linker(df, settings)
    pairs = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    keep = ["unique_id_l", "unique_id_r", "match_probability", "match_weight"] + \
        [f"gamma_{c['output_column_name']}" for c in COMPARISONS]
    return pairs[keep]


def in_dialect(model: dict, dialect: str) -> dict:
    """A copy of ``model`` (trained, as stored) with its comparisons' SQL in ``dialect``; m and u unchanged."""
    out = copy.deepcopy(model)
    out["sql_dialect"] = dialect
    for trained, spoken in zip(out["comparisons"], comparisons(dialect), strict=True):
        for level, sql in zip(trained["comparison_levels"], spoken["comparison_levels"], strict=True):
            level["sql_condition"] = sql["sql_condition"]
    return out


def level_labels(model: dict) -> dict[str, dict[int, str]]:
    """Comparison -> gamma level -> the level's label, to show the evidence for a pair."""
    out = {}
    for comparison in model["comparisons"]:
        levels = comparison["comparison_levels"]
        non_null = [lv for lv in levels if not lv.get("is_null_level")]
        labels = {len(non_null) - 1 - i: lv["label_for_charts"] for i, lv in enumerate(non_null)}
        labels[-1] = "missing"
        out[comparison["output_column_name"]] = labels
    return out

