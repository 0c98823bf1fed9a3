"""Each record's person and household ids live in ``record_links``, beside the record: carried over by
the migration that moved them there, given by ingest, dropped with their record; and what names a
household follows its id when a link run retires it (both backends)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, insert, inspect, select, text

from helpers import ACTOR, LOGBOOK_JUNE, TPMAP, engine_at_migration, ingest, records
from hub.community.follow import follow_retired_households
from hub.context import Hub
from hub.db.schema import (
    community_stewards,
    household_verifications,
    ingest_runs,
    record_links,
    referrals,
    source_records,
)


def test_the_migration_moves_each_records_ids_beside_it(settings):
    """A store at migration 0012, ids in the record rows, upgraded by opening it: every record keeps
    its person and household id, the record rows lose the columns."""
    engine = engine_at_migration(settings, "0012")
    stored = {f"r{i}": (f"p{i // 2}", f"h{i // 4}") for i in range(8)}  # two records a person, two persons a home
    with engine.begin() as conn:
        run = conn.execute(insert(ingest_runs).values(source="tpmap", file_name="old.csv", file_sha256="0" * 64,
                                                      started_at=dt.datetime.now(dt.UTC), status="completed")
                           ).inserted_primary_key[0]
        for line, (rid, (person, household)) in enumerate(stored.items(), start=1):
            conn.execute(text(
                "INSERT INTO source_records (source, record_id, person_id, household_id, version, linked_keys, "
                "tambon_code, attributes, flags, fingerprint, created_run_id, run_id, line) VALUES ('tpmap', :rid, "
                ":person, :household, '2566', '{}', '340101', '{}', '[]', :fingerprint, :run, :run, :line)"),
                {"rid": rid, "person": person, "household": household, "fingerprint": bytes(16), "run": run,
                 "line": line})
    engine.dispose()
    hub = Hub.init(settings)[0]
    try:
        r, links = source_records, record_links
        with hub.engine.connect() as conn:
            moved = {rid: (p, h) for rid, p, h in conn.execute(
                select(r.c.record_id, links.c.person_id, links.c.household_id).join_from(r, links))}
            columns = {c["name"] for c in inspect(conn).get_columns("source_records")}
        assert moved == stored
        assert not {"person_id", "household_id"} & columns
    finally:
        hub.engine.dispose()


def test_ingest_gives_each_new_record_a_person_of_its_own_in_its_units_household(hub):
    ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    stored = records(hub, "msdhs_logbook")
    assert len({row.person_id for row in stored.values()}) == len(stored)  # provisional: one per record
    by_unit: dict[str, set[str]] = {}
    for row in stored.values():
        if row.household_ref is not None:
            by_unit.setdefault(row.household_ref, set()).add(row.household_id)
    assert by_unit and all(len(ids) == 1 for ids in by_unit.values())
    assert len({next(iter(ids)) for ids in by_unit.values()}) == len(by_unit)


def test_a_deleted_record_takes_its_ids_with_it(hub):
    ingest(hub, "tpmap", TPMAP)
    r = source_records
    with hub.engine.begin() as conn:
        gone = conn.scalar(select(r.c.id).order_by(r.c.id).limit(1))
        conn.execute(delete(r).where(r.c.id == gone))
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(record_links).where(record_links.c.id == gone)) == 0
        assert conn.scalar(select(func.count()).select_from(record_links)) == \
            conn.scalar(select(func.count()).select_from(r))


def test_verifications_and_referrals_follow_retired_household_ids(hub):
    """A link run that retires household ids renames them wherever a verification or a referral names
    them, in one statement per table; ids not retired are left alone."""
    now = dt.datetime.now(dt.UTC)
    with hub.engine.begin() as conn:
        steward = conn.execute(insert(community_stewards).values(
            community="340101-04", role="อสม.", name_enc=b"sealed", appointed_by="ประชุมหมู่บ้าน",
            registered_at=now, registered_by=ACTOR)).inserted_primary_key[0]
        for i, household in enumerate(["old-a", "old-b", "kept"]):
            conn.execute(insert(household_verifications).values(
                household_id=household, community="340101-04", status="poor", steward_id=steward, evidence={},
                verified_at=now, recorded_by=ACTOR))
            conn.execute(insert(referrals).values(
                origin="community", origin_ref=f"r{i}", household_id=household, agency="MSDHS", need="อาหาร",
                status="pending", referred_on=now.date(), changed_at=now))
        follow_retired_households(conn, {"old-a": "new-a", "old-b": "new-a", "gone": "new-x"})
    with hub.engine.connect() as conn:
        for table in (household_verifications, referrals):
            assert sorted(conn.scalars(select(table.c.household_id))) == ["kept", "new-a", "new-a"]
