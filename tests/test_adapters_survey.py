"""University household verification survey: NDJSON batches (tests/data/survey_2566_batch1.ndjson)."""
from __future__ import annotations

import json

import pytest

from adapters.university_survey import UniversitySurveyAdapter, verification_result
from helpers import SURVEY, decrypt_household_field, decrypt_record_field, households, ingest, records
from hub.adapter_kit import PartialDate, Rejected


@pytest.fixture(scope="module")
def lines():
    return {item.line: item for item in UniversitySurveyAdapter().read_file(SURVEY)}


def test_members_are_identified_by_their_position(lines):
    assert [p.record_id for p in lines[3].persons] == ["CMU-2566-000012/1", "CMU-2566-000012/2", "CMU-2566-000012/3"]
    assert lines[3].persons[0].birth_date == PartialDate(1975, 12, 25)


def test_a_member_without_citizen_id_is_accepted(lines):
    assert lines[3].persons[1].citizen_id is None
    assert lines[3].persons[1].first_name == "มะลิ"


@pytest.mark.parametrize("listed,poor,result", [
    (True, True, "confirmed"), (True, False, "inclusion_error"), (False, True, "exclusion_error"),
    (False, False, "not_poor_not_listed"),
])
def test_verification_result_from_listed_and_poor(listed, poor, result):
    assert verification_result(listed, poor) == result


def test_inclusion_and_exclusion_errors_are_recorded(lines):
    assert lines[1].household.attributes["verification"] == "confirmed"
    assert lines[2].household.attributes["verification"] == "inclusion_error"
    assert lines[3].household.attributes["verification"] == "exclusion_error"


def test_capital_out_of_range_is_rejected(lines):
    assert isinstance(lines[4], Rejected)
    assert lines[4].reason == "capitals.human: expected a score from 1.0 to 5.0"


def test_referrals_and_the_consent_block_are_read(lines):
    attrs = lines[3].household.attributes
    assert attrs["referrals"] == [{"referral_id": "R-000955", "agency": "สปสช.", "need": "health_insurance",
                                   "status": "accepted", "referred_on": "2023-09-10"}]
    assert attrs["consent_evidence"] == {"data_return": True, "share_with_agencies": True,
                                         "recorded_on": "2023-09-02"}
    assert lines[3].household.private["witness"] == "นายจันทร์ติ๊บ อุ่นเรือน กำนัน"
    assert "witness" not in json.dumps(attrs, ensure_ascii=False)
    assert attrs["capitals"] == {"human": 1.5, "natural": 1.0, "financial": 1.0, "physical": 2.0, "social": 2.5}


def test_counts_when_ingested(hub):
    report = ingest(hub, "university_survey", SURVEY)
    assert (report.rows_read, report.accepted, report.quarantined, report.inserted) == (5, 4, 1, 7)
    assert report.quarantine_reasons == [{"line": 4, "reason": "capitals.human: expected a score from 1.0 to 5.0"}]


def test_a_resubmitted_survey_later_in_the_file_wins(hub):
    ingest(hub, "university_survey", SURVEY)
    household = households(hub, "university_survey")["UBU-2566-000345"]
    assert household.line == 5
    assert household.attributes["referrals"][0]["status"] == "accepted"
    stored = records(hub, "university_survey")
    members = sorted(rid for rid in stored if rid.startswith("UBU-2566-000345/"))
    assert members == ["UBU-2566-000345/1", "UBU-2566-000345/2", "UBU-2566-000345/3"]
    assert decrypt_record_field(hub, stored["UBU-2566-000345/2"], "birth_date") == "1967-10-10"
    child = stored["UBU-2566-000345/3"]
    assert child.title == "ด.ช."
    assert decrypt_record_field(hub, child, "first_name") == "ภาคิน"
    assert "title_glued_to_first_name" in child.flags
    assert {stored[m].household_id for m in members} == {household.household_id}


def test_stored_households_keep_verification_encrypt_the_witness_and_leave_out_the_location(hub):
    report = ingest(hub, "university_survey", SURVEY)
    assert report.fields_refused == {"location"}  # the university contract does not take a dwelling's GPS point
    stored = households(hub, "university_survey")
    assert stored["UBU-2566-000346"].attributes["verification"] == "inclusion_error"
    assert stored["CMU-2566-000012"].attributes["verification"] == "exclusion_error"
    assert stored["CMU-2566-000012"].tambon_code == "500101" and stored["CMU-2566-000012"].moo is None
    private = json.loads(decrypt_household_field(hub, stored["UBU-2566-000345"], "private"))
    assert private == {"witness": "นายบุญมี ศรีวงศ์ ผู้ใหญ่บ้านหมู่ 4"}
    assert "location" not in stored["UBU-2566-000345"].attributes
    assert stored["UBU-2566-000345"].attributes["consent_evidence"]["share_with_agencies"] is True
    assert "UBU-2566-000348" not in stored


def test_a_later_batch_moves_a_referral_on(hub, tmp_path):
    ingest(hub, "university_survey", SURVEY)
    last = json.loads(SURVEY.read_text("utf-8").splitlines()[4])
    last["referrals"][0]["status"] = "done"
    batch2 = tmp_path / "survey_batch2.ndjson"
    batch2.write_text(json.dumps(last, ensure_ascii=False) + "\n", encoding="utf-8")
    before = records(hub, "university_survey")
    report = ingest(hub, "university_survey", batch2)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 3)
    assert households(hub, "university_survey")["UBU-2566-000345"].attributes["referrals"][0]["status"] == "done"
    assert records(hub, "university_survey") == before


def test_a_batch_with_a_byte_order_mark_and_crlf_is_read(tmp_path):
    path = tmp_path / "survey_windows.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + SURVEY.read_bytes().replace(b"\n", b"\r\n"))
    items = list(UniversitySurveyAdapter().read_file(path))
    assert [type(i).__name__ for i in items] == ["SourceRecord", "SourceRecord", "SourceRecord", "Rejected",
                                                 "SourceRecord"]
    assert items[0].household.ref == "UBU-2566-000345"
