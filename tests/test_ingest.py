"""Ingest through the real ``hub`` command line and through ``hub.pipeline.ingest.ingest_file``: counts,
exit codes, the quarantine, idempotent re-ingest, updates in place and the links export."""
from __future__ import annotations

import csv
import json
import re

import pytest
from sqlalchemy import func, select

from helpers import (
    ALL_FILES,
    EEF_2566_2,
    LOGBOOK_JULY,
    LOGBOOK_JUNE,
    SURVEY,
    TPMAP,
    TPMAP_LATER,
    ingest,
    ingest_all,
    records,
    snapshot,
    squash,
)
from hub.context import Hub
from hub.crypto import aad
from hub.db.schema import audit_events, ingest_runs, quarantine, source_records
from hub.errors import AdapterError, UnknownSource
from hub.pipeline.ingest import ingest_file
from hub.settings import Settings


def audit_actions(hub) -> list[str]:
    with hub.engine.connect() as conn:
        return list(conn.scalars(select(audit_events.c.action).order_by(audit_events.c.seq)))


def export_links(cli, path) -> list[list[str]]:
    result = cli("export", "links", "--out", path)
    assert result.exit_code == 0, result.output
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


# ------------------------------------------------------------------------------------------ counts and exit codes


def test_ingest_prints_rows_read_accepted_and_quarantined_per_file(hub, cli):
    result = cli("ingest", "tpmap", TPMAP, TPMAP_LATER)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{TPMAP}: rows read 11, accepted 9, quarantined 2 ")
    assert "8 new, 0 updated" in lines[0]
    assert lines[1].startswith(f"{TPMAP_LATER}: rows read 2, accepted 2, quarantined 0 ")
    assert "0 new, 1 updated, 1 unchanged" in lines[1]


@pytest.mark.parametrize("source,path,counts", [
    ("tpmap", TPMAP, (11, 9, 2)),
    ("eef_students", EEF_2566_2, (4, 3, 1)),
    ("msdhs_logbook", LOGBOOK_JUNE, (5, 3, 2)),
    ("msdhs_logbook", LOGBOOK_JULY, (3, 3, 0)),
    ("university_survey", SURVEY, (5, 4, 1)),
])
def test_every_source_reports_its_counts_and_exits_0_with_quarantined_rows(hub, cli, source, path, counts):
    result = cli("ingest", source, path)
    assert result.exit_code == 0, result.output
    assert f"rows read {counts[0]}, accepted {counts[1]}, quarantined {counts[2]}" in result.stdout


def test_ingest_file_returns_the_same_counts(hub):
    report = ingest_file(hub, "university_survey", SURVEY, actor="test:api")
    assert (report.rows_read, report.accepted, report.quarantined, report.inserted) == (5, 4, 1, 7)
    assert report.run_id > 0 and len(report.sha256) == 64


def test_a_missing_file_exits_1_and_the_other_files_still_go_in(hub, cli, tmp_path):
    missing = tmp_path / "nowhere.csv"
    result = cli("ingest", "tpmap", missing, TPMAP)
    assert result.exit_code == 1
    assert squash("nowhere.csv") in squash(result.stderr)
    assert f"{TPMAP}: rows read 11" in result.stdout
    assert len(records(hub, "tpmap")) == 8
    assert "ingest.failed" in audit_actions(hub)


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbfnot,the,tpmap,header\r\n1,2,3,4\r\n"])
def test_an_unreadable_file_exits_1_and_leaves_the_store_as_it_was(hub, cli, tmp_path, content):
    ingest(hub, "tpmap", TPMAP)
    before = snapshot(hub.engine)
    with hub.engine.connect() as conn:
        runs_before = conn.scalar(select(func.count()).select_from(ingest_runs))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    result = cli("ingest", "tpmap", bad)
    assert result.exit_code == 1
    assert squash("bad.csv") in squash(result.stderr)
    assert snapshot(hub.engine) == before
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ingest_runs)) == runs_before
    assert audit_actions(hub)[-1] == "ingest.failed"


def test_ingest_file_raises_adapter_error_for_an_unreadable_file(hub, tmp_path):
    with pytest.raises(AdapterError, match="cannot read"):
        ingest_file(hub, "tpmap", tmp_path / "nowhere.csv", actor="test:api")
    with pytest.raises(UnknownSource, match="registered adapters: community_found, eef_students, msdhs_logbook, tpmap"):
        ingest_file(hub, "tpmap2", TPMAP, actor="test:api")


