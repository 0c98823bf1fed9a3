"""Published views keep their promises: no small cell, no recoverable cell, k on microdata, pseudonyms
that differ per partner, consent honoured, levels that add up, atomic versions. One synthetic population
(real tambons, four partner formats), ingested, linked and published once for the module."""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select, text

from helpers import ACTOR, isolated_database_url, linked_population, refusing_inserts
from hub.context import Hub
from hub.db.schema import LINKED_RECORDS_SQL as LINKED
from hub.db.schema import audit_events, view_cells, view_rows, view_versions
from hub.errors import ContractViolation, PublishError
from hub.settings import Settings
from hub.views.figures import FIGURES, measures_of
from hub.views.microdata import partner_key, pseudonyms
from hub.views.publish import publish
from hub.views.read import current_versions, read_view
from hub.views.row_versions import in_version


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    home = tmp_path_factory.mktemp("views")
    with isolated_database_url(home) as url:
        hub, _ = Hub.init(Settings(home=home, database_url=url))
        linked_population(hub, home / "files", households=700, seed=11)
        publish(hub, actor=ACTOR)
        yield hub
        hub.engine.dispose()


def _cells(hub, view):
    with hub.engine.connect() as conn:
        version = next(v for v in current_versions(conn) if v.view == view)
        rows = conn.execute(select(view_cells).where(view_cells.c.version_id == version.version_id)).all()
    return {r.area: (r.level, r.parent, r.figures) for r in rows}


def _rows(hub, view):
    with hub.engine.connect() as conn:
        version = next(v for v in current_versions(conn) if v.view == view)
        rows = conn.execute(select(view_rows).where(in_version(view, version.version_id))).all()
    return [r.fields for r in rows]


def _aggregate_views(hub):
    return [(loaded, view) for loaded, view in hub.contracts.views() if not view.microdata and not view.identified]


def test_every_view_a_contract_defines_is_published_with_its_contract_digest(published):
    with published.engine.connect() as conn:
        served = {v.view: v for v in current_versions(conn)}
    expected = {v.name: c.sha256 for c, v in published.contracts.views() if not v.identified}
    assert {name: served[name].contract_id for name in expected} == \
        {v.name: c.contract.id for c, v in published.contracts.views() if not v.identified}
    with published.engine.connect() as conn:
        digests = dict(conn.execute(select(view_versions.c.view, view_versions.c.contract_sha256)
                                    .where(view_versions.c.status == "current")).all())
        loaded = {json.loads(d)["sha256"] for d in conn.scalars(
            select(audit_events.c.details).where(audit_events.c.action == "contract.loaded"))}
    assert digests == expected
    assert set(expected.values()) <= loaded  # each contract version is in the audit log


def test_no_published_cell_is_below_its_views_threshold(published):
    for _, view in _aggregate_views(published):
        counts = [m.name for m in measures_of(view.figures) if m.is_count]
        for area, (_, _, figures) in _cells(published, view.name).items():
            small = {c: figures[c] for c in counts if figures[c] is not None and 0 < figures[c] < view.threshold}
            assert not small, (view.name, area, small)


def test_a_suppressed_cell_cannot_be_recovered_from_its_parent_and_visible_siblings(published):
    checked = 0
    for _, view in _aggregate_views(published):
        cells = _cells(published, view.name)
        children = defaultdict(list)
        for area, (_, parent, _) in cells.items():
            if parent is not None:
                children[parent].append(area)
        for m in (m for m in measures_of(view.figures) if m.is_count):
            for parent, kids in children.items():
                hidden = [k for k in kids if cells[k][2][m.name] is None]
                if cells[parent][2][m.name] is not None and hidden:
                    checked += 1
                    assert len(hidden) >= 2, (view.name, m.name, parent, hidden)
                    rest = cells[parent][2][m.name] - sum(cells[k][2][m.name] for k in kids if k not in hidden)
                    # each hidden cell is >= 1 (zeros are published): with two or more hidden, the total
                    # left leaves each of them more than one possible value
                    assert rest - (len(hidden) - 1) > 1, (view.name, m.name, parent, hidden, rest)
            for total, parts in FIGURES["coverage"].partitions if "coverage" in view.figures else ():
                for area, (_, _, f) in cells.items():
                    hidden = [p for p in parts if f[p] is None]
                    assert len(hidden) != 1 or f[total] is None, (view.name, area)
    assert checked > 0  # the population is small enough that suppression happens


