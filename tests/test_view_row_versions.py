"""Microdata rows are stored once for the versions that share them: a publish writes only the rows that
changed, every kept version still reads exactly the rows it was published with, a failed publish takes
back what it wrote, and versions beyond the kept ones take only the rows no kept version has."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from sqlalchemy import delete, func, insert, select, text

from helpers import ACTOR, engine_at_migration, isolated_database_url, linked_population, refusing_inserts
from hub.context import Hub
from hub.db.schema import LINKED_RECORDS_SQL as LINKED
from hub.db.schema import view_rows, view_versions
from hub.errors import PublishError
from hub.settings import Settings
from hub.views import row_versions
from hub.views.microdata import partner_key, pseudonyms
from hub.views.publish import KEEP, publish
from hub.views.read import kept_versions, read_view
from hub.views.row_versions import in_version

VIEW = "eef_students"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    home = tmp_path_factory.mktemp("row-versions")
    with isolated_database_url(home) as url:
        hub, _ = Hub.init(Settings(home=home, database_url=url))
        linked_population(hub, home / "files", households=400, seed=23)
        publish(hub, views=[VIEW], actor=ACTOR)
        yield hub
        hub.engine.dispose()


def _read(hub, version_id=None) -> dict[str, tuple]:
    """Every row of a kept version of the view, as read through the API's path, by row key."""
    part = read_view(hub, VIEW, area=None, actor=ACTOR, version_id=version_id)
    return {r["row"]: (r["area"], json.dumps(r["fields"], sort_keys=True, ensure_ascii=False)) for r in part.rows}


def _kept(hub) -> list:
    with hub.engine.connect() as conn:
        return kept_versions(conn, VIEW)


def _current(hub):
    return _kept(hub)[0]


def _stored(hub) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(view_rows).where(view_rows.c.view == VIEW))


def _object(hub, skip: int = 0) -> str:
    """One adult of a household EEF sees objects to education support; returns their pseudonym in the view."""
    from consent import registry
    from consent.registry import Grantor, NewConsent
    from consent.subjects import person

    with hub.engine.connect() as conn:
        adults = conn.execute(text(
            f"SELECT person_id, birth_year FROM {LINKED} WHERE birth_year < 1985 AND household_id IN "
            f"(SELECT household_id FROM {LINKED} WHERE source = 'eef_students') ORDER BY person_id")).all()
    shown = set(_read(hub))
    marks = pseudonyms(pd.Series([p for p, _ in adults]), key=partner_key(hub.keyring, "eef"), kind="person")
    person_id, born, mine = [(p, b, m) for (p, b), m in zip(adults, marks) if m in shown][skip]
    registry.record(hub, NewConsent(person(hub.keyring, person_id=person_id), "refused", ["education_support"],
                                    ["*"], Grantor("self"), {"form": "คำคัดค้าน"}, objection=True),
                    actor=ACTOR, born=dt.date(born, 1, 1))
    return mine


