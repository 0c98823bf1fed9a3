"""A microdata view: one row per person or household the view's consent decision allows (and its scope
covers), each declared field transformed as the contract says, then k-anonymised on the declared
quasi-identifiers (generalisation first, at most ``max_suppression`` of the rows suppressed).

Pseudonyms are keyed per partner (HMAC-SHA256 of the stable id with a key derived for that partner, kept
outside the database): the same person has unrelated pseudonyms in two partners' views.
"""
from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd

from contracts.model import View
from hub.anonymise.generalise import generalise, get_ladder
from hub.anonymise.kanonymity import QuasiIdentifier, k_anonymise
from hub.keys import Keyring
from hub.views.facts import SOURCES, names_of_bits
from hub.views.fields import FIELDS
from hub.views.figures import CAPITALS


def partner_key(keyring: Keyring, partner: str) -> bytes:
    """The partner's pseudonym key (derived from a secret outside the database)."""
    return keyring.derived(f"pseudonym|{partner}")


def pseudonyms(values: pd.Series, *, key: bytes, kind: str) -> pd.Series:
    """32 hex digits per value: HMAC-SHA256(key, kind:value), truncated to 128 bits."""
    return pd.Series([hmac.digest(key, f"{kind}:{v}".encode(), "sha256")[:16].hex() for v in values.tolist()],
                     index=values.index)


def _source_names(bits: pd.Series) -> np.ndarray:
    return names_of_bits(bits.to_numpy(dtype=np.int64), SOURCES)


def _raw_fields(units: pd.DataFrame, level: str, year: int) -> pd.DataFrame:
    """Every catalogue field of ``level`` from the facts, untransformed."""
    h = "household_" if level == "person" else ""
    out = pd.DataFrame(index=units.index)
    out["household"] = units["household_id"] if level == "person" else units.index.to_series()
    out["area"] = units[f"{h}village"]
    out["household_size"] = units[f"{h}persons"]
    out["sources"] = _source_names(units[f"{h}sources"])
    out["deprivations"] = units[f"{h}deprivations"]
    out["deprivation_count"] = units[f"{h}deprivation_count"]
    out["verification"] = units[f"{h}verification"]
    out["msdhs_assisted"] = units[f"{h}msdhs_assisted"].astype(bool)
    if level == "person":
        out["person"] = units.index.to_series()
        out["sex"] = units["sex"]
        out["birth_year"] = units["birth_year"]
        out["age"] = year - units["birth_year"]
        for name in ("tpmap_dimensions", "target_poor", "welfare_card", "eef_status", "grade", "vulnerabilities"):
            out[name] = units[name]
    else:
        out["target_poor"] = units["target_poor"]
        out["eef_students"] = units["eef_students"]
        out["capitals"] = [";".join(f"{v:g}" for v in row) if row.any() else None
                           for row in units[[f"capital_{c}_sum" for c in CAPITALS]].to_numpy()]
    return out


def _masked(values: pd.Series, keep: int) -> pd.Series:
    return values.map(lambda v: v if v is None or pd.isna(v) else str(v)[:keep] + "*" * max(len(str(v)) - keep, 0))


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """Each row of ``frame`` as one JSON object (column -> value; missing values ``null``), in UTF-8 text."""
    columns = frame.columns.tolist()
    return [orjson.dumps(dict(zip(columns, row)), default=_missing, option=orjson.OPT_SERIALIZE_NUMPY).decode()
            for row in zip(*(frame[c].tolist() for c in columns))]


def _missing(value):
    """``null`` for pandas' missing markers (``pd.NA``, ``NaT``); anything else is not a field value."""
    if pd.isna(value):
        return None
    raise TypeError(f"{type(value).__name__} is not a field value")


@dataclass
class MicrodataTable:
    rows: pd.DataFrame  # index: row key (the partner's pseudonym); "area"; "fields" (JSON text); "home" village
    report: dict

    def __len__(self) -> int:
        return len(self.rows)


def build_microdata(units: pd.DataFrame, view: View, *, partner: str, keyring: Keyring,
                    scope_bits: pd.Series, today: dt.date) -> MicrodataTable:
    """``units``: person facts (level person) or household facts (level household) allowed by consent;
    ``scope_bits``: each unit's sources (bits of ``SOURCES``), to keep only those the view's scope names."""
    if view.scope:
        wanted = sum(1 << SOURCES.index(s) for s in view.scope if s in SOURCES)
        units = units[(scope_bits.reindex(units.index).to_numpy() & wanted) > 0]
    key = partner_key(keyring, partner)
    raw = _raw_fields(units, view.level, today.year)
    own = pseudonyms(raw.index.to_series(), key=key, kind=view.level)  # the unit's pseudonym: also its row key
    catalogue = FIELDS[view.level]
    out = pd.DataFrame(index=raw.index)
    qis = []
    for name, rule in view.fields.items():
        spec = catalogue[name]
        values = raw[name]
        if rule.transform == "drop":
            continue
        if name in view.quasi_identifiers:
            start = rule.to if rule.transform == "generalise" else get_ladder(spec.ladder).level_names[0]
            qis.append(QuasiIdentifier(name, spec.ladder, start))
            out[name] = values
        elif rule.transform == "pseudonymise":
            out[name] = own if name == view.level else pseudonyms(values, key=key, kind=spec.id_kind or name)
        elif rule.transform == "generalise":
            out[name] = generalise(values, ladder=spec.ladder, level=rule.to)
        elif rule.transform == "mask":
            out[name] = _masked(values, rule.keep_chars)
        else:
            out[name] = values
    report: dict = {"units": int(len(out))}
    if qis:
        out, k_report = k_anonymise(out, quasi_identifiers=qis, k=view.k, max_suppression=view.max_suppression)
        report["k_anonymity"] = k_report.as_dict()
    row_keys = own.loc[out.index]
    area = out["area"].astype(str) if "area" in out else pd.Series("", index=out.index)
    lines = _json_lines(out)
    rows = pd.DataFrame({"area": area.to_numpy(), "fields": lines, "home": raw.loc[out.index, "area"].to_numpy()},
                        index=row_keys.to_numpy())
    # in area then key order, the order of the table's primary key: a bulk write then appends to it
    rows = rows.iloc[np.lexsort((rows.index.to_numpy(dtype=str), rows["area"].to_numpy(dtype=str)))]
    return MicrodataTable(rows, report)
