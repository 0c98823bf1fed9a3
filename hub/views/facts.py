"""Facts per linked person and household, from every source's stored records (no decryption: views are
built from the clear, non-identifying columns, the facts ingest took out of the records' attributes
(:mod:`hub.record_facts`) and the household units' ``attributes``).

:func:`load_inputs` reads the store once per publish; :func:`household_facts` and :func:`person_facts`
then build, for the records one view may use (its consent mask), one row per household and per person.
Every figure of :mod:`hub.views.figures` is a column of the household facts, so an area's figure is a sum.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Connection, Text, cast, select

from consent.population import Population, cid_refs, home_areas
from hub.community import REFERRAL_STATUSES, overdue
from hub.community.verification import latest_statuses
from hub.db.frames import read_frame
from hub.db.schema import linked_records, record_links, referrals, source_households, source_records
from hub.record_facts import FACT_BIT
from hub.views.figures import CAPITALS, DIMENSIONS, REFERRAL_MEASURES, VULNERABILITIES

SOURCES = ("tpmap", "msdhs_logbook", "eef_students", "university_survey")  # the agencies, for coverage
FOUND = "community_found"  # households a community found: its verdict, not an agency's sighting
NO_VILLAGE = "00"  # households outside villages (municipal areas): "TTTTTT-00"
_EEF_RANK = {"not_eligible": 1, "poor": 2, "extremely_poor": 3}
EEF_STATUS = {rank: status for status, rank in _EEF_RANK.items()}


@dataclass(frozen=True)
class Inputs:
    """Every stored record (``records``, one row each, with its household's home area) and household unit
    (``units``: logbooks and surveys), with the source facts views use parsed out of ``attributes``. Both
    carry their household's integer code (``household_code``, -1 for a unit whose household has no record;
    records also ``person_code``): :meth:`Population.codes`, so facts group by integers, not strings."""

    records: pd.DataFrame
    units: pd.DataFrame
    population: Population  # the same rows as ``records``, for consent decisions
    verdicts: pd.Series  # household id -> its stewards' newest verification (poor, not_poor, moved, deceased)
    found: pd.Series  # household id -> poor or not_poor, as the stewards who entered it found it
    referrals: pd.DataFrame  # household id -> referrals made, and by status (:data:`REFERRAL_MEASURES`)


def _parsed(values: pd.Series) -> list[dict]:
    return [orjson.loads(v) for v in values.tolist()]


def _record_query():
    """Each record's clear columns and the facts views use, which ingest took out of its attributes
    (:mod:`hub.record_facts`)."""
    r, links = source_records, record_links
    return select(
        r.c.source, links.c.person_id, links.c.household_id, r.c.linkage_key, r.c.sex, r.c.birth_year,
        r.c.tambon_code.label("tambon"), r.c.moo, r.c.fact_bits, r.c.fact_status.label("status"),
        r.c.fact_grade.label("grade"), r.c.fact_vulnerabilities.label("vulnerabilities")).select_from(linked_records)


def _record_facts(frame: pd.DataFrame) -> pd.DataFrame:
    """The stored facts as typed columns, each meaningful only for its own source's records."""
    source = frame["source"].to_numpy()
    tpmap, eef, msdhs = source == "tpmap", source == "eef_students", source == "msdhs_logbook"
    bits = frame.pop("fact_bits").to_numpy(dtype=np.int64)

    def flag(name: str, mine: np.ndarray) -> np.ndarray:
        return mine & (bits & FACT_BIT[name] > 0)

    for d in DIMENSIONS:
        frame[f"tp_{d}"] = flag(d, tpmap)
    frame["welfare_card"] = flag("welfare_card", tpmap)
    frame["eef_rank"] = np.where(eef, frame.pop("status").map(_EEF_RANK).fillna(0), 0).astype(np.int8)
    frame["eef_cct"] = flag("cct", eef)
    frame["grade"] = frame["grade"].where(eef, None)
    codes, lists = pd.factorize(frame.pop("vulnerabilities").where(msdhs, "").fillna(""))  # few distinct lists
    for v in VULNERABILITIES:
        frame[f"vul_{v}"] = np.array([v in text.split(";") for text in lists], dtype=bool)[codes]
    return frame


