"""Pairwise linkage quality against a labelled truth: precision, recall and F1 over record pairs."""
from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select

from hub.db.schema import linked_records, record_links, source_records


@dataclass(frozen=True)
class PairScores:
    """Counts of record pairs: ``true_positive`` linked and truly one entity, ``false_positive`` linked but
    two, ``false_negative`` one entity but not linked."""

    true_positive: int
    false_positive: int
    false_negative: int

    @property
    def precision(self) -> float:
        linked = self.true_positive + self.false_positive
        return self.true_positive / linked if linked else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positive + self.false_negative
        return self.true_positive / actual if actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(counts: Counter) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def pair_scores(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable]) -> PairScores:
    """Score the clustering ``predicted`` (record -> cluster) against ``truth`` (record -> entity), over
    the records both know. Counted from cluster sizes, so a million records take seconds."""
    records = predicted.keys() & truth.keys()
    both = _pairs(Counter((predicted[r], truth[r]) for r in records))
    linked = _pairs(Counter(predicted[r] for r in records))
    actual = _pairs(Counter(truth[r] for r in records))
    return PairScores(both, linked - both, actual - both)


def read_truth(path: Path, column: str = "truth_person_id") -> dict[tuple[str, str], str]:
    """``(source, record_id) -> column`` from a demo ``truth.csv``."""
    with open(path, encoding="utf-8", newline="") as handle:
        return {(row["source"], row["record_id"]): row[column] for row in csv.DictReader(handle)}


@dataclass(frozen=True)
class Measured:
    """The stored links scored against a truth file: persons, persons over the pairs with at least one
    record without a valid citizen ID, and households."""

    persons: PairScores
    persons_without_id: PairScores
    households: PairScores


def _minus(whole: PairScores, part: PairScores) -> PairScores:
    return PairScores(whole.true_positive - part.true_positive, whole.false_positive - part.false_positive,
                      whole.false_negative - part.false_negative)


def measure(conn: Connection, truth_path: Path) -> Measured:
    """Score the person and household ids now stored against ``truth_path`` (a demo ``truth.csv``)."""
    r, links = source_records, record_links
    stored = conn.execute(select(r.c.source, r.c.record_id, links.c.person_id, links.c.household_id, r.c.id_status)
                          .select_from(linked_records)).all()
    people = read_truth(truth_path)
    homes = read_truth(truth_path, "truth_household_id")
    person_of = {(s, rid): p for s, rid, p, _, _ in stored}
    with_id = {(s, rid): p for s, rid, p, _, status in stored if status == "valid"}
    persons = pair_scores(person_of, people)
    return Measured(persons, _minus(persons, pair_scores(with_id, people)),
                    pair_scores({(s, rid): h for s, rid, _, h, _ in stored}, homes))