def test_a_republish_of_unchanged_inputs_writes_no_row_and_reads_the_same(published, monkeypatch):
    from typer.testing import CliRunner

    from hub.cli import app

    before, rows = _current(published), _read(published)
    monkeypatch.setenv("HUB_HOME", str(published.settings.home))
    monkeypatch.setenv("HUB_DATABASE_URL", published.settings.resolved_database_url)
    done = CliRunner().invoke(app, ["publish", "--view", VIEW, "--force"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    after = _current(published)
    assert after.version_id > before.version_id
    assert (after.report["rows_written"], after.report["rows_shared"]) == (0, len(rows))
    assert f"0 rows written, {len(rows)} shared with the version before" in " ".join(done.stdout.split())
    assert _read(published) == rows == _read(published, before.version_id)
    assert _stored(published) == len(rows)


def test_a_change_writes_only_the_rows_it_changes_and_the_version_before_still_reads_its_own(published):
    before, rows, stored = _current(published), _read(published), _stored(published)
    mine = _object(published)
    publish(published, views=[VIEW], actor=ACTOR)
    after, now = _current(published), _read(published)
    assert mine in rows and mine not in now
    changed = {k for k, v in now.items() if rows.get(k) != v}
    assert after.report["rows_written"] == len(changed) < len(now) // 2
    assert after.report["rows_shared"] == len(now) - len(changed)
    assert _stored(published) == stored + len(changed)
    assert _read(published, before.version_id) == rows


def test_a_version_shares_its_unchanged_rows_writes_new_and_changed_ones_and_closes_the_rest(published):
    def table(rows: dict[str, tuple[str, str]]) -> pd.DataFrame:
        frame = pd.DataFrame([(k, a, f, a + "-01") for k, (a, f) in rows.items()],
                             columns=["key", "area", "fields", "home"]).set_index("key")
        return frame.sort_values(["area", "key"])

    first = {"k1": ("100101", '{"n":1}'), "k2": ("100101", '{"n":2}'), "k3": ("100102", '{"n":3}'),
             "k4": ("100102", '{"n":4}'), "k5": ("100103", '{"n":5}')}
    second = {**first, "k2": ("100101", '{"n":22}'), "k3": ("100104", '{"n":3}'), "k6": ("100101", '{"n":6}')}
    del second["k4"]
    with published.engine.begin() as conn:
        assert row_versions.write_version(conn, "scratch", 1, table(first)) == row_versions.Written(5, 0, 0)
        assert row_versions.write_version(conn, "scratch", 2, table(second)) == row_versions.Written(3, 3, 2)
        for version, rows in ((1, first), (2, second)):
            stored = conn.execute(select(view_rows.c.row_key, view_rows.c.area, view_rows.c.fields).where(
                in_version("scratch", version))).all()
            assert {k: (a, json.dumps(f, separators=(",", ":"))) for k, a, f in stored} == rows
        assert conn.scalar(select(func.count()).select_from(view_rows).where(view_rows.c.view == "scratch")) == 8
        conn.execute(delete(view_rows).where(view_rows.c.view == "scratch"))


def test_versions_beyond_the_kept_ones_take_only_the_rows_no_kept_version_has(published):
    seen = {}
    for skip in range(KEEP + 1):
        _object(published, skip=skip)
        publish(published, views=[VIEW], actor=ACTOR)
        seen[_current(published).version_id] = _read(published)
    kept = [v.version_id for v in _kept(published)]
    assert len(kept) == KEEP
    for version_id in kept:
        assert _read(published, version_id) == seen[version_id]
    distinct = {(key, row) for version_id in kept for key, row in seen[version_id].items()}
    assert _stored(published) == len(distinct)


def test_a_failed_publish_takes_back_every_row_it_wrote_or_closed(published):
    with published.engine.connect() as conn:
        table = sorted(tuple(r) for r in conn.execute(select(view_rows.c.row_key, view_rows.c.from_version,
                                                             view_rows.c.to_version).where(view_rows.c.view == VIEW)))
    rows, mine = _read(published), _object(published)
    with refusing_inserts(published.engine, "view_cells"), \
            pytest.raises(PublishError, match="the views being served are unchanged"):
        publish(published, views=[VIEW, "eef_tambon"], actor=ACTOR)  # the aggregate after the rows fails
    with published.engine.connect() as conn:
        assert sorted(tuple(r) for r in conn.execute(select(
            view_rows.c.row_key, view_rows.c.from_version, view_rows.c.to_version).where(
                view_rows.c.view == VIEW))) == table
    assert _read(published) == rows
    publish(published, views=[VIEW], actor=ACTOR)
    assert mine not in _read(published)


def test_a_0014_store_keeps_each_versions_own_rows_through_the_upgrade(settings):
    """A store at migration 0014, one copy of the rows per version, upgraded by opening it."""
    engine = engine_at_migration(settings, "0014")
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    copies = {"retired": {"a": "1", "b": "1"}, "current": {"a": "1", "b": "2", "c": "1"}, "building": {"a": "3"}}
    ids = {}
    with engine.begin() as conn:
        for status, rows in copies.items():
            ids[status] = conn.execute(insert(view_versions).values(
                view=VIEW, contract_id="eef", contract_sha256="0" * 64, level="person", status=status,
                started_at=at, rows=len(rows), report={})).inserted_primary_key[0]
            for key, value in rows.items():
                conn.execute(text("INSERT INTO view_rows (version_id, row_key, area, fields, home) "
                                  "VALUES (:v, :k, '340101', :f, '340101-01')"),
                             {"v": ids[status], "k": key, "f": json.dumps({"n": value})})
    engine.dispose()
    hub = Hub.init(settings)[0]
    try:
        with hub.engine.connect() as conn:
            for status, rows in copies.items():
                read = conn.execute(select(view_rows.c.row_key, view_rows.c.fields).where(
                    in_version(VIEW, ids[status]))).all()
                assert {k: f["n"] for k, f in read} == rows, status
        publish(hub, views=[VIEW], actor=ACTOR)  # takes back the unfinished version's rows, then closes the rest
        with hub.engine.connect() as conn:
            read = conn.execute(select(view_rows.c.row_key, view_rows.c.fields).where(
                in_version(VIEW, ids["current"]))).all()
            assert {k: f["n"] for k, f in read} == copies["current"]
            assert conn.scalar(select(func.count()).select_from(view_rows).where(
                view_rows.c.from_version == ids["building"])) == 0
    finally:
        hub.engine.dispose()