def test_unsuppressed_levels_add_up_to_their_parent(published):
    for _, view in _aggregate_views(published):
        if view.public:
            continue  # noise is added below; the sums are still exact, checked next
        cells = _cells(published, view.name)
        children = defaultdict(list)
        for area, (_, parent, _) in cells.items():
            if parent is not None:
                children[parent].append(area)
        for m in measures_of(view.figures):
            for parent, kids in children.items():
                values = [cells[k][2][m.name] for k in kids]
                total = cells[parent][2][m.name]
                if total is not None and None not in values:
                    assert sum(values) == pytest.approx(total), (view.name, m.name, parent)


def test_the_public_view_is_noisy_but_its_levels_still_add_up(published):
    cells = _cells(published, "public_province")
    nation = cells["TH"][2]
    provinces = [f for level, _, f in cells.values() if level == "province"]
    if all(p["households"] is not None for p in provinces):
        assert sum(p["households"] for p in provinces) == nation["households"]
    true = _cells(published, "policy_all_levels")["TH"][2]["households"]
    assert nation["households"] != true or nation["persons"] != _cells(published, "policy_all_levels")["TH"][2][
        "persons"]  # noise was added (both equal by chance is vanishingly unlikely)
    with published.engine.connect() as conn:
        epsilon = conn.scalar(select(view_versions.c.epsilon).where(view_versions.c.view == "public_province",
                                                                    view_versions.c.status == "current"))
    assert epsilon == 1.0


def test_microdata_is_k_anonymous_on_its_declared_quasi_identifiers(published):
    for _, view in published.contracts.views():
        if not view.microdata or view.identified:
            continue
        rows = _rows(published, view.name)
        assert rows, view.name
        classes = Counter(tuple(r[q] for q in view.quasi_identifiers) for r in rows)
        assert min(classes.values()) >= view.k, (view.name, min(classes.values()))
        with published.engine.connect() as conn:
            report = conn.scalar(select(view_versions.c.report).where(view_versions.c.view == view.name,
                                                                      view_versions.c.status == "current"))
        assert report["k_anonymity"]["suppressed_share"] <= view.max_suppression
        assert report["k_anonymity"]["rows"] - report["k_anonymity"]["suppressed"] == len(rows)


def test_the_same_household_has_unrelated_pseudonyms_in_two_partners_views(published):
    import pandas as pd

    with published.engine.connect() as conn:
        households = pd.Series(conn.scalars(text(f"SELECT DISTINCT household_id FROM {LINKED}")).all())
    as_msdhs = pseudonyms(households, key=partner_key(published.keyring, "msdhs"), kind="household")
    as_eef = pseudonyms(households, key=partner_key(published.keyring, "eef"), kind="household")
    shown = {r["household"] for r in _rows(published, "msdhs_households")}
    assert shown and shown <= set(as_msdhs)  # MSDHS sees its own pseudonyms
    assert not shown & set(as_eef)  # EEF's pseudonyms of the same households are not among them
    assert (as_msdhs != as_eef).all() and not set(as_msdhs) & set(households)


def test_a_person_who_objects_is_absent_from_the_next_publish(published):
    from consent import registry
    from consent.registry import Grantor, NewConsent
    from consent.subjects import person

    with published.engine.connect() as conn:
        adults = conn.execute(text(
            f"SELECT person_id, birth_year FROM {LINKED} WHERE birth_year < 1985 AND household_id IN "
            f"(SELECT household_id FROM {LINKED} WHERE source = 'eef_students') ORDER BY person_id")).all()
    import pandas as pd

    shown = {r["person"] for r in _rows(published, "eef_students")}
    key = partner_key(published.keyring, "eef")
    person_id, born, mine = next((p, b, m) for (p, b), m in zip(adults, pseudonyms(
        pd.Series([p for p, _ in adults]), key=key, kind="person")) if m in shown)
    objection = NewConsent(person(published.keyring, person_id=person_id), "refused", ["education_support"], ["*"],
                           Grantor("self"), {"form": "คำคัดค้าน"}, objection=True)
    registry.record(published, objection, actor=ACTOR, born=dt.date(born, 1, 1))
    done = {p.view: p for p in publish(published, views=["eef_students"], actor=ACTOR)}
    assert mine not in {r["person"] for r in _rows(published, "eef_students")}
    assert done["eef_students"].excluded_by_consent >= 1


