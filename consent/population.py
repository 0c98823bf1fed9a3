"""Records as consent decisions see them: each record's person, household, citizen-ID ref and home area
(its household's most common village, so a household is decided as one). Factorised once into integer
codes, so deciding a million records is a few array operations."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from consent.subjects import cid_ref, village_code
from hub.db.bulk import placeholder
from hub.db.schema import LINKED_RECORDS_SQL, linked_records_sql

#: The source of households a community entered (:mod:`adapters.community_found`).
COMMUNITY_ENTERED = "community_found"
_POPULATION_COLUMNS = "l.person_id, l.household_id, t.linkage_key, t.tambon_code, t.moo, t.source"


@dataclass(frozen=True)
class RecordSubject:
    """One person's record for a single decision: the person's citizen-ID refs (``cid:…`` of all of
    their records), their household and its home area."""

    person_id: str
    household_id: str
    citizen_refs: tuple[str, ...]
    tambon: str
    moo: int | None

    @property
    def village(self) -> str | None:
        return village_code(self.tambon, self.moo)


class Population:
    """Integer-coded records. ``frame`` keeps the source columns, row for row."""

    def __init__(self, frame: pd.DataFrame, households: tuple[np.ndarray, pd.Index] | None = None):
        """``frame`` has one row per record: ``person_id``, ``household_id``, ``cid`` (``cid:…`` or None),
        ``tambon`` and ``moo`` (the household's home area). ``households``: ``pd.factorize`` of its
        ``household_id``, when the caller has it already."""
        self.frame = frame.reset_index(drop=True)
        self._codes: dict[str, np.ndarray] = {}
        self._labels: dict[str, pd.Index] = {}
        columns = {"person": frame["person_id"], "household": frame["household_id"], "cid": frame["cid"],
                   "tambon": frame["tambon"]}
        given = {"household": households} if households is not None else {}
        for name, values in columns.items():
            codes, labels = given.get(name) or pd.factorize(values, use_na_sentinel=True)
            self._codes[name], self._labels[name] = codes.astype(np.int64), pd.Index(labels)
        self._codes["village"], self._labels["village"] = self._villages(frame["moo"])

    def _villages(self, moo: pd.Series) -> tuple[np.ndarray, pd.Index]:
        """Each record's village as a code (-1 outside villages) and the village codes, made once per
        distinct (tambon, moo) rather than once per record."""
        numbers = moo.astype("Int64").fillna(-1).to_numpy(dtype=np.int64) + 1  # 0: no moo
        width = int(numbers.max(initial=0)) + 1
        pair_codes, pairs = pd.factorize(self._codes["tambon"] * width + numbers)
        tambons = self._labels["tambon"]
        names = [None if pair < 0 or pair % width == 0 else village_code(tambons[pair // width], pair % width - 1)
                 for pair in pairs.tolist()]
        name_codes, labels = pd.factorize(pd.Series(names, dtype=object), use_na_sentinel=True)
        return name_codes.astype(np.int64)[pair_codes], pd.Index(labels)

    def __len__(self) -> int:
        return len(self.frame)

    def codes(self, level: str) -> np.ndarray:
        """Per record, the integer code of its ``person``, ``household``, ``cid``, ``tambon`` or ``village``
        (-1 where it has none): position in :meth:`labels`."""
        return self._codes[level]

    def labels(self, level: str) -> pd.Index:
        """The distinct values of ``level``, in code order."""
        return self._labels[level]

    def keys_at(self, level: str, refs: list[str], keys: list[int]) -> np.ndarray:
        """Per record, the highest stance key among ``refs`` at ``level`` that the record belongs to."""
        codes = self._codes[level]
        if not refs:
            return np.zeros(len(codes), dtype=np.int64)
        labels = [r[4:] for r in refs] if level == "household" else refs
        per_label = np.zeros(len(self._labels[level]) + 1, dtype=np.int64)  # last slot: records without one
        where = self._labels[level].get_indexer(labels)
        known = where >= 0
        np.maximum.at(per_label, where[known], np.asarray(keys, dtype=np.int64)[known])
        return per_label[codes]  # code -1 reads the empty last slot

    def person_keys(self, refs: list[str], keys: list[int]) -> np.ndarray:
        """Per record, the highest person-level key of its person: decisions by person id, and by the
        citizen ID of any of the person's records."""
        if not refs:
            return np.zeros(len(self), dtype=np.int64)
        by_id = [(r[4:], k) for r, k in zip(refs, keys) if r.startswith("pid:")]
        by_cid = [(r, k) for r, k in zip(refs, keys) if r.startswith("cid:")]
        record = np.maximum(self.keys_at("person", [r for r, _ in by_id], [k for _, k in by_id]),
                            self.keys_at("cid", [r for r, _ in by_cid], [k for _, k in by_cid]))
        per_person = np.zeros(len(self._labels["person"]), dtype=np.int64)
        np.maximum.at(per_person, self._codes["person"], record)
        return per_person[self._codes["person"]]

    def inside(self, community: str | None) -> np.ndarray:
        """Per record, whether its home area lies in ``community`` (all True when there is none)."""
        if community is None:
            return np.ones(len(self), dtype=bool)
        level = "village" if "-" in community else "tambon"
        where = self._labels[level].get_indexer([community])[0]
        return self._codes[level] == where if where >= 0 else np.zeros(len(self), dtype=bool)

    def subject(self, row: int) -> RecordSubject:
        """The :class:`RecordSubject` of record ``row`` (for a single decision)."""
        r = self.frame.iloc[row]
        person = self._codes["person"] == self._codes["person"][row]
        cids = tuple(sorted({c for c in self.frame["cid"][person] if isinstance(c, str)}))
        return RecordSubject(r.person_id, r.household_id, cids, r.tambon, None if pd.isna(r.moo) else int(r.moo))


def load_population(conn: Connection, *, tambon: str | None = None) -> Population:
    """Every stored record (of one tambon's households, when given) with its household's home area."""
    mark = placeholder(conn)
    sql = f"SELECT {_POPULATION_COLUMNS} FROM {LINKED_RECORDS_SQL}"
    params: tuple = ()
    if tambon:
        sql += (f" WHERE l.household_id IN (SELECT k.household_id FROM {linked_records_sql('s', 'k')} "
                f"WHERE s.tambon_code = {mark})")
        params = (tambon,)
    cursor = conn.connection.driver_connection.cursor()
    cursor.execute(sql, params)
    frame = pd.DataFrame(cursor.fetchall(),
                         columns=["person_id", "household_id", "linkage_key", "tambon", "moo", "source"])
    cursor.close()
    frame["cid"] = cid_refs(frame.pop("linkage_key"))
    return Population(home_areas(frame))


def cid_refs(linkage_keys: pd.Series) -> list[str | None]:
    """Each record's ``cid:`` ref from its ``linkage_key`` as the driver returned it (None: no ID)."""
    return [None if k is None else cid_ref(bytes(k)) for k in linkage_keys]


def home_areas(frame: pd.DataFrame, households: np.ndarray | None = None) -> pd.DataFrame:
    """``frame`` with ``tambon`` and ``moo`` replaced by its household's most common (tambon, moo); ties go
    to the smallest tambon code, then the smallest moo, a missing one last. With a ``source`` column, the
    records a community entered (:data:`COMMUNITY_ENTERED`) vote only in a household no agency's record is
    in: a steward cannot move a household the agencies know into their community. Counted on integer codes
    (one key per household and area), not by grouping strings. ``households``: the codes of
    ``pd.factorize(frame["household_id"])``, when the caller has them already."""
    if frame.empty:
        return frame
    households = pd.factorize(frame["household_id"])[0] if households is None else households
    tambons, names = pd.factorize(frame["tambon"], sort=True)  # code order is the codes' text order
    tambons = np.where(tambons < 0, len(names), tambons)  # a missing tambon sorts last
    moo = frame["moo"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    no_moo = int(moo.max(initial=0)) + 1
    moo = np.where(moo < 0, no_moo, moo)  # a missing moo sorts last
    areas = no_moo + 1
    voters = np.ones(len(frame), dtype=bool)
    if "source" in frame.columns:
        agency = frame["source"].to_numpy() != COMMUNITY_ENTERED
        known = np.bincount(households, weights=agency, minlength=households.max() + 1) > 0
        voters = agency | ~known[households]
    area = tambons.astype(np.int64) * areas + moo
    keys, votes = np.unique(households[voters].astype(np.int64) * ((len(names) + 1) * areas) + area[voters],
                            return_counts=True)
    owner, chosen = np.divmod(keys, (len(names) + 1) * areas)
    order = np.lexsort((chosen, -votes, owner))  # per household: most votes, then smallest area
    first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
    home = np.empty(households.max() + 1, dtype=np.int64)
    home[owner[first]] = chosen[first]
    home_tambon, home_moo = np.divmod(home[households], areas)
    out = frame.drop(columns=["tambon", "moo"])
    out["tambon"] = np.append(names.to_numpy(dtype=object), None)[home_tambon]
    out["moo"] = np.where(home_moo == no_moo, np.nan, home_moo.astype(float))
    return out


def record_subject(conn: Connection, subject_ref: str) -> RecordSubject | None:
    """The :class:`RecordSubject` of the person a ``cid:`` or ``pid:`` ref names, from their stored
    records (``None`` when no record of them is stored)."""
    mark = placeholder(conn)
    kind, value = subject_ref.split(":", 1)
    column, param = ("t.linkage_key", bytes.fromhex(value)) if kind == "cid" else ("l.person_id", value)
    cursor = conn.connection.driver_connection.cursor()
    cursor.execute(f"SELECT l.person_id FROM {LINKED_RECORDS_SQL} WHERE {column} = {mark}", (param,))
    people = [row[0] for row in cursor.fetchall()]
    if not people:
        cursor.close()
        return None
    person = max(set(people), key=people.count)
    cursor.execute(f"SELECT household_id FROM record_links WHERE person_id = {mark}", (person,))
    homes = [row[0] for row in cursor.fetchall()]
    home = max(set(homes), key=homes.count)
    cursor.execute(f"SELECT {_POPULATION_COLUMNS} FROM {LINKED_RECORDS_SQL} "
                   f"WHERE l.household_id = {mark} OR l.person_id = {mark}", (home, person))
    frame = pd.DataFrame(cursor.fetchall(),
                         columns=["person_id", "household_id", "linkage_key", "tambon", "moo", "source"])
    cursor.close()
    frame["cid"] = cid_refs(frame.pop("linkage_key"))
    population = Population(home_areas(frame))
    row = int(np.flatnonzero((population.frame["person_id"] == person)
                             & (population.frame["household_id"] == home))[0])
    return population.subject(row)
