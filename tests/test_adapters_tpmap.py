"""TPMAP target-person export: every quirk of tests/data/tpmap_2566_export.csv (see tests/data/README.md)."""
from __future__ import annotations

import pytest

from adapters.tpmap import TpmapAdapter
from helpers import TPMAP, TPMAP_LATER, decrypt_record_field, ingest, records
from hub.adapter_kit import IdStatus, PartialDate, Rejected, SourceRecord


@pytest.fixture(scope="module")
def by_line():
    return {item.line: item for item in TpmapAdapter().read_file(TPMAP)}


def person(by_line, line):
    item = by_line[line]
    assert isinstance(item, SourceRecord), getattr(item, "reason", item)
    (p,) = item.persons
    return p


def test_partner_file_with_bom_and_crlf_is_read(by_line):
    raw = TPMAP.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert person(by_line, 2).record_id == "TP66-3401-0000001"  # no BOM glued to the first column
    assert sorted(by_line) == list(range(2, 13))


def test_buddhist_era_birth_date_becomes_christian_era(by_line):
    assert person(by_line, 2).birth_date == PartialDate(1967, 2, 14)


def test_unknown_day_and_month_00_are_kept_as_partial_dates(by_line):
    assert person(by_line, 3).birth_date == PartialDate(1962)
    assert "birth_date_month_unknown" in person(by_line, 3).flags
    assert person(by_line, 4).birth_date == PartialDate(1987, 7)
    assert "birth_date_day_unknown" in person(by_line, 4).flags


def test_citizen_ids_with_dashes_and_spaces_are_normalised(by_line):
    assert person(by_line, 2).citizen_id.digits == "3401001234562"
    assert person(by_line, 2).citizen_id.status is IdStatus.VALID
    assert person(by_line, 3).citizen_id.digits == "1101400123451"
    assert person(by_line, 3).citizen_id.status is IdStatus.VALID


def test_blank_citizen_id_is_accepted(by_line):
    assert person(by_line, 4).citizen_id is None


def test_citizen_id_failing_the_check_digit_is_kept_and_flagged(by_line):
    p = person(by_line, 5)
    assert p.citizen_id.status is IdStatus.CHECKSUM_FAILED
    assert p.citizen_id.digits == "3401001234572"
    assert "citizen_id_checksum_failed" in p.flags


def test_quoted_last_name_containing_a_comma_is_one_field(by_line):
    p = person(by_line, 4)
    assert (p.title, p.first_name, p.last_name) == ("นางสาว", "มาลี", "ทองคำ, ณ อุบล")
    assert p.attributes["income_per_capita_year"] is None
    assert by_line[4].household.house_code is None


def test_title_glued_to_first_name_with_blank_prefix_is_split(by_line):
    assert (person(by_line, 3).title, person(by_line, 3).first_name) == ("นาย", "สมชาย")
    assert (person(by_line, 10).title, person(by_line, 10).first_name) == ("นางสาว", "สุดารัตน์")
    assert (person(by_line, 12).title, person(by_line, 12).first_name) == ("นาง", "บัวผัน")
    for line in (3, 10, 12):
        assert "title_glued_to_first_name" in person(by_line, line).flags


def test_amphoe_code_disagreeing_with_the_tambon_is_flagged_and_the_tambon_wins(by_line):
    item = by_line[6]
    assert item.household.tambon_code == "340108"
    assert "area_codes_disagree_tambon_wins" in person(by_line, 6).flags
    assert "area_codes_disagree_tambon_wins" not in person(by_line, 2).flags


def test_row_with_too_few_columns_is_rejected(by_line):
    item = by_line[7]
    assert isinstance(item, Rejected)
    assert item.reason == "broken row: expected 22 fields, found 10"
    assert item.raw.startswith("TP66-3401-0000006,2566,")


def test_impossible_birth_date_is_rejected_with_a_reason_naming_birth_date(by_line):
    item = by_line[9]
    assert isinstance(item, Rejected)
    assert item.reason.startswith("birth_date:")
    assert "31" not in item.reason, "a quarantine reason must not repeat parts of a birth date"


def test_christian_era_year_in_the_buddhist_field_is_flagged(by_line):
    p = person(by_line, 12)
    assert p.birth_date == PartialDate(1985, 5, 5)
    assert "birth_date_christian_era_in_buddhist_field" in p.flags


def test_municipal_row_has_no_village_number(by_line):
    assert by_line[10].household.moo is None
    assert by_line[10].household.tambon_code == "100101"
    assert by_line[2].household.moo == 4


def test_dimensions_indicators_and_welfare_card_are_attributes(by_line):
    attrs = person(by_line, 6).attributes
    assert attrs["survey_year"] == 2566
    assert attrs["welfare_card"] is True
    assert attrs["dimensions"] == {"health": False, "living": False, "education": False, "income": True,
                                   "access": True}
    assert attrs["failed_indicators"] == ["A1", "I2"]
    assert by_line[6].version == "2566"