def test_an_unknown_source_exits_2(hub, cli):
    result = cli("ingest", "tmap", TPMAP)
    assert result.exit_code == 2
    assert squash("unknown source 'tmap'") in squash(result.stderr)
    assert records(hub, "tpmap") == {}


def test_a_stray_quote_in_a_large_csv_does_not_crash_the_ingest(hub, cli, tmp_path):
    rows = TPMAP.read_bytes().decode("utf-8-sig").split("\r\n")
    header, first = rows[0], rows[1]
    body = [first.replace("TP66-3401-0000001", f"TP66-3401-{n:07d}") for n in range(100, 1400)]
    broken = first.replace(",ใจดี,", ',"ใจดี,')  # an opening quote that never closes
    path = tmp_path / "tpmap_stray_quote.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([header, first, broken, *body, ""]).encode("utf-8"))
    result = cli("ingest", "tpmap", path)  # an unexpected exception propagates out of cli() here
    assert result.exit_code == 0, result.output
    assert "tpmap_stray_quote.csv" in result.output
    # nothing is lost silently: every row of the file is either stored or kept in quarantine with its text
    stored = set(records(hub, "tpmap"))
    with hub.engine.connect() as conn:
        raws = " ".join(hub.cipher.decrypt(q.raw_enc, aad("quarantine", q.source, f"{q.run_id}:{q.line}", "raw"))
                        for q in conn.execute(select(quarantine)))
    assert "TP66-3401-0000001" in stored
    lost = [n for n in range(100, 1400) if f"TP66-3401-{n:07d}" not in stored and f"TP66-3401-{n:07d}" not in raws]
    assert lost == [], f"{len(lost)} rows after the stray quote were neither stored nor quarantined with their text"


# ------------------------------------------------------------------------------------------ the quarantine


def test_quarantine_list_shows_file_line_and_reason(hub, cli):
    for source, path in ALL_FILES:
        ingest(hub, source, path)
    result = cli("quarantine", "list")
    assert result.exit_code == 0
    impossible_date = "birth_date: not a real calendar date (the day does not exist in that month)"
    expected = [
        ("tpmap_2566_export.csv", 7, "broken row: expected 22 fields, found 10"),
        ("tpmap_2566_export.csv", 9, impossible_date),
        ("eef_2566_2.csv", 5, "grade: expected อ.1-อ.3, ป.1-ป.6 or ม.1-ม.6"),
        ("logbook_2024-06.ndjson", 4, "not valid JSON"),
        ("logbook_2024-06.ndjson", 6, f"members[1].{impossible_date}"),
        ("survey_2566_batch1.ndjson", 4, "capitals.human: expected a score from 1.0 to 5.0"),
    ]
    out_lines = result.stdout.splitlines()
    for file_name, line, reason in expected:
        assert any(file_name in out and re.search(rf"\b{line}\b", out) and reason in out for out in out_lines), \
            f"no output line shows {file_name}, line {line} and the whole reason {reason!r}:\n{result.stdout}"


def test_quarantine_list_filters_by_source(hub, cli):
    ingest(hub, "tpmap", TPMAP)
    ingest(hub, "university_survey", SURVEY)
    result = cli("quarantine", "list", "--source", "university_survey")
    assert result.exit_code == 0
    assert "survey_2566_batch1.ndjson" in result.stdout
    assert "capitals.human" in result.stdout
    assert "tpmap" not in result.stdout


def _quarantine_id(hub, source, line) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(select(quarantine.c.id).where(quarantine.c.source == source, quarantine.c.line == line))


def test_quarantine_show_decrypts_the_raw_row_and_audits_the_read(hub, cli):
    ingest(hub, "tpmap", TPMAP)
    qid = _quarantine_id(hub, "tpmap", 7)
    result = cli("quarantine", "show", qid, "--reason", "ticket SAP-12: fix the broken export line")
    assert result.exit_code == 0, result.output
    raw = TPMAP.read_bytes().decode("utf-8-sig").split("\r\n")[6]
    assert raw in result.stdout
    with hub.engine.connect() as conn:
        last = conn.execute(select(audit_events).order_by(audit_events.c.seq.desc()).limit(1)).one()
    assert last.action == "quarantine.read"
    assert last.resource == f"quarantine:{qid}"
    assert json.loads(last.details) == {"quarantine_id": qid, "reason": "ticket SAP-12: fix the broken export line"}
    assert last.actor.startswith("cli:")