def _unit_facts(units: pd.DataFrame, attributes: list[dict]) -> pd.DataFrame:
    source = units["source"].to_numpy()
    msdhs, survey = source == "msdhs_logbook", source == "university_survey"
    out = {}
    for d in DIMENSIONS:
        out[f"need_{d}"] = np.fromiter(
            (bool((a.get("needs") or {}).get(d)) or d in (a.get("problems") or ()) for a in attributes), bool,
            len(units))
    out["assisted"] = msdhs & np.fromiter((bool(a.get("assistance")) for a in attributes), bool, len(units))
    for c in CAPITALS:
        out[f"capital_{c}"] = np.where(survey, [(a.get("capitals") or {}).get(c, 0.0) for a in attributes], 0.0)
    verification = np.array([a.get("verification") for a in attributes], dtype=object)
    out["surveyed"] = survey
    out["verified_poor"] = survey & np.fromiter((a.get("verified_poor") is True for a in attributes), bool, len(units))
    out["inclusion_error"] = survey & (verification == "inclusion_error")
    out["exclusion_error"] = survey & (verification == "exclusion_error")
    out["verification"] = np.where(survey, verification, None)
    out["referrals"] = np.where(survey, [len(a.get("referrals") or ()) for a in attributes], 0)
    return pd.DataFrame(out, index=units.index)


def load_inputs(conn: Connection, today: dt.date | None = None) -> Inputs:
    """Read every stored record and household unit, community verification and referral once (a publish
    builds all its views from this); referrals overdue on ``today`` (default: today, UTC) are counted so."""
    today = today or dt.datetime.now(dt.UTC).date()
    records = read_frame(conn, _record_query())
    records["cid"] = cid_refs(records.pop("linkage_key"))
    households = pd.factorize(records["household_id"])
    records = _with_source_flags(_record_facts(home_areas(records, households[0])))
    h = source_households
    units = read_frame(conn, select(h.c.source, h.c.household_id, cast(h.c.attributes, Text).label("attributes"))
                  .where(h.c.deleted.is_(False)))  # as text: orjson parses it, not the driver's json module
    units = _with_source_flags(pd.concat([units, _unit_facts(units, _parsed(units.pop("attributes")))], axis=1))
    population = Population(records[["person_id", "household_id", "cid", "tambon", "moo"]], households)
    records["person_code"], records["household_code"] = population.codes("person"), population.codes("household")
    units["household_code"] = population.labels("household").get_indexer(units["household_id"])
    verdicts = pd.Series(latest_statuses(conn), dtype=object)
    return Inputs(records, units, population, verdicts, _found(conn), _referral_counts(conn, today))


def _found(conn: Connection) -> pd.Series:
    """What the stewards who entered a household found it (:mod:`adapters.community_found`), its newest entry."""
    h = source_households
    found = read_frame(conn, select(h.c.household_id, h.c.attributes["verified_poor"].as_boolean().label("poor"))
                  .where(h.c.source == FOUND, h.c.deleted.is_(False)).order_by(h.c.run_id, h.c.line))
    found["status"] = np.where(found.pop("poor").to_numpy(dtype=object) == True, "poor", "not_poor")  # noqa: E712
    return found.drop_duplicates("household_id", keep="last").set_index("household_id")["status"]


def _referral_counts(conn: Connection, today: dt.date) -> pd.DataFrame:
    r = referrals
    rows = read_frame(conn, select(r.c.household_id, r.c.status, r.c.referred_on))
    counts = pd.DataFrame({"household_id": rows["household_id"], "referrals": 1,
                           **{f"referrals_{s}": (rows["status"] == s).astype(np.int64) for s in REFERRAL_STATUSES},
                           "referrals_overdue": [overdue(s, pd.Timestamp(d).date(), today)
                                                 for s, d in zip(rows["status"], rows["referred_on"])]})
    return counts.groupby("household_id").sum().astype(np.int64)


