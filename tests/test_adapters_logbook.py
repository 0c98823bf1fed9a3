"""MSDHS family logbook: NDJSON pages of households (tests/data/logbook_2024-0*.ndjson)."""
from __future__ import annotations

import json

import pytest

from adapters.msdhs_logbook import MsdhsLogbookAdapter
from helpers import (
    LOGBOOK_JULY,
    LOGBOOK_JUNE,
    decrypt_household_field,
    decrypt_record_field,
    households,
    ingest,
    records,
)
from hub.adapter_kit import NUL_REASON, PartialDate, Rejected, SourceRecord, Tombstone


@pytest.fixture(scope="module")
def june():
    return {item.line: item for item in MsdhsLogbookAdapter().read_file(LOGBOOK_JUNE)}


def test_unknown_extra_fields_are_ignored(june):
    raw = json.loads(LOGBOOK_JUNE.read_text("utf-8").splitlines()[0])
    assert "api_version" in raw and "phone_verified" in raw["members"][0]  # the file really has them
    item = june[1]
    assert isinstance(item, SourceRecord)
    assert item.household.ref == "LB-3401-000101"
    assert "api_version" not in item.household.attributes
    assert all("phone_verified" not in p.attributes for p in item.persons)


def test_members_are_keyed_by_logbook_id_and_member_no(june):
    assert [p.record_id for p in june[2].persons] == ["LB-3401-000102/1", "LB-3401-000102/2", "LB-3401-000102/3"]


def test_iso_birth_dates_are_christian_era(june):
    assert june[1].persons[0].birth_date == PartialDate(1967, 2, 14)
    assert june[1].persons[0].flags == []


def test_household_facts_are_kept(june):
    attrs = june[1].household.attributes
    assert attrs["status"] == "open"
    assert attrs["needs"] == {"health": False, "living": True, "education": False, "income": True, "access": False}
    assert attrs["assistance"] == [{"date": "2024-05-01", "kind": "cash", "amount_baht": 3000,
                                    "agency": "พมจ.อุบลราชธานี"}]
    assert june[1].version == "2024-06-01T03:00:00.000000+00:00"  # updated_at in UTC
    assert june[1].persons[0].attributes["vulnerabilities"] == ["chronic_illness", "elderly"]


def test_a_bad_json_line_is_rejected_with_its_line_number(june):
    assert isinstance(june[4], Rejected)
    assert june[4].reason.startswith("not valid JSON")


def test_a_member_with_a_bad_birth_date_rejects_the_household_with_its_line_number(june):
    # line 5 is blank: line numbers are physical lines
    assert 5 not in june
    item = june[6]
    assert isinstance(item, Rejected)
    assert item.reason == "members[1].birth_date: not a real calendar date (the day does not exist in that month)"


def test_tombstone_is_read():
    items = list(MsdhsLogbookAdapter().read_file(LOGBOOK_JULY))
    assert isinstance(items[0], Tombstone)
    assert items[0].household_ref == "LB-3401-000101"


def test_counts_when_ingested(hub):
    report = ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    assert (report.rows_read, report.accepted, report.quarantined, report.inserted) == (5, 3, 2, 6)
    assert [r["line"] for r in report.quarantine_reasons] == [4, 6]
    assert report.quarantine_reasons[1]["reason"] == \
        "members[1].birth_date: not a real calendar date (the day does not exist in that month)"
    stored = records(hub, "msdhs_logbook")
    assert stored["LB-3401-000101/1"].household_id == stored["LB-3401-000101/2"].household_id
    assert stored["LB-3401-000101/1"].household_id != stored["LB-3401-000102/1"].household_id
    assert decrypt_household_field(hub, households(hub, "msdhs_logbook")["LB-3401-000101"], "house_code") \
        == "34010012345"


def test_a_tombstone_removes_a_household_ingested_earlier(hub):
    ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    assert {"LB-3401-000101/1", "LB-3401-000101/2"} <= set(records(hub, "msdhs_logbook"))
    report = ingest(hub, "msdhs_logbook", LOGBOOK_JULY)
    stored = records(hub, "msdhs_logbook")
    assert not any(rid.startswith("LB-3401-000101/") for rid in stored)
    assert "LB-3401-000101" not in households(hub, "msdhs_logbook")
    assert report.deleted == 3  # two members of the deleted household, one who left LB-3401-000102
    kept = households(hub, "msdhs_logbook", include_deleted=True).get("LB-3401-000101")
    if kept is not None:  # a tombstone row may remember the deletion, but holds nothing personal
        assert (kept.house_key, kept.house_code_enc, kept.house_no_enc, kept.private_enc) == (None,) * 4