def test_rows_and_counts_when_ingested(hub):
    report = ingest(hub, "tpmap", TPMAP)
    assert (report.rows_read, report.accepted, report.quarantined) == (11, 9, 2)
    assert (report.inserted, report.updated) == (8, 0)
    assert [r["line"] for r in report.quarantine_reasons] == [7, 9]


def test_the_same_person_twice_in_one_file_the_later_row_wins(hub):
    ingest(hub, "tpmap", TPMAP)
    stored = records(hub, "tpmap")
    row = stored["TP66-3401-0000001"]
    assert row.line == 8
    assert row.attributes["income_per_capita_year"] == 20000
    assert row.attributes["dimensions"]["access"] is True
    assert decrypt_record_field(hub, row, "house_no") == "12/4"
    assert sorted(stored) == ["TP66-1001-0000008", "TP66-3401-0000001", "TP66-3401-0000002",
                              "TP66-3401-0000003", "TP66-3401-0000004", "TP66-3401-0000005",
                              "TP66-3401-0000010", "TP66-5001-0000009"]


def test_stored_record_keeps_the_flags_and_the_clean_names(hub):
    ingest(hub, "tpmap", TPMAP)
    stored = records(hub, "tpmap")
    glued = stored["TP66-3401-0000002"]
    assert glued.title == "นาย"
    assert decrypt_record_field(hub, glued, "first_name") == "สมชาย"
    assert decrypt_record_field(hub, glued, "birth_date") == "1962"
    assert glued.birth_year == 1962
    assert "title_glued_to_first_name" in glued.flags
    disagree = stored["TP66-3401-0000005"]
    assert disagree.tambon_code == "340108" and "area_codes_disagree_tambon_wins" in disagree.flags
    assert stored["TP66-3401-0000004"].id_status == "checksum_failed"
    assert stored["TP66-3401-0000003"].id_status is None and stored["TP66-3401-0000003"].linkage_key is None
    assert decrypt_record_field(hub, stored["TP66-3401-0000003"], "last_name") == "ทองคำ, ณ อุบล"


def test_a_later_export_updates_a_changed_person_in_place(hub):
    ingest(hub, "tpmap", TPMAP)
    before = records(hub, "tpmap")
    report = ingest(hub, "tpmap", TPMAP_LATER)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 1)
    after = records(hub, "tpmap")
    changed = after["TP66-3401-0000003"]
    assert changed.person_id == before["TP66-3401-0000003"].person_id
    assert changed.household_id == before["TP66-3401-0000003"].household_id
    assert changed.attributes["income_per_capita_year"] == 12000
    assert changed.attributes["welfare_card"] is True
    assert after["TP66-3401-0000004"] == before["TP66-3401-0000004"]


def test_reingesting_the_earlier_export_does_not_roll_back_the_later_one(hub):
    ingest(hub, "tpmap", TPMAP)
    ingest(hub, "tpmap", TPMAP_LATER)
    later = records(hub, "tpmap")
    report = ingest(hub, "tpmap", TPMAP)  # the earlier export again (a retried inbox, say)
    stored = records(hub, "tpmap")
    assert stored["TP66-3401-0000003"].attributes["income_per_capita_year"] == 12000, \
        "re-ingesting the earlier export put back TP66-3401-0000003's older row over the later export's"
    assert stored == later
    assert (report.inserted, report.updated) == (0, 0)


def test_indicators_are_checked_against_the_crosswalk(tmp_path):
    from adapters.tpmap import COLUMNS

    rows = [  # dimension flags: health, living, education, income, access; then the indicators failed
        "TP66-3401-0000101,2566,,นาย,สมชาย,ใจดี,1,05/11/2521,,1,4,340101,3401,34,Y,0,1,0,1,0,L1;I3,24000",
        "TP66-3401-0000102,2566,,นาย,สมชาย,ใจดี,1,05/11/2521,,1,4,340101,3401,34,Y,0,1,0,0,0,L1;I3,24000",
        "TP66-3401-0000103,2566,,นาย,สมชาย,ใจดี,1,05/11/2521,,1,4,340101,3401,34,Y,0,1,0,0,0,L1;Z9,24000",
    ]
    path = tmp_path / "tpmap.csv"
    path.write_text("\ufeff" + "\r\n".join([",".join(COLUMNS), *rows]) + "\r\n", encoding="utf-8")
    flags = [item.persons[0].flags for item in TpmapAdapter().read_file(path)]
    assert "dimensions_disagree_with_indicators" not in flags[0]
    assert "dimensions_disagree_with_indicators" in flags[1]  # I3 is income; the income flag is 0
    assert "failed_indicator_unknown" in flags[2]
