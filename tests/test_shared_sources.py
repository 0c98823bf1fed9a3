"""A source several partners provide (each university its own surveys): a university is told of, concerned
by and may upload only the surveys it made; a survey no contract in force claims is not taken at all."""
from __future__ import annotations

import json

from helpers import ACTOR, SURVEY, households, ingest, serve_api
from hub.community.concerns import partners_holding
from hub.linking.run import link
from hub.quarantine import list_quarantine, read_raw_row
from hub.tokens import issue

UBU, CMU = "UBU-2566-000345", "CMU-2566-000012"


def _surveys(path, *lines: dict) -> None:
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")


def _shipped() -> dict[str, dict]:
    """The test file's surveys by id (the later line of a re-submitted one; the malformed line skipped)."""
    out = {}
    for text in SURVEY.read_text(encoding="utf-8").splitlines():
        try:
            survey = json.loads(text)
        except ValueError:
            continue
        out[survey["survey_id"]] = survey
    return out


def test_a_survey_no_contract_claims_is_not_taken_and_each_university_holds_its_own(hub, tmp_path):
    surveys = _shipped()
    khon_kaen = {**surveys[UBU], "survey_id": "KKU-2566-000001", "university": "มหาวิทยาลัยขอนแก่น"}
    path = tmp_path / "surveys.ndjson"
    _surveys(path, surveys[UBU], khon_kaen, surveys[CMU])
    report = ingest(hub, "university_survey", path)
    assert report.quarantined == 1
    [reason] = report.quarantine_reasons
    assert reason["line"] == 2 and "no data-sharing contract in force covers" in reason["reason"]
    assert set(households(hub, "university_survey")) == {UBU, CMU}
    [kept] = list_quarantine(hub, source="university_survey")
    assert read_raw_row(hub, kept.id, actor=ACTOR, reason="test") == ""  # nothing of it is kept

    link(hub, actor=ACTOR)
    homes = {ref: row.household_id for ref, row in households(hub, "university_survey").items()}
    with hub.engine.connect() as conn:
        assert partners_holding(hub, conn, [homes[UBU]]) == {"ubu"}
        assert partners_holding(hub, conn, [homes[CMU]]) == {"cmu"}
        assert partners_holding(hub, conn, homes.values()) == {"ubu", "cmu"}


def test_a_university_uploads_only_its_own_surveys(hub, tmp_path):
    surveys = _shipped()
    path = tmp_path / "cmu_batch.ndjson"
    _surveys(path, surveys[CMU], surveys[UBU])
    token = issue(hub, role="partner", subject="cmu-survey-team", partner="cmu", actor=ACTOR)
    with serve_api(hub) as api:
        done = api.put("/sources/university_survey/files/cmu_batch.ndjson", content=path.read_bytes(),
                       headers={"Authorization": f"Bearer {token}"})
    assert done.status_code == 200, done.text
    assert (done.json()["inserted"], done.json()["quarantined"]) == (3, 1)
    [refused] = done.json()["quarantine"]
    assert refused["line"] == 2 and "another partner's record" in refused["reason"]
    assert set(households(hub, "university_survey")) == {CMU}


def test_a_survey_id_another_university_holds_is_not_overwritten(hub, tmp_path):
    surveys = _shipped()
    ingest(hub, "university_survey", SURVEY)
    before = households(hub, "university_survey")[UBU]
    same_id = {**surveys[CMU], "survey_id": UBU}  # Chiang Mai numbering its survey as Ubon's
    path = tmp_path / "clash.ndjson"
    _surveys(path, same_id)
    report = ingest(hub, "university_survey", path)
    assert report.quarantined == 1 and report.inserted == 0
    assert "another partner's record has this id" in report.quarantine_reasons[0]["reason"]
    assert households(hub, "university_survey")[UBU] == before