def test_quarantine_show_prints_a_long_raw_row_exactly_as_it_was(hub, cli):
    ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    raw = LOGBOOK_JUNE.read_text("utf-8").splitlines()[5]
    assert len(raw) > 200
    result = cli("quarantine", "show", _quarantine_id(hub, "msdhs_logbook", 6), "--reason", "check birth date")
    assert result.exit_code == 0
    assert result.stdout.rstrip("\n") == raw


def test_quarantine_keeps_the_raw_text_of_a_row_exactly_as_written(hub, cli, tmp_path):
    # Quoted fields are part of the raw row: an operator must see (and be able to re-send) what came in.
    lines = TPMAP.read_bytes().decode("utf-8-sig").split("\r\n")
    quoted_bad_date = lines[3].replace("00/07/2530", "31/04/2530")        # "ทองคำ, ณ อุบล" quoted
    quoted_short = lines[3].split(",,7,2,")[0]                             # quoted, too few columns
    path = tmp_path / "tpmap_quoted_rejects.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([lines[0], quoted_bad_date, quoted_short, ""]).encode())
    assert '"ทองคำ, ณ อุบล"' in quoted_bad_date and '"ทองคำ, ณ อุบล"' in quoted_short
    ingest(hub, "tpmap", path)
    for line, raw in ((2, quoted_bad_date), (3, quoted_short)):
        result = cli("quarantine", "show", _quarantine_id(hub, "tpmap", line), "--reason", "fix and re-send")
        assert result.exit_code == 0
        assert result.stdout.rstrip("\n") == raw


def test_quarantine_show_needs_a_reason_and_a_known_id(hub, cli):
    ingest(hub, "tpmap", TPMAP)
    qid = _quarantine_id(hub, "tpmap", 7)
    assert cli("quarantine", "show", qid).exit_code != 0
    unknown = cli("quarantine", "show", 999999, "--reason", "curious")
    assert unknown.exit_code == 1
    assert squash("no quarantined row with id 999999") in squash(unknown.stderr)
    assert "quarantine.read" not in audit_actions(hub)


# ------------------------------------------------------------------------------------------ re-ingest


@pytest.mark.parametrize("source,path", ALL_FILES, ids=[p.name for _, p in ALL_FILES])
def test_reingesting_the_same_file_changes_nothing(hub, source, path):
    first = ingest(hub, source, path)
    before = snapshot(hub.engine)
    report = ingest(hub, source, path)
    assert snapshot(hub.engine) == before
    assert (report.inserted, report.updated, report.deleted) == (0, 0, 0)
    assert (report.rows_read, report.quarantined) == (first.rows_read, first.quarantined)


@pytest.mark.parametrize("source,path", ALL_FILES, ids=[p.name for _, p in ALL_FILES])
def test_reingesting_a_file_counts_each_of_its_records_once(hub, source, path):
    # "records: N new ... M unchanged" counts persons; a file with a duplicated or re-submitted row holds
    # fewer records than rows, and the second ingest must report the same records the first one wrote.
    first = ingest(hub, source, path)
    again = ingest(hub, source, path)
    assert again.unchanged + again.stale == first.inserted == len(records(hub, source))


def test_reingesting_every_file_changes_nothing_including_the_links_export(hub, cli, tmp_path):
    for source, path in ALL_FILES:
        assert cli("ingest", source, path).exit_code == 0
    before = snapshot(hub.engine)
    links_before = export_links(cli, tmp_path / "links1.csv")
    for source, path in ALL_FILES:
        assert cli("ingest", source, path).exit_code == 0
    assert snapshot(hub.engine) == before
    assert export_links(cli, tmp_path / "links2.csv") == links_before


def test_reingesting_with_tiny_batches_keeps_the_later_duplicate(settings, tmp_path):
    small = Settings(ingest_batch_size=2)
    hub, _ = Hub.init(small)
    try:
        ingest(hub, "tpmap", TPMAP)
        before = snapshot(hub.engine)
        assert records(hub, "tpmap")["TP66-3401-0000001"].line == 8
        report = ingest(hub, "tpmap", TPMAP)
        assert (report.inserted, report.updated) == (0, 0)
        assert snapshot(hub.engine) == before
        assert records(hub, "tpmap")["TP66-3401-0000001"].attributes["income_per_capita_year"] == 20000
    finally:
        hub.engine.dispose()