def test_microdata_carries_no_identity(published):
    for name in ("eef_students", "msdhs_households"):
        for row in _rows(published, name)[:50]:
            assert not {"first_name", "last_name", "citizen_id", "birth_date", "house_no"} & set(row)
            assert all(len(v) == 32 for k, v in row.items() if k in ("person", "household"))


def test_an_attacker_knowing_village_sex_and_birth_year_cannot_single_anyone_out(published):
    """The attacker holds EEF's microdata and the public view, and knows a target's village, sex and birth
    year. Every microdata row the target could be matches at least k rows, so no row is the target's."""
    from hub.anonymise.generalise import generalise

    view = published.contracts.view("eef_students")[1]
    rows = _rows(published, "eef_students")
    by_class = Counter((r["area"], r["sex"], r["age"]) for r in rows)
    levels = _report(published, "eef_students")["k_anonymity"]["levels"]
    with published.engine.connect() as conn:
        targets = conn.execute(text(
            "SELECT tambon_code, moo, sex, birth_year FROM source_records WHERE source = 'eef_students'")).all()
    import pandas as pd

    year = dt.date.today().year
    frame = pd.DataFrame(targets, columns=["tambon", "moo", "sex", "birth_year"])
    area = generalise(frame["tambon"] + "-" + frame["moo"].fillna(0).astype(int).astype(str).str.zfill(2),
                      ladder="area", level=levels["area"])
    sex = generalise(frame["sex"], ladder="sex", level=levels["sex"])
    age = generalise(year - frame["birth_year"], ladder="age", level=levels["age"])
    matches = [by_class.get(key, 0) for key in zip(area, sex, age)]
    assert all(n == 0 or n >= view.k for n in matches)  # 0: the target's row was suppressed
    assert sum(1 for n in matches if n) > len(matches) / 2  # most targets are in the view, hidden in a crowd


def _report(hub, view):
    with hub.engine.connect() as conn:
        report = conn.scalar(select(view_versions.c.report).where(view_versions.c.view == view,
                                                                  view_versions.c.status == "current"))
    return report


def test_reading_a_view_is_audited_and_shows_an_area_with_its_children(published):
    nation = read_view(published, "tpmap_tambon", area=None, actor=ACTOR)
    province = next(c["area"] for c in nation.cells if c["level"] == "province")
    part = read_view(published, "tpmap_tambon", area=province, actor=ACTOR)
    assert {c["area"] for c in part.cells if c["area"] != province} and \
        all(c["parent"] == province for c in part.cells if c["area"] != province)
    with published.engine.connect() as conn:
        last = conn.execute(select(audit_events).order_by(audit_events.c.seq.desc()).limit(1)).one()
    assert last.action == "view.read" and json.loads(last.details)["area"] == province
    with pytest.raises(ContractViolation, match="no area"):
        read_view(published, "tpmap_tambon", area="999999", actor=ACTOR)


def test_a_view_no_contract_defines_is_refused(published):
    with pytest.raises(ContractViolation, match="no contract defines a view named 'everything'"):
        publish(published, views=["everything"], actor=ACTOR)
    with pytest.raises(ContractViolation, match="never published"):
        publish(published, views=["community_return"], actor=ACTOR)


def test_a_failed_publish_leaves_the_current_versions_served(published):
    before = {v.view: v.version_id for v in _current(published)}
    with refusing_inserts(published.engine, "view_cells"), \
            pytest.raises(PublishError, match="the views being served are unchanged"):
        publish(published, actor=ACTOR, force=True)
    assert {v.view: v.version_id for v in _current(published)} == before
    with published.engine.connect() as conn:
        assert conn.scalar(select(view_versions.c.id).where(view_versions.c.status == "building")) is None
        assert conn.scalar(select(audit_events.c.action).order_by(audit_events.c.seq.desc()).limit(1)) == \
            "view.publish_failed"


