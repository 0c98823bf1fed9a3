"""Bulk updates of most of a table (a full link's write-back): every row gets its values, the indexes on the
columns set are there afterwards (on SQLite they are rebuilt rather than maintained), and a transaction
that fails afterwards takes the update and the rebuild back together."""
from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, func, inspect, select

from hub.db.bulk import UPDATE_FROM_ROWS, bulk_update

ROWS = UPDATE_FROM_ROWS + 500  # through the temporary table


@pytest.fixture
def people(hub):
    metadata = MetaData()
    table = Table("bulk_people", metadata, Column("id", BigInteger, primary_key=True),
                  Column("person_id", String(32), nullable=False), Column("note", String(8)),
                  Index("ix_bulk_people_person", "person_id"))
    metadata.create_all(hub.engine)
    with hub.engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "person_id": f"old-{i}", "note": "kept"} for i in range(ROWS)])
    yield table
    metadata.drop_all(hub.engine)


def _indexes(conn) -> set[str]:
    return {index["name"] for index in inspect(conn).get_indexes("bulk_people")}


def test_most_of_a_table_is_updated_and_its_index_is_still_there(hub, people):
    with hub.engine.begin() as conn:
        bulk_update(conn, people, ("person_id",), [(f"new-{i}", i) for i in range(ROWS - 1)], most_of_table=True)
    with hub.engine.connect() as conn:
        assert "ix_bulk_people_person" in _indexes(conn)
        assert conn.scalar(select(func.count()).where(people.c.person_id.like("new-%"))) == ROWS - 1
        assert conn.scalar(select(people.c.person_id).where(people.c.id == ROWS - 1)) == f"old-{ROWS - 1}"
        assert conn.scalar(select(func.count()).where(people.c.note == "kept")) == ROWS
        assert conn.scalar(select(people.c.id).where(people.c.person_id == "new-7")) == 7  # through the index


def test_a_failure_after_the_update_takes_it_back_with_the_index(hub, people):
    with pytest.raises(RuntimeError), hub.engine.begin() as conn:
        bulk_update(conn, people, ("person_id",), [(f"new-{i}", i) for i in range(ROWS)], most_of_table=True)
        raise RuntimeError("the run fails after writing its ids")
    with hub.engine.connect() as conn:
        assert "ix_bulk_people_person" in _indexes(conn)
        assert conn.scalar(select(func.count()).where(people.c.person_id.like("old-%"))) == ROWS