def test_the_same_file_under_another_name_is_not_quarantined_twice(hub, tmp_path):
    ingest(hub, "tpmap", TPMAP)
    before = snapshot(hub.engine)
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(TPMAP.read_bytes())
    report = ingest(hub, "tpmap", copy)
    assert report.quarantined == 2
    assert snapshot(hub.engine) == before


def test_a_changed_record_is_updated_in_place(hub, cli):
    cli("ingest", "tpmap", TPMAP)
    before = records(hub, "tpmap")
    result = cli("ingest", "tpmap", TPMAP_LATER)
    assert "0 new, 1 updated, 1 unchanged" in result.stdout
    after = records(hub, "tpmap")
    assert set(after) == set(before)
    assert {rid: r.person_id for rid, r in after.items()} == {rid: r.person_id for rid, r in before.items()}
    assert after["TP66-3401-0000003"].id == before["TP66-3401-0000003"].id
    assert after["TP66-3401-0000003"].fingerprint != before["TP66-3401-0000003"].fingerprint


def test_the_same_citizen_id_written_differently_gets_the_same_linkage_key(hub):
    ingest(hub, "tpmap", TPMAP)            # 3-4010-01234-56-2 and "1 1014 00123 45 1"
    ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)  # 3401001234562
    ingest(hub, "university_survey", SURVEY)    # 1101400123451
    tpmap, logbook, survey = records(hub, "tpmap"), records(hub, "msdhs_logbook"), records(hub, "university_survey")
    assert tpmap["TP66-3401-0000001"].linkage_key == logbook["LB-3401-000101/1"].linkage_key
    assert tpmap["TP66-3401-0000002"].linkage_key == survey["UBU-2566-000345/1"].linkage_key
    assert tpmap["TP66-3401-0000001"].linkage_key != tpmap["TP66-3401-0000002"].linkage_key
    assert tpmap["TP66-3401-0000002"].house_key is not None
    assert tpmap["TP66-3401-0000002"].house_key == survey["UBU-2566-000345/1"].house_key  # 34010012346


# ------------------------------------------------------------------------------------------ links export


def test_export_links_has_the_exact_header_and_every_source_record_id_form(hub, cli, tmp_path):
    ingest_all(hub)
    rows = export_links(cli, tmp_path / "links.csv")
    assert rows[0] == ["source", "source_record_id", "person_id", "household_id"]
    by_source: dict[str, set[str]] = {}
    for source, record_id, person_id, household_id in rows[1:]:
        by_source.setdefault(source, set()).add(record_id)
        assert re.fullmatch(r"[0-9a-f]{32}", person_id) and re.fullmatch(r"[0-9a-f]{32}", household_id)
    assert by_source["tpmap"] == {
        "TP66-3401-0000001", "TP66-3401-0000002", "TP66-3401-0000003", "TP66-3401-0000004",
        "TP66-3401-0000005", "TP66-1001-0000008", "TP66-5001-0000009", "TP66-3401-0000010"}
    assert by_source["eef_students"] == {"S-34-000101", "S-34-000102", "S-50-000201"}
    assert by_source["msdhs_logbook"] == {"LB-3401-000102/1", "LB-3401-000102/2", "LB-5001-000201/1"}
    assert by_source["university_survey"] == {
        "UBU-2566-000345/1", "UBU-2566-000345/2", "UBU-2566-000345/3", "UBU-2566-000346/1",
        "CMU-2566-000012/1", "CMU-2566-000012/2", "CMU-2566-000012/3"}
    assert len(rows) - 1 == sum(len(v) for v in by_source.values())
    persons = [r[2] for r in rows[1:]]
    assert len(set(persons)) == len(persons)
    survey_households = {r[3] for r in rows[1:] if r[1].startswith("UBU-2566-000345/")}
    assert len(survey_households) == 1
    text = (tmp_path / "links.csv").read_text("utf-8")
    assert "ใจดี" not in text and "3401001234562" not in text


def test_export_links_is_audited_with_its_row_count(hub, cli, tmp_path):
    ingest(hub, "tpmap", TPMAP)
    result = cli("export", "links", "--out", tmp_path / "links.csv")
    assert result.stdout.strip() == f"{tmp_path / 'links.csv'}: 8 rows"
    with hub.engine.connect() as conn:
        last = conn.execute(select(audit_events).order_by(audit_events.c.seq.desc()).limit(1)).one()
    assert (last.action, last.resource, json.loads(last.details)) == ("export.links", "file:links.csv", {"rows": 8})
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(source_records)) == 8