def village_of(tambon: pd.Series, moo: pd.Series) -> pd.Series:
    """``TTTTTT-MM``, or ``TTTTTT-00`` outside villages."""
    numbers = moo.astype("Int64").astype("string").fillna(NO_VILLAGE).str.zfill(2)
    return (tambon.astype("string") + "-" + numbers).astype(object)


_FROM = [f"from_{s}" for s in SOURCES]


def _with_source_flags(frame: pd.DataFrame) -> pd.DataFrame:
    source = frame["source"].to_numpy()
    return frame.assign(**{f"from_{s}": source == s for s in SOURCES})


def joined_names(flags: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Per row of the boolean matrix ``flags`` (one column per name), the names flagged, joined by ``;``
    (``""`` for none)."""
    return names_of_bits(flags.astype(np.int64) @ (1 << np.arange(len(names), dtype=np.int64)), names)


def names_of_bits(bits: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Per integer of ``bits`` (bit i: ``names[i]``), the names set, joined by ``;``: looked up in a table
    of every combination."""
    table = np.array([";".join(n for i, n in enumerate(names) if b >> i & 1) for b in range(1 << len(names))],
                     dtype=object)
    return table[bits]


def _bits(flags: pd.DataFrame) -> np.ndarray:
    """Per row, the sources flagged as one integer (bit i: ``SOURCES[i]``)."""
    return sum(flags[f"from_{s}"].to_numpy().astype(np.int64) << i for i, s in enumerate(SOURCES))


def household_facts(inputs: Inputs, allowed: np.ndarray) -> pd.DataFrame:
    """One row per household with at least one allowed record, indexed by household id: its
    ``household_code``, home ``village``, ``tambon``, and every measure column (0/1 flags and counts). A
    household's logbook or survey unit counts only with it."""
    records = inputs.records[allowed]
    persons = records.groupby("person_code", sort=False).agg(
        household_code=("household_code", "first"), tambon=("tambon", "first"), moo=("moo", "first"),
        **{f"tp_{d}": (f"tp_{d}", "any") for d in DIMENSIONS}, welfare_card=("welfare_card", "any"),
        in_tpmap=("from_tpmap", "any"), eef_rank=("eef_rank", "max"), eef_cct=("eef_cct", "any"),
        **{f"vul_{v}": (f"vul_{v}", "any") for v in VULNERABILITIES})
    persons["tp_any"] = persons[[f"tp_{d}" for d in DIMENSIONS]].any(axis=1)
    persons["target_poor"] = persons["tp_any"] & persons["welfare_card"]
    homes = persons.groupby("household_code", sort=False)
    facts = homes.agg(tambon=("tambon", "first"), moo=("moo", "first"), persons=("tambon", "size"),
                      **{f"deprived_{d}": (f"tp_{d}", "any") for d in DIMENSIONS},
                      tpmap_persons=("in_tpmap", "sum"), target_poor=("target_poor", "sum"),
                      served_by_card=("welfare_card", "any"), served_by_eef=("eef_cct", "any"),
                      **{f"vulnerable_{v}": (f"vul_{v}", "sum") for v in VULNERABILITIES})
    ranks = persons["eef_rank"].to_numpy()
    for name, test in (("eef_students", ranks > 0), ("eef_poor", ranks == 2), ("eef_extremely_poor", ranks == 3)):
        facts[name] = pd.Series(test, index=persons.index).groupby(persons["household_code"]).sum()
    seen = records.groupby("household_code", sort=False)[_FROM].any()

    units = inputs.units[inputs.units["household_code"].isin(facts.index)]
    by_unit = units.groupby("household_code", sort=False)
    unit_facts = by_unit.agg(
        **{f"need_{d}": (f"need_{d}", "any") for d in DIMENSIONS}, msdhs_assisted=("assisted", "any"),
        surveyed=("surveyed", "any"), verified_poor=("verified_poor", "any"),
        inclusion_errors=("inclusion_error", "any"), exclusion_errors=("exclusion_error", "any"),
        referrals=("referrals", "sum"), verification=("verification", "last"),
        **{f"capital_{c}_sum": (f"capital_{c}", "max") for c in CAPITALS})
    seen = seen | by_unit[_FROM].any().reindex(seen.index, fill_value=False)
    facts = facts.join(unit_facts.drop(columns="referrals"), how="left")
    flags = [c for c in unit_facts.columns if c not in ("referrals", "verification") and not c.startswith("capital_")]
    facts[flags] = facts[flags].fillna(False).astype(bool)
    # what the stewards who entered a household said counts only while no agency knows it; a household an
    # agency knows is verified like any other (hub.community.verification), never by entering it again
    households = inputs.population.labels("household")
    unknown = (seen.reindex(facts.index).sum(axis=1) == 0).to_numpy()
    found = _by_code(inputs.found, households).reindex(facts.index).where(unknown)
    _apply_verdicts(facts, _by_code(inputs.verdicts, households).reindex(facts.index).combine_first(found))
    referral_counts = _by_code(inputs.referrals, households).reindex(facts.index, fill_value=0)
    for name in ("referrals", *REFERRAL_MEASURES):
        facts[name] = referral_counts[name].to_numpy()
    for c in CAPITALS:
        facts[f"capital_{c}_sum"] = facts[f"capital_{c}_sum"].fillna(0.0)
    facts["sources"] = _bits(seen.reindex(facts.index))
    facts["msdhs_households"] = (facts["sources"] & (1 << SOURCES.index("msdhs_logbook"))) > 0
    deprived = np.column_stack([facts[f"deprived_{d}"] | facts[f"need_{d}"] for d in DIMENSIONS])
    facts["deprivation_count"] = deprived.sum(axis=1)
    facts["deprivations"] = joined_names(deprived, DIMENSIONS)
    facts["seen_by"] = seen.reindex(facts.index).sum(axis=1).clip(upper=4).to_numpy()  # "4": four or more
    facts["in_need"] = ((facts["deprivation_count"] > 0) | facts["verified_poor"] | (facts["eef_poor"] > 0)
                        | (facts["eef_extremely_poor"] > 0)) & ~facts.pop("verified_not_in_need")
    facts["in_need_unserved"] = facts["in_need"] & ~(facts["served_by_card"] | facts["msdhs_assisted"]
                                                     | facts["served_by_eef"])
    facts["village"] = village_of(facts["tambon"], facts["moo"]).to_numpy()
    facts["household_code"] = facts.index.to_numpy()
    facts.index = households.take(facts.index).rename("household_id")
    return facts.drop(columns=[f"need_{d}" for d in DIMENSIONS])


def _by_code(values: pd.Series | pd.DataFrame, households: pd.Index) -> pd.Series | pd.DataFrame:
    """``values`` (indexed by household id) indexed by household code instead; households without a
    record are left out."""
    codes = households.get_indexer(values.index)
    return values[codes >= 0].set_axis(codes[codes >= 0])


def _apply_verdicts(facts: pd.DataFrame, verdicts: pd.Series) -> None:
    """A community's verification outranks the sources: ``poor`` off TPMAP's list is an exclusion error,
    ``not_poor`` on it an inclusion error; a household found not poor, moved or deceased is not in need
    there (``verified_not_in_need``, taken by :func:`household_facts`)."""
    found = verdicts.notna().to_numpy()
    poor, not_poor = (verdicts == "poor").to_numpy(), (verdicts == "not_poor").to_numpy()
    listed = (facts["tpmap_persons"] > 0).to_numpy()
    facts["community_verified"] = found
    facts["surveyed"] = facts["surveyed"].to_numpy() | found
    facts["verified_poor"] = np.where(found, poor, facts["verified_poor"])
    facts["inclusion_errors"] = np.where(found, not_poor & listed, facts["inclusion_errors"])
    facts["exclusion_errors"] = np.where(found, poor & ~listed, facts["exclusion_errors"])
    facts["verified_not_in_need"] = found & ~poor


def measure_columns(facts: pd.DataFrame, *, mpi_cutoff: int | None) -> pd.DataFrame:
    """The household facts as the measure columns of :mod:`hub.views.figures` (one row per household)."""
    out = pd.DataFrame(index=facts.index)
    out["households"] = 1
    out["persons"] = facts["persons"]
    for d in DIMENSIONS:
        out[f"deprived_{d}"] = facts[f"deprived_{d}"].astype(np.int64)
    for name in ("tpmap_persons", "target_poor", "eef_students", "eef_poor", "eef_extremely_poor", "referrals",
                 *REFERRAL_MEASURES, *(f"vulnerable_{v}" for v in VULNERABILITIES)):
        out[name] = facts[name].astype(np.int64)
    for name in ("msdhs_households", "msdhs_assisted", "surveyed", "community_verified", "verified_poor",
                 "inclusion_errors", "exclusion_errors", "in_need", "in_need_unserved"):
        out[name] = facts[name].astype(np.int64)
    for c in CAPITALS:
        out[f"capital_{c}_sum"] = facts[f"capital_{c}_sum"].astype(float)
    for n in (0, 1, 2, 3, 4):
        out[f"seen_by_{n}"] = (facts["seen_by"] == n).astype(np.int64)
    if mpi_cutoff is not None:
        poor = facts["deprivation_count"] >= mpi_cutoff
        out["mpi_poor"] = poor.astype(np.int64)
        out["mpi_deprivations"] = (facts["deprivation_count"] * poor).astype(np.int64)
    return out


def person_facts(inputs: Inputs, allowed: np.ndarray, households: pd.DataFrame) -> pd.DataFrame:
    """One row per person with an allowed record, indexed by person id: the person-level microdata fields,
    with their household's facts (``households``: :func:`household_facts` of the same mask)."""
    records = inputs.records[allowed]
    persons = records.groupby("person_code", sort=False).agg(
        household_code=("household_code", "first"), sex=("sex", "first"), birth_year=("birth_year", "first"),
        **{f"tp_{d}": (f"tp_{d}", "any") for d in DIMENSIONS}, welfare_card=("welfare_card", "any"),
        eef_rank=("eef_rank", "max"), grade=("grade", "first"),
        **{f"vul_{v}": (f"vul_{v}", "any") for v in VULNERABILITIES})
    tp = persons[[f"tp_{d}" for d in DIMENSIONS]].to_numpy()
    persons["tpmap_dimensions"] = joined_names(tp, DIMENSIONS)
    persons["target_poor"] = tp.any(axis=1) & persons["welfare_card"].to_numpy()
    persons["eef_status"] = persons["eef_rank"].map(EEF_STATUS)
    vul = persons[[f"vul_{v}" for v in VULNERABILITIES]].to_numpy()
    persons["vulnerabilities"] = joined_names(vul, VULNERABILITIES)
    codes = persons["household_code"].to_numpy()
    row_of = np.full(len(inputs.population.labels("household")), -1, dtype=np.int64)
    row_of[households["household_code"].to_numpy()] = np.arange(len(households))
    if (row_of[codes] < 0).any():
        raise ValueError("households must be the household facts of the same records")
    home = households.iloc[row_of[codes]]
    for column in ("village", "persons", "sources", "deprivations", "deprivation_count", "verification",
                   "msdhs_assisted"):
        persons[f"household_{column}"] = home[column].to_numpy()
    persons.insert(0, "household_id", inputs.population.labels("household").take(codes))
    persons.index = inputs.population.labels("person").take(persons.index).rename("person_id")
    return persons
