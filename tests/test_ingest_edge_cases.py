"""Inputs that once stopped a whole file or bent the rules: one bad row never costs the rest, batch
boundaries never change the result, and a failure part-way leaves the store as it was."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from helpers import ACTOR, TPMAP, contracts_with, dump_all_values, households, records, source_contract, squash
from hub.adapter_kit import IDENTITY_FIELDS, Adapter, Household, SourceRecord, hookimpl, iter_ndjson, make_person
from hub.context import Hub
from hub.db.schema import audit_events, ingest_runs
from hub.errors import IngestError
from hub.pipeline.ingest import ingest_file
from hub.plugins.manager import get_plugin_manager
from hub.settings import Settings

TPMAP_HEADER = TPMAP.read_text(encoding="utf-8-sig").splitlines()[0]


def tpmap_row(n: int, *, prefix: str = "นาย", house_no: str = "12/3") -> str:
    return (f"TP66-3401-{n:07d},2566,,{prefix},สมชาย,ใจดี,1,05/11/2521,34010012345,{house_no},4,340101,3401,34,"
            f"Y,0,1,0,1,0,L1;I3,24000")


def write_tpmap(path, rows: list[str]) -> None:
    path.write_text("\ufeff" + "\r\n".join([TPMAP_HEADER, *rows]) + "\r\n", encoding="utf-8")


def logbook_item(version: str, status: str, *members: int) -> dict:
    return {"logbook_id": "LB-3401-900001", "house_code": "34010012345",
            "address": {"house_no": "9/9", "moo": 4, "tambon_code": "340101"},
            "members": [{"member_no": n, "citizen_id": "", "title": "นาง", "first_name": "บุญมี",
                         "last_name": "ทองดี", "birth_date": "1960-01-0" + str(n), "sex": "F", "relation": "head"}
                        for n in members],
            "needs": {}, "assistance": [], "status": status, "updated_at": version}


def test_stray_quotes_inside_unquoted_fields_do_not_stop_the_file(hub, tmp_path):
    path = tmp_path / "tpmap.csv"
    write_tpmap(path, [tpmap_row(1, house_no='12"3'), tpmap_row(2), tpmap_row(3, house_no='7"1'),
                       *(tpmap_row(n) for n in range(4, 30))])
    report = ingest_file(hub, "tpmap", path, actor=ACTOR)
    assert (report.rows_read, report.quarantined, report.inserted) == (29, 0, 29)


def test_a_row_the_parser_did_not_expect_is_quarantined_by_type_and_the_rest_goes_in(hub, tmp_path):
    good = {"survey_id": "S-1", "university": "มหาวิทยาลัยอุบลราชธานี", "surveyed_on": "2023-08-14",
            "address": {"house_no": "1", "moo": 1, "tambon_code": "340101"},
            "members": [{"citizen_id": "", "first_name": "มาลี", "last_name": "ศรีสุข", "birth_date": "1970-01-01",
                         "sex": "F", "relation": "head"}],
            "tpmap_listed": True, "verified_poor": True,
            "capitals": {"human": 2, "natural": 2, "financial": 2, "physical": 2, "social": 2}}
    odd = {**good, "survey_id": "S-2", "problems": [{"x": 1}]}
    deep = "[" * 100000
    path = tmp_path / "survey.ndjson"
    path.write_text("\n".join([json.dumps(odd), deep, json.dumps(good)]) + "\n", encoding="utf-8")
    report = ingest_file(hub, "university_survey", path, actor=ACTOR)
    assert (report.rows_read, report.quarantined, report.inserted) == (3, 2, 1)
    assert report.quarantine_reasons[0]["reason"] == "unreadable row: the parser failed with TypeError"
    # the university contract does not take every survey field, so a row that cannot be parsed (and cut)
    # is quarantined without its text
    assert report.quarantine_reasons[1]["reason"] == ("not valid JSON: nested too deeply (raw text not kept: it "
                                                      "may hold fields no contract lets the hub take)")


def test_an_unknown_or_long_title_is_stored_encrypted_never_in_clear(hub, tmp_path):
    path = tmp_path / "tpmap.csv"
    long_title = "ว่าที่ร้อยตำรวจเอกหญิงสมศรีสวยงาม"
    write_tpmap(path, [tpmap_row(1, prefix=long_title), tpmap_row(2, prefix="นางสมพร")])
    report = ingest_file(hub, "tpmap", path, actor=ACTOR)
    assert (report.inserted, report.quarantined) == (2, 0)
    stored = records(hub, "tpmap")
    first, second = stored["TP66-3401-0000001"], stored["TP66-3401-0000002"]
    assert first.title is None and "title_unknown" in first.flags
    # a name in the title field beside a first name is ambiguous: kept encrypted, flagged
    assert second.title is None and "title_unknown" in second.flags
    assert long_title.encode() not in dump_all_values(hub.engine)
    assert "สมศรีสวยงาม".encode() not in dump_all_values(hub.engine)


@pytest.mark.parametrize("batch_size", [1, 2, 2000])
def test_batch_boundaries_do_not_change_which_row_wins(settings, tmp_path, batch_size):
    path = tmp_path / "logbook.ndjson"
    items = [logbook_item("2024-06-02T10:00:00+07:00", "closed", 1, 2),
             logbook_item("2024-06-01T10:00:00+07:00", "open", 1, 2, 3),
             {"logbook_id": "LB-3401-900001", "deleted": True, "updated_at": "2024-05-30T10:00:00+07:00"}]
    path.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n", encoding="utf-8")
    hub, _ = Hub.init(Settings(home=settings.home, database_url=settings.database_url,
                               ingest_batch_size=batch_size))
    try:
        ingest_file(hub, "msdhs_logbook", path, actor=ACTOR)
        assert households(hub, "msdhs_logbook")["LB-3401-900001"].attributes["status"] == "closed"
        assert sorted(records(hub, "msdhs_logbook")) == ["LB-3401-900001/1", "LB-3401-900001/2"]
    finally:
        hub.engine.dispose()


def test_a_failure_part_way_stores_nothing_of_the_file_and_is_audited(hub, cli, tmp_path):
    path = tmp_path / "tpmap.csv"
    write_tpmap(path, [tpmap_row(1), "TP66-3401-0000002,broken", tpmap_row(3)])
    with hub.engine.begin() as conn:  # the quarantine cannot be written: the file must fail as a whole
        conn.execute(text("DROP TABLE quarantine"))
    with pytest.raises(IngestError, match="nothing of the file was stored"):
        ingest_file(hub, "tpmap", path, actor=ACTOR)
    assert records(hub, "tpmap") == {}
    with hub.engine.connect() as conn:
        assert conn.execute(select(ingest_runs)).all() == []
        reasons = [json.loads(d)["reason"] for d in conn.scalars(
            select(audit_events.c.details).where(audit_events.c.action == "ingest.failed"))]
    assert reasons == [f"{path}: ingest failed (ProgrammingError); nothing of the file was stored"] or \
        reasons == [f"{path}: ingest failed (OperationalError); nothing of the file was stored"]
    result = cli("ingest", "tpmap", path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "nothingofthefilewasstored" in squash(result.stderr)


class MovingAdapter(Adapter):
    """A third-party source whose person keys do not contain the household: people can move."""

    name = "moving_pilot"
    title = "A pilot whose people move between households"
    record_id_doc = "person key"
    fields = IDENTITY_FIELDS

    def read_file(self, path):
        def parse(obj, line):
            persons = [make_person(key, citizen_id=None, title=None, first_name="สมชาย", last_name="ใจดี",
                                   birth_date=None, sex="M", flags=[]) for key in obj["members"]]
            return SourceRecord(line=line, household=Household(tambon_code="340101", ref=obj["hh"]),
                                persons=persons, version=obj["v"])
        return iter_ndjson(path, parse)


class MovingPlugin:
    @hookimpl
    def saphan_register_adapters(self):
        return [MovingAdapter()]


@pytest.mark.parametrize("batch_size", [1, 2000])
def test_a_person_who_moves_to_another_household_keeps_their_person_id(settings, tmp_path, batch_size):
    first, second = tmp_path / "one.ndjson", tmp_path / "two.ndjson"
    first.write_text('{"hh": "H1", "members": ["p1", "p2"], "v": "1"}\n', encoding="utf-8")
    second.write_text('{"hh": "H1", "members": ["p1"], "v": "2"}\n{"hh": "H2", "members": ["p2"], "v": "2"}\n',
                      encoding="utf-8")
    settings = contracts_with(settings, tmp_path / "contracts", pilot=source_contract(
        "pilot", "moving_pilot", ["first_name", "last_name", "sex", "tambon_code"]))
    hub, _ = Hub.init(settings.model_copy(update={"ingest_batch_size": batch_size}),
                      plugins=get_plugin_manager(extra_plugins=[MovingPlugin()]))
    try:
        ingest_file(hub, "moving_pilot", first, actor=ACTOR)
        before = records(hub, "moving_pilot")
        report = ingest_file(hub, "moving_pilot", second, actor=ACTOR)
        after = records(hub, "moving_pilot")
        assert (report.inserted, report.deleted) == (0, 0)
        assert after["p2"].person_id == before["p2"].person_id
        assert after["p2"].household_ref == "H2" and after["p2"].household_id != before["p2"].household_id
    finally:
        hub.engine.dispose()
