"""Linking's probabilistic stage on Apache Spark (local mode, the same code a cluster runs) gives the same
links as the embedded DuckDB path on the same data: the same pairs scored with the same probabilities,
the same persons, households and review queue. Needs a Java runtime (``.ci/run`` installs one)."""
from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from hub.db.schema import audit_events, link_reviews, linked_records, record_links, source_records
from hub.demo.population import generate_population
from hub.demo.writers import write_partner_files
from hub.linking import model as match_model
from hub.linking.run import link
from hub.pipeline.ingest import ingest_file

ACTOR = "test:spark"
SOURCES = ("tpmap", "msdhs_logbook", "eef_students", "university_survey")

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")


def _outcome(hub) -> tuple[set[frozenset], set[frozenset], set[tuple]]:
    """Persons and households as sets of record keys, and the review queue by its pairs' keys."""
    r, v = source_records, link_reviews
    persons, households = {}, {}
    with hub.engine.connect() as conn:
        for source, rid, person, household in conn.execute(
                select(r.c.source, r.c.record_id, record_links.c.person_id, record_links.c.household_id)
                .select_from(linked_records)):
            persons.setdefault(person, set()).add((source, rid))
            households.setdefault(household, set()).add((source, rid))
        queue = set(conn.execute(select(v.c.source_a, v.c.record_id_a, v.c.source_b, v.c.record_id_b, v.c.reason,
                                        v.c.match_probability, v.c.evidence, v.c.status)).all())
    return {frozenset(p) for p in persons.values()}, {frozenset(h) for h in households.values()}, queue


def test_spark_links_as_the_embedded_engine_does(hub, tmp_path):
    population = generate_population(households=150, seed=2569)
    written = write_partner_files(population, tmp_path / "partners", seed=2569)
    for source in SOURCES:
        for path in written.files[source]:
            ingest_file(hub, source, path, actor=ACTOR)
    embedded = link(hub, actor=ACTOR, full=True)
    expected = _outcome(hub)

    hub.settings.link_engine = "spark"
    on_spark = link(hub, actor=ACTOR, full=True)
    assert (embedded.engine, on_spark.engine) == ("duckdb", "spark")
    assert on_spark.probabilistic_joins == embedded.probabilistic_joins > 0
    assert on_spark.expected_false_links == embedded.expected_false_links
    assert (on_spark.person_ids_changed, on_spark.household_ids_changed, on_spark.ids_retired) == (0, 0, 0)
    assert _outcome(hub) == expected
    with hub.engine.connect() as conn:
        engines = [json.loads(d)["counts"]["engine"] for d in conn.scalars(
            select(audit_events.c.details).where(audit_events.c.action == "link.completed"))]
    assert engines == ["duckdb", "spark"]


def test_the_model_speaks_each_engines_sql_with_the_same_parameters():
    model = {"comparisons": [dict(c) for c in match_model.COMPARISONS], "sql_dialect": "duckdb"}
    spark = match_model.in_dialect(model, "spark")
    conditions = [lv["sql_condition"] for c in spark["comparisons"] for lv in c["comparison_levels"]]
    assert "jaro_winkler(fn_l, fn_r) >= 0.92" in conditions and "abs(datediff(dob_l, dob_r)) <= 1" in conditions
    assert not any("jaro_winkler_similarity" in c or "date_diff" in c for c in conditions)
    m_and_u = [(lv.get("m_probability"), lv.get("u_probability")) for c in model["comparisons"]
               for lv in c["comparison_levels"]]
    assert [(lv.get("m_probability"), lv.get("u_probability")) for c in spark["comparisons"]
            for lv in c["comparison_levels"]] == m_and_u
