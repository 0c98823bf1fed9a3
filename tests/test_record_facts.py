"""The facts views count are taken out of a record's attributes at ingest and stored beside them
(``hub.record_facts``): what each attribute sets, that ingest stores them for every record of every source,
and that the migration gives the records an older hub stored theirs (both backends)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import insert, select, text

from helpers import EEF_2566_2, LOGBOOK_JUNE, TPMAP, engine_at_migration, ingest
from hub.context import Hub
from hub.db.schema import ingest_runs, source_records
from hub.record_facts import FACT_BITS, record_facts

_COLUMNS = ("fact_bits", "fact_status", "fact_grade", "fact_vulnerabilities")


def bits(*names: str) -> int:
    return sum(1 << FACT_BITS.index(name) for name in names)


@pytest.mark.parametrize(("attributes", "expected"), [
    ({}, (0, None, None, None)),
    ({"dimensions": {"health": True, "living": False, "income": True}, "welfare_card": True},
     (bits("health", "income", "welfare_card"), None, None, None)),
    ({"dimensions": {"health": "true", "access": 1}, "welfare_card": "Y"}, (0, None, None, None)),  # only JSON true
    ({"dimensions": ["health"]}, (0, None, None, None)),
    ({"status": "extremely_poor", "grade": "ป.4", "cct_baht": 1500},
     (bits("cct"), "extremely_poor", "ป.4", None)),
    ({"status": "poor", "grade": 4, "cct_baht": 0}, (0, "poor", None, None)),
    ({"cct_baht": True}, (0, None, None, None)),
    ({"vulnerabilities": ["elderly", "bedridden", "elderly"]}, (0, None, None, "bedridden;elderly;elderly")),
    ({"vulnerabilities": []}, (0, None, None, None)),
])
def test_record_facts_take_each_fact_out_of_the_attributes(attributes, expected):
    assert record_facts(attributes) == expected


def test_ingest_stores_the_facts_of_every_record_of_every_source(hub):
    for source, path in (("tpmap", TPMAP), ("eef_students", EEF_2566_2), ("msdhs_logbook", LOGBOOK_JUNE)):
        ingest(hub, source, path)
    r = source_records
    with hub.engine.connect() as conn:
        rows = conn.execute(select(r.c.source, r.c.attributes, *(r.c[c] for c in _COLUMNS))).all()
    assert {row.source for row in rows} == {"tpmap", "eef_students", "msdhs_logbook"}
    assert all(tuple(row[2:]) == record_facts(row.attributes) for row in rows)
    assert any(row.fact_bits & bits("welfare_card") for row in rows)  # the fixtures exercise the columns
    assert any(row.fact_vulnerabilities for row in rows)
    assert any(row.fact_grade for row in rows)


def test_the_migration_gives_stored_records_their_facts(settings):
    """A store at migration 0013, facts only inside the attributes, upgraded by opening it."""
    engine = engine_at_migration(settings, "0013")
    stored = {"r1": {"dimensions": {"health": True, "access": True}, "welfare_card": True},
              "r2": {"status": "poor", "grade": "ม.1", "cct_baht": 800},
              "r3": {"vulnerabilities": ["disabled", "elderly"]},
              "r4": {}}
    with engine.begin() as conn:
        run = conn.execute(insert(ingest_runs).values(source="tpmap", file_name="old.csv", file_sha256="0" * 64,
                                                      started_at=dt.datetime.now(dt.UTC), status="completed")
                           ).inserted_primary_key[0]
        for line, (rid, attributes) in enumerate(stored.items(), start=1):
            conn.execute(text(
                "INSERT INTO source_records (source, record_id, version, linked_keys, tambon_code, attributes, "
                "flags, fingerprint, created_run_id, run_id, line) VALUES ('tpmap', :rid, '2566', '{}', '340101', "
                ":attributes, '[]', :fingerprint, :run, :run, :line)"),
                {"rid": rid, "attributes": json.dumps(attributes, ensure_ascii=False), "fingerprint": bytes(16),
                 "run": run, "line": line})
    engine.dispose()
    hub = Hub.init(settings)[0]
    try:
        r = source_records
        with hub.engine.connect() as conn:
            facts = {row.record_id: tuple(row[1:]) for row in conn.execute(
                select(r.c.record_id, *(r.c[c] for c in _COLUMNS)))}
        assert facts == {rid: record_facts(attributes) for rid, attributes in stored.items()}
        assert facts["r4"] == (0, None, None, None)
    finally:
        hub.engine.dispose()
