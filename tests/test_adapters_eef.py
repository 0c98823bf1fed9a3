"""EEF poor-student screening: `;`-separated semester files (tests/data/eef_*.csv)."""
from __future__ import annotations

import pytest

from adapters.eef_students import EefStudentsAdapter, parse_pmt_items
from helpers import EEF_2566_2, EEF_2567_1, TPMAP, decrypt_record_field, ingest, records
from hub.adapter_kit import AdapterError, IdStatus, PartialDate, RecordError, Rejected, SourceRecord

SCHOOL_1 = "โรงเรียนบ้านหนองบัว (ประชาสามัคคี), สาขา 2; อาคารเรียนใหม่"


@pytest.fixture(scope="module")
def students():
    return {item.persons[0].record_id if isinstance(item, SourceRecord) else item.line: item
            for item in EefStudentsAdapter().read_file(EEF_2566_2)}


def test_semicolon_separated_file_is_read(students):
    assert sorted(k for k in students if isinstance(k, str)) == ["S-34-000101", "S-34-000102", "S-50-000201"]
    assert students["S-34-000101"].version == "2566/2"


def test_school_name_with_commas_semicolons_and_quotes_survives(students):
    assert students["S-34-000101"].persons[0].attributes["school_name"] == SCHOOL_1
    assert students["S-50-000201"].persons[0].attributes["school_name"] == 'โรงเรียนวัดศรีภูมิ; เชียงใหม่, "ในเมือง"'


def test_buddhist_era_yyyy_mm_dd_birth_date_becomes_christian_era(students):
    assert students["S-34-000101"].persons[0].birth_date == PartialDate(2010, 6, 15)
    assert students["S-50-000201"].persons[0].birth_date == PartialDate(2008, 9, 9)


def test_blank_citizen_id_is_accepted_for_a_stateless_child(students):
    child = students["S-34-000102"].persons[0]
    assert child.citizen_id is None
    assert child.linked_ids == {}
    assert (child.first_name, child.last_name) == ("น้ำฝน", "มีสุข")


def test_guardian_citizen_id_is_read_as_a_linked_id(students):
    guardian = students["S-34-000101"].persons[0].linked_ids["guardian"]
    assert guardian.digits == "3401001234716" and guardian.status is IdStatus.VALID
    assert students["S-34-000101"].persons[0].attributes["guardian_relation"] == "mother"


def test_income_per_person_and_the_eight_pmt_items(students):
    attrs = students["S-34-000101"].persons[0].attributes
    assert attrs["income_per_person_month"] == 2000.0
    assert attrs["pmt_items"]["tenure"] == "rent" and len(attrs["pmt_items"]) == 8
    assert attrs["status"] == "poor" and attrs["cct_baht"] == 1000 and attrs["grade"] == "ป.6"
    with pytest.raises(RecordError, match="pmt_items: missing"):
        parse_pmt_items("dependents=3|tenure=rent")


def test_a_grade_that_does_not_exist_is_rejected(students):
    item = students[5]
    assert isinstance(item, Rejected)
    assert item.reason.startswith("grade:")


def test_stored_guardian_id_is_only_a_linkage_key(hub):
    ingest(hub, "eef_students", EEF_2566_2)
    stored = records(hub, "eef_students")
    keys = stored["S-34-000101"].linked_keys
    assert set(keys) == {"guardian"}
    assert len(keys["guardian"]) == 64 and "3401001234716" not in keys["guardian"]
    assert stored["S-34-000102"].linked_keys == {}
    assert stored["S-34-000102"].linkage_key is None


def test_a_later_semester_updates_the_student_in_place(hub):
    first = ingest(hub, "eef_students", EEF_2566_2)
    assert (first.rows_read, first.accepted, first.quarantined, first.inserted) == (4, 3, 1, 3)
    before = records(hub, "eef_students")
    report = ingest(hub, "eef_students", EEF_2567_1)
    assert (report.inserted, report.updated) == (0, 2)
    after = records(hub, "eef_students")
    student = after["S-34-000101"]
    assert student.person_id == before["S-34-000101"].person_id
    assert student.version == "2567/1"
    assert student.attributes["grade"] == "ม.1"
    assert student.attributes["school_name"] == "โรงเรียนเบ็ญจะมะมหาราช, อุบลราชธานี"
    assert student.attributes["status"] == "extremely_poor"
    assert decrypt_record_field(hub, student, "first_name") == "ภูมิใจ"


def test_ingesting_the_older_semester_afterwards_does_not_roll_it_back(hub):
    ingest(hub, "eef_students", EEF_2566_2)
    ingest(hub, "eef_students", EEF_2567_1)
    newer = records(hub, "eef_students")
    report = ingest(hub, "eef_students", EEF_2566_2)
    assert (report.inserted, report.updated, report.deleted) == (0, 0, 0)
    assert records(hub, "eef_students") == newer
    assert newer["S-34-000101"].attributes["grade"] == "ม.1"


def test_semesters_delivered_out_of_order_end_with_the_newest(hub):
    ingest(hub, "eef_students", EEF_2567_1)
    report = ingest(hub, "eef_students", EEF_2566_2)
    assert (report.inserted, report.stale) == (1, 2)
    stored = records(hub, "eef_students")
    assert stored["S-34-000101"].attributes["grade"] == "ม.1"
    assert stored["S-34-000102"].attributes["grade"] == "ป.5"
    assert stored["S-50-000201"].version == "2566/2"


def test_a_comma_separated_or_foreign_file_is_refused_with_a_hint(tmp_path):
    comma = tmp_path / "eef_comma.csv"
    comma.write_text(EEF_2566_2.read_text("utf-8").replace(";", ","), encoding="utf-8")
    with pytest.raises(AdapterError, match="separator ';'"):
        list(EefStudentsAdapter().read_file(comma))
    with pytest.raises(AdapterError, match="header lacks the columns semester"):
        list(EefStudentsAdapter().read_file(TPMAP))


def test_the_older_semester_resent_in_another_file_is_kept_older(hub, tmp_path):
    ingest(hub, "eef_students", EEF_2566_2)
    ingest(hub, "eef_students", EEF_2567_1)
    newer = records(hub, "eef_students")
    resent = tmp_path / "eef_2566_2_resent.csv"
    resent.write_bytes(EEF_2566_2.read_bytes().replace(b"\n", b"\r\n"))  # same rows, other bytes
    report = ingest(hub, "eef_students", resent)
    assert (report.inserted, report.updated, report.stale, report.unchanged) == (0, 0, 2, 1)
    assert records(hub, "eef_students") == newer
