"""``hub demo`` as a newcomer runs it: real provinces, four partner formats, ingested privately."""
from __future__ import annotations

import csv
import re

import geothai
from sqlalchemy import func, select

from hub.context import Hub
from hub.db.schema import source_records
from hub.demo.population import generate_population
from hub.demo.writers import write_partner_files


def test_the_same_seed_writes_the_same_bytes(tmp_path):
    first = write_partner_files(generate_population(households=40, seed=7), tmp_path / "a", seed=7)
    second = write_partner_files(generate_population(households=40, seed=7), tmp_path / "b", seed=7)
    for source, paths in first.files.items():
        assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in second.files[source]], source


def test_the_population_lives_in_real_tambons_of_three_provinces():
    population = generate_population(households=120, seed=3)
    provinces = {h.tambon_code[:2] for h in population.households}
    assert len(provinces) >= 3
    assert all(geothai.subdistrict(h.tambon_code) is not None for h in population.households)


def test_demo_ingests_all_four_formats_and_keeps_no_clear_identity(settings, cli, tmp_path):
    out = tmp_path / "partner-files"
    result = cli("demo", "--households", "80", "--out", out, "--no-serve")
    assert result.exit_code == 0, result.output
    assert re.search(r"Audit log: \d+ events, \d+ signed checkpoint\(s\): intact", result.stdout)
    assert "granted data return at its meeting (receipt verifies)" in result.stdout
    village, steward = re.search(r"consent data-return (\d{6}-\d{2}) --steward (\d+)", result.stdout).groups()
    view = cli("consent", "data-return", village, "--steward", steward)
    assert view.exit_code == 0 and f"\n{village}\t" in view.stdout and "counted only" in view.stdout
    hub = Hub.open(settings)
    try:
        with hub.engine.connect() as conn:
            counts = dict(conn.execute(select(source_records.c.source, func.count())
                                       .group_by(source_records.c.source)).all())
        assert set(counts) == {"tpmap", "msdhs_logbook", "eef_students", "university_survey"}
        links = tmp_path / "links.csv"
        assert cli("export", "links", "--out", links).exit_code == 0
        exported = {(r["source"], r["source_record_id"]) for r in csv.DictReader(open(links, encoding="utf-8"))}
        with open(out / "truth.csv", encoding="utf-8") as handle:
            truth = {(r["source"], r["record_id"]) for r in csv.DictReader(handle)}
        # every person the partner files carry was ingested (tombstoned households and members who left
        # are gone from both sides)
        assert exported <= truth and len(exported) >= 0.95 * len(truth)
    finally:
        hub.engine.dispose()
    if settings.resolved_database_url.startswith("sqlite"):
        assert "holds 0 of" in result.stdout and "and 0 of" in result.stdout