def test_a_killed_publish_leaves_the_current_versions_served_and_the_next_one_cleans_up(published):
    """``hub publish`` in its own process, killed (SIGKILL, no chance to clean up) once it has written a
    version but before it switched: nothing changes for readers."""
    import os
    import signal
    import subprocess
    import sys
    import time

    before = {v.view: v.version_id for v in _current(published)}
    env = {**os.environ, "HUB_HOME": str(published.settings.home),
           "HUB_DATABASE_URL": published.settings.resolved_database_url}
    hub_command = str(Path(sys.executable).parent / "hub")
    process = subprocess.Popen([hub_command, "publish", "--force"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    building = None
    deadline = time.monotonic() + 60
    while building is None and process.poll() is None and time.monotonic() < deadline:
        with published.engine.connect() as conn:
            building = conn.scalar(select(view_versions.c.id).where(view_versions.c.status == "building"))
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert building is not None, "the publish finished before it could be killed"
    assert {v.view: v.version_id for v in _current(published)} == before
    assert read_view(published, "tpmap_tambon", area=None, actor=ACTOR).version.version_id == before["tpmap_tambon"]
    publish(published, views=["eef_tambon"], actor=ACTOR, force=True)
    with published.engine.connect() as conn:
        assert conn.scalar(select(view_versions.c.id).where(view_versions.c.status == "building")) is None
        assert conn.scalar(select(view_cells.c.version_id).where(view_cells.c.version_id == building)) is None


def _current(hub):
    with hub.engine.connect() as conn:
        return current_versions(conn)


def test_a_new_publish_switches_versions_and_keeps_the_last_three(published):
    for _ in range(3):
        publish(published, views=["tpmap_tambon"], actor=ACTOR, force=True)
    with published.engine.connect() as conn:
        statuses = conn.execute(select(view_versions.c.id, view_versions.c.status)
                                .where(view_versions.c.view == "tpmap_tambon").order_by(view_versions.c.id)).all()
        kept_rows = set(conn.scalars(select(view_cells.c.version_id).distinct()))
    assert [s for _, s in statuses] == ["retired", "retired", "current"]
    assert {i for i, _ in statuses} <= kept_rows
    oldest = statuses[0][0]
    assert read_view(published, "tpmap_tambon", area=None, actor=ACTOR, version_id=oldest).version.version_id == oldest
    with pytest.raises(ContractViolation, match="keeps no version"):
        read_view(published, "tpmap_tambon", area=None, actor=ACTOR, version_id=oldest - 1)


def test_a_public_views_privacy_budget_cannot_be_overspent(published):
    publish(published, views=["public_province"], actor=ACTOR)  # brought up to date with earlier tests
    with published.engine.connect() as conn:
        spent = conn.scalar(text("SELECT SUM(epsilon) FROM view_versions WHERE view = 'public_province' "
                                 "AND status IN ('current', 'retired', 'expired')"))
    again = publish(published, views=["public_province"], actor=ACTOR)  # nothing changed: no new release
    assert again[0].unchanged
    with published.engine.connect() as conn:
        assert conn.scalar(text("SELECT SUM(epsilon) FROM view_versions WHERE view = 'public_province' "
                                "AND status IN ('current', 'retired', 'expired')")) == spent
    for _ in range(int(12 - spent)):
        publish(published, views=["public_province"], actor=ACTOR, force=True)
    with pytest.raises(ContractViolation, match="privacy budget is spent"):
        publish(published, views=["public_province"], actor=ACTOR, force=True)


def test_the_views_commands_list_and_show_an_area_with_thai_names(published, monkeypatch):
    from typer.testing import CliRunner

    from hub.cli import app

    monkeypatch.setenv("HUB_HOME", str(published.settings.home))
    monkeypatch.setenv("HUB_DATABASE_URL", published.settings.resolved_database_url)
    run = CliRunner().invoke
    listed = run(app, ["views", "list"], catch_exceptions=False)
    assert listed.exit_code == 0 and "policy_all_levels" in listed.stdout and "k=5" in listed.stdout
    nation = run(app, ["views", "show", "policy_all_levels", "--json"], catch_exceptions=False)
    province = next(c["area"] for c in json.loads(nation.stdout) if c["level"] == "province")
    shown = run(app, ["views", "show", "policy_all_levels", "--area", province], catch_exceptions=False)
    from hub.thai.areas import area_name

    assert shown.exit_code == 0 and shown.stdout.startswith("area\tname\thouseholds\tpersons")
    assert f"\n{province}\t{area_name(province)}\t" in shown.stdout
    kept = run(app, ["views", "versions", "tpmap_tambon"], catch_exceptions=False)
    assert kept.exit_code == 0 and "\tcurrent\t" in kept.stdout
    missing = run(app, ["views", "show", "nothing_here"])
    assert missing.exit_code == 1 and "no contract defines a view named 'nothing_here'" in missing.stderr


def test_an_objection_to_one_purpose_takes_the_person_out_of_every_aggregate(published):
    """A person who objects to research (tpmap_tambon's purpose) but not to policy planning would leave one
    table and stay in the other; a partner holding both would subtract them. Their objection keeps them out
    of every aggregate view."""
    from consent import registry
    from consent.registry import Grantor, NewConsent
    from consent.subjects import person

    publish(published, views=["tpmap_tambon", "policy_all_levels"], actor=ACTOR)
    before = {v: _cells(published, v)["TH"][2]["persons"] for v in ("tpmap_tambon", "policy_all_levels")}
    with published.engine.connect() as conn:
        person_id, born = conn.execute(text(
            f"SELECT person_id, birth_year FROM {LINKED} WHERE birth_year < 1980 AND source = 'tpmap' "
            "ORDER BY person_id DESC LIMIT 1")).one()
    objection = NewConsent(person(published.keyring, person_id=person_id), "refused", ["research_statistics"],
                           ["*"], Grantor("self"), {"form": "คำคัดค้าน"}, objection=True)
    registry.record(published, objection, actor=ACTOR, born=dt.date(born, 1, 1))
    publish(published, views=["tpmap_tambon", "policy_all_levels"], actor=ACTOR)
    after = {v: _cells(published, v)["TH"][2]["persons"] for v in ("tpmap_tambon", "policy_all_levels")}
    assert after["tpmap_tambon"] == before["tpmap_tambon"] - 1
    assert after["policy_all_levels"] == before["policy_all_levels"] - 1  # policy planning loses them too


def test_a_view_exports_as_csv_with_thai_area_names(published, monkeypatch, tmp_path):
    import csv

    from typer.testing import CliRunner

    from hub.cli import app
    from hub.thai.areas import area_name

    monkeypatch.setenv("HUB_HOME", str(published.settings.home))
    monkeypatch.setenv("HUB_DATABASE_URL", published.settings.resolved_database_url)
    out = tmp_path / "policy.csv"
    result = CliRunner().invoke(app, ["views", "export", "policy_all_levels", "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    with open(out, encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(_cells(published, "policy_all_levels"))
    assert {r["level"] for r in rows} == {"village", "tambon", "amphoe", "province", "nation"}
    tambon = next(r for r in rows if r["level"] == "tambon")
    assert tambon["name"] == area_name(tambon["area"]) and tambon["parent"] == tambon["area"][:4]
    micro = tmp_path / "eef.csv"
    assert CliRunner().invoke(app, ["views", "export", "eef_students", "--out", str(micro)]).exit_code == 0
    with open(micro, encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle))
    assert header == ["row", "person", "area", "sex", "age", "eef_status", "grade", "target_poor", "welfare_card",
                      "sources"]
    with published.engine.connect() as conn:
        reads = conn.scalars(select(audit_events.c.details).where(audit_events.c.action == "view.read")
                             .order_by(audit_events.c.seq.desc()).limit(2)).all()
    assert json.loads(reads[0])["rows"] == len(_rows(published, "eef_students"))
    nowhere = CliRunner().invoke(app, ["views", "export", "eef_tambon", "--out", str(tmp_path / "no" / "x.csv")])
    assert nowhere.exit_code == 1 and "no such directory" in nowhere.stderr


def test_a_publish_keeps_views_whose_inputs_did_not_change_and_rebuilds_after_a_change(published):
    from hub.views.freshness import READ_ONLY_ACTIONS

    publish(published, views=["eef_tambon", "msdhs_amphoe"], actor=ACTOR, force=True)
    read_view(published, "eef_tambon", area=None, actor=ACTOR)  # a read changes nothing
    assert "view.read" in READ_ONLY_ACTIONS
    kept = {p.view: p for p in publish(published, views=["eef_tambon", "msdhs_amphoe"], actor=ACTOR)}
    assert kept["eef_tambon"].unchanged and kept["msdhs_amphoe"].unchanged
    from consent import registry
    from consent.registry import Grantor, NewConsent
    from consent.subjects import person

    with published.engine.connect() as conn:
        person_id, born = conn.execute(text(f"SELECT person_id, birth_year FROM {LINKED} WHERE "
                                            "birth_year < 1980 ORDER BY person_id LIMIT 1")).one()
    registry.record(published, NewConsent(person(published.keyring, person_id=person_id), "refused",
                                          ["welfare_referral"], ["partner:msdhs"], Grantor("self"), {"form": "ค.2"}),
                    actor=ACTOR, born=dt.date(born, 1, 1))  # a consent decision is a change
    rebuilt = {p.view: p for p in publish(published, views=["eef_tambon", "msdhs_amphoe"], actor=ACTOR)}
    assert not rebuilt["eef_tambon"].unchanged and not rebuilt["msdhs_amphoe"].unchanged