def test_a_member_no_longer_listed_leaves_the_household(hub):
    ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    before = records(hub, "msdhs_logbook")
    ingest(hub, "msdhs_logbook", LOGBOOK_JULY)
    after = records(hub, "msdhs_logbook")
    assert "LB-3401-000102/3" not in after
    for rid in ("LB-3401-000102/1", "LB-3401-000102/2"):
        assert after[rid].person_id == before[rid].person_id
        assert after[rid].household_id == before[rid].household_id
        assert after[rid].version == "2024-07-02T02:00:00.000000+00:00"
    assert households(hub, "msdhs_logbook")["LB-3401-000102"].version == "2024-07-02T02:00:00.000000+00:00"


def test_an_older_updated_at_does_not_overwrite_a_newer_one(hub):
    ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    before_household = households(hub, "msdhs_logbook")["LB-5001-000201"]
    before = records(hub, "msdhs_logbook")["LB-5001-000201/1"]
    report = ingest(hub, "msdhs_logbook", LOGBOOK_JULY)
    assert report.stale == 1
    after_household = households(hub, "msdhs_logbook")["LB-5001-000201"]
    after = records(hub, "msdhs_logbook")["LB-5001-000201/1"]
    assert after_household == before_household
    assert after == before
    assert after_household.attributes["status"] == "open"
    assert decrypt_record_field(hub, after, "first_name") == "คำปัน"


def test_reingesting_the_june_page_after_july_does_not_bring_back_the_deleted_household(hub):
    ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    ingest(hub, "msdhs_logbook", LOGBOOK_JULY)
    report = ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    stored = records(hub, "msdhs_logbook")
    assert not any(rid.startswith("LB-3401-000101/") for rid in stored), \
        "the household deleted upstream (tombstone 2024-07-01) came back from the older June page"
    assert "LB-3401-000101" not in households(hub, "msdhs_logbook")
    assert report.inserted == 0


def test_a_tombstone_older_than_the_stored_household_is_ignored(hub, tmp_path):
    ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    old_stone = tmp_path / "old_tombstone.ndjson"
    old_stone.write_text(json.dumps({"logbook_id": "LB-3401-000102", "deleted": True,
                                     "updated_at": "2024-01-01T00:00:00+07:00"}) + "\n", encoding="utf-8")
    report = ingest(hub, "msdhs_logbook", old_stone)
    assert report.deleted == 0
    assert "LB-3401-000102" in households(hub, "msdhs_logbook")
    assert {"LB-3401-000102/1", "LB-3401-000102/2", "LB-3401-000102/3"} <= set(records(hub, "msdhs_logbook"))


def test_updated_at_without_an_offset_is_rejected(hub, tmp_path):
    line = json.loads(LOGBOOK_JUNE.read_text("utf-8").splitlines()[0])
    line["updated_at"] = "2024-06-01T10:00:00"
    path = tmp_path / "no_offset.ndjson"
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    (item,) = MsdhsLogbookAdapter().read_file(path)
    assert isinstance(item, Rejected) and item.reason == "updated_at: timestamp has no UTC offset"


def test_an_older_copy_of_a_deleted_household_in_another_file_does_not_bring_it_back(hub, tmp_path):
    # A resumed pull can deliver an item again; here LB-3401-000101 as of 2024-06-01 arrives after its
    # tombstone of 2024-07-01, in a file the hub has not seen before. The tombstone is newer: it stays deleted.
    ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    ingest(hub, "msdhs_logbook", LOGBOOK_JULY)
    again = tmp_path / "logbook_resumed_pull.ndjson"
    again.write_text(LOGBOOK_JUNE.read_text("utf-8").splitlines()[0] + "\n", encoding="utf-8")
    report = ingest(hub, "msdhs_logbook", again)
    assert "LB-3401-000101" not in households(hub, "msdhs_logbook"), \
        "a household deleted upstream came back from an item older than its tombstone"
    assert not any(rid.startswith("LB-3401-000101/") for rid in records(hub, "msdhs_logbook"))
    assert report.inserted == 0


def test_the_same_member_twice_in_a_household_is_rejected(tmp_path):
    household = json.loads(LOGBOOK_JUNE.read_text("utf-8").splitlines()[1])
    household["members"][2]["member_no"] = 1
    path = tmp_path / "twice.ndjson"
    path.write_text(json.dumps(household, ensure_ascii=False) + "\n", encoding="utf-8")
    (item,) = MsdhsLogbookAdapter().read_file(path)
    assert isinstance(item, Rejected) and item.reason == "members: the same member appears twice"


def test_a_household_holding_a_nul_character_is_rejected_and_the_next_goes_in(hub, tmp_path):
    lines = LOGBOOK_JUNE.read_text("utf-8").splitlines()
    household = json.loads(lines[1])
    household["members"][0]["first_name"] += "\x00"
    path = tmp_path / "nul.ndjson"
    path.write_text(json.dumps(household, ensure_ascii=False) + "\n" + lines[2] + "\n", encoding="utf-8")
    first, second = MsdhsLogbookAdapter().read_file(path)
    assert isinstance(first, Rejected) and first.reason == NUL_REASON
    assert not isinstance(second, Rejected)
    report = ingest(hub, "msdhs_logbook", path)
    assert report.quarantined == 1 and report.inserted >= 1
