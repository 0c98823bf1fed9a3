"""Linking through the noise partners write: for each kind of noise, one person's records in two or more
sources (or twice in one) end with one ``person_id``; look-alikes (twins, a shared ID with another sex and
birth year, namesakes with their own IDs) stay apart.

The cases are written here as real partner files (the four formats of ``shared/formats``), all in Khon Kaen
(province 40), which the generated background population (Ubon Ratchathani, Bangkok, Chiang Mai) never
touches, so no case meets another's look-alike by chance. The background gives the model realistic
u probabilities and a prior. Everything is ingested through the real adapters into one hub and linked
once; the tests only read the result.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import isolated_database_url
from hub.context import Hub
from hub.db.schema import link_reviews, linked_records, record_links, source_records
from hub.demo.population import generate_population
from hub.demo.writers import write_partner_files
from hub.linking.run import LinkReport, link
from hub.pipeline.ingest import ingest_file
from hub.settings import Settings
from hub.thai.citizen_id import IdStatus, parse_citizen_id, with_check_digit

ACTOR = "test:linking"
SOURCE_ORDER = ("tpmap", "msdhs_logbook", "eef_students", "university_survey")
BE = 543


# ------------------------------------------------------------------------------- records as partners write them


@dataclass(frozen=True)
class Rec:
    """One person record as a partner wrote it. ``ref`` is the record id the adapter gives it: the TPMAP
    person id, the EEF student ref, ``LB-.../member_no`` or ``UBU-.../position`` (members of one logbook
    or survey household share the part before the slash)."""

    source: str
    ref: str
    first: str
    last: str
    born: dt.date
    sex: str = "M"
    cid: str = ""
    title: str = ""
    house: str | None = None  # the 11-digit house code
    house_no: str = "1"
    moo: int = 1
    tambon: str = "400101"
    wrong_era: bool = False  # the birth year written in the other era


def citizen_id(seed: str) -> str:
    """A valid citizen ID drawn from ``seed`` (far from every other case's ID)."""
    return with_check_digit(str(random.Random(seed).randrange(10**11, 10**12)))


def mistyped(cid: str, position: int) -> str:
    """``cid`` with the digit at ``position`` changed."""
    return cid[:position] + str((int(cid[position]) + 5) % 10) + cid[position + 1:]


def transposed(cid: str) -> str:
    """``cid`` with the first two different adjacent digits after the sixth swapped."""
    i = next(i for i in range(6, 12) if cid[i] != cid[i + 1])
    return cid[:i] + cid[i + 1] + cid[i] + cid[i + 2:]


def _year(rec: Rec, era: str) -> int:
    buddhist = (era == "BE") != rec.wrong_era
    return rec.born.year + BE if buddhist else rec.born.year


def _tpmap_row(rec: Rec) -> dict[str, str]:
    return {
        "tpmap_person_id": rec.ref, "survey_year": "2566", "pid": rec.cid, "prefix": rec.title, "fname": rec.first,
        "lname": rec.last, "sex": "1" if rec.sex == "M" else "2",
        "birth_date": f"{rec.born.day:02d}/{rec.born.month:02d}/{_year(rec, 'BE')}", "house_code": rec.house or "",
        "house_no": rec.house_no, "moo": str(rec.moo), "tambon_code": rec.tambon, "amphoe_code": rec.tambon[:4],
        "province_code": rec.tambon[:2], "welfare_card": "Y", "dim_health": "0", "dim_living": "1",
        "dim_education": "0", "dim_income": "1", "dim_access": "0", "failed_indicators": "L1;I3",
        "income_per_capita_year": "24000",
    }


def _eef_row(rec: Rec) -> dict[str, str]:
    return {
        "semester": "2567/1", "student_ref": rec.ref, "citizen_id": rec.cid, "title": rec.title,
        "first_name": rec.first, "last_name": rec.last,
        "birth_date": f"{_year(rec, 'BE')}-{rec.born.month:02d}-{rec.born.day:02d}", "sex": rec.sex,
        "school_code": "1040010001", "school_name": "โรงเรียนบ้านโคกสี, สาขาบ้านโคกสีน้อย", "grade": "ป.4",
        "guardian_citizen_id": "", "guardian_relation": "", "tambon_code": rec.tambon, "hh_members": "4",
        "hh_income_month": "6000",
        "pmt_items": "dependents=3|tenure=rent|house=poor|farmland=none|water=well|electricity=yes|vehicle=none|"
                     "appliances=1",
        "status": "poor", "cct_baht": "0",
    }


def _member(rec: Rec, number: int) -> dict:
    return {"member_no": number, "citizen_id": rec.cid or None, "title": rec.title or None,
            "first_name": rec.first, "last_name": rec.last,
            "birth_date": f"{_year(rec, 'CE')}-{rec.born.month:02d}-{rec.born.day:02d}", "sex": rec.sex,
            "relation": "head" if number == 1 else "child", "vulnerabilities": []}


def _units(recs: list[Rec]) -> dict[str, list[Rec]]:
    """Logbook or survey households: the records by the part of their ref before the slash, in member order."""
    units: dict[str, list[Rec]] = {}
    for rec in sorted(recs, key=lambda r: (r.ref.split("/")[0], int(r.ref.split("/")[1]))):
        units.setdefault(rec.ref.split("/")[0], []).append(rec)
    return units


def _logbook_item(ref: str, members: list[Rec]) -> dict:
    head = members[0]
    return {"logbook_id": ref, "house_code": head.house,
            "address": {"house_no": head.house_no, "moo": head.moo, "tambon_code": head.tambon},
            "members": [_member(rec, int(rec.ref.split("/")[1])) for rec in members],
            "needs": {"income": True, "living": False, "health": False, "education": False, "access": False},
            "assistance": [{"date": "2024-05-01", "kind": "cash", "amount_baht": 3000, "agency": "พมจ.ขอนแก่น"}],
            "status": "open", "updated_at": "2024-06-01T10:00:00+07:00"}


def _survey_item(ref: str, members: list[Rec]) -> dict:
    head = members[0]
    left_out = ("member_no", "title", "vulnerabilities")  # the survey's members carry none of these
    return {"survey_id": ref, "university": "มหาวิทยาลัยอุบลราชธานี", "surveyed_on": "2023-08-14",
            "house_code": head.house,
            "address": {"house_no": head.house_no, "moo": head.moo, "tambon_code": head.tambon},
            "location": {"lat": 16.43, "lon": 102.84},
            "members": [{k: v for k, v in _member(rec, 0).items() if k not in left_out} for rec in members],
            "tpmap_listed": True, "verified_poor": True,
            "capitals": {"human": 2.0, "natural": 1.5, "financial": 1.0, "physical": 2.5, "social": 4.0},
            "problems": ["income"], "referrals": [],
            "consent": {"data_return": True, "share_with_agencies": True, "recorded_on": "2023-08-14",
                        "witness": "ผู้ใหญ่บ้านหมู่ 1"}}


def write_partner_rows(folder: Path, recs: list[Rec]) -> dict[str, Path]:
    """The records as one file per source, in that source's format; returns source -> file."""
    folder.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[Rec]] = {}
    for rec in recs:
        by_source.setdefault(rec.source, []).append(rec)
    files = {}
    for source, rows in by_source.items():
        if source == "tpmap":
            path = folder / "tpmap_extra.csv"
            with open(path, "w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.DictWriter(handle, list(_tpmap_row(rows[0])), lineterminator="\r\n")
                writer.writeheader()
                writer.writerows(_tpmap_row(rec) for rec in rows)
        elif source == "eef_students":
            path = folder / "eef_extra.csv"
            with open(path, "w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, list(_eef_row(rows[0])), delimiter=";", lineterminator="\n")
                writer.writeheader()
                writer.writerows(_eef_row(rec) for rec in rows)
        else:
            item = _logbook_item if source == "msdhs_logbook" else _survey_item
            path = folder / f"{source}_extra.ndjson"
            path.write_text("".join(json.dumps(item(ref, members), ensure_ascii=False) + "\n"
                                    for ref, members in _units(rows).items()), encoding="utf-8")
        files[source] = path
    return files


# ------------------------------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """Records, and how they must end: each group of refs one person, the groups different persons."""

    records: tuple[Rec, ...]
    persons: tuple[tuple[str, ...], ...]


def same(*records: Rec) -> Case:
    return Case(records, (tuple(r.ref for r in records),))


def _person(n: int, first: str, last: str, born: dt.date, *, sex: str = "M", title: str = "นาย",
            tambon: str = "400101", moo: int = 1) -> Rec:
    """The case's person as TPMAP lists them (with a valid ID and a house code of their own)."""
    return Rec("tpmap", f"TP66-4001-{n:07d}", first, last, born, sex=sex, cid=citizen_id(f"case-{n}"), title=title,
               house=f"400100{n:05d}", house_no=f"{n}/1", moo=moo, tambon=tambon)


def _elsewhere(rec: Rec, source: str, ref: str, **changes) -> Rec:
    """``rec`` as another source (or another row of the same source) recorded it."""
    return replace(rec, source=source, ref=ref, **changes)


def logbook(n: int) -> str:
    return f"LB-4001-{n:06d}/1"


def survey(n: int) -> str:
    return f"UBU-2566-{n:06d}/1"


def _cases() -> dict[str, Case]:
    cases: dict[str, Case] = {}

    p = _person(1, "บุญเรือน", "คำแสนยอด", dt.date(1961, 4, 23), sex="F", title="นาง")
    cases["citizen ID left blank"] = same(p, _elsewhere(p, "msdhs_logbook", logbook(1), cid=""))

    p = _person(2, "ทองสุข", "พรหมวงศ์ษา", dt.date(1958, 11, 2))
    typo = mistyped(p.cid, 5)
    assert parse_citizen_id(typo).status is IdStatus.CHECKSUM_FAILED
    cases["citizen ID with one digit mistyped"] = same(p, _elsewhere(p, "university_survey", survey(2), cid=typo))

    p = _person(3, "คำปุ่น", "ศรีบุญเรือง", dt.date(1966, 2, 17))
    cases["two adjacent digits of the citizen ID swapped"] = same(
        p, _elsewhere(p, "msdhs_logbook", logbook(3), cid=transposed(p.cid)))

    p = _person(4, "หอมจันทร์", "บุตรดีสุข", dt.date(1975, 8, 9), sex="F", title="นาง")
    third = mistyped(p.cid, 2)  # the third digit weighs 11: the check digit still passes
    assert parse_citizen_id(third).status is IdStatus.VALID
    cases["a third-digit typo that keeps the ID valid"] = same(p, _elsewhere(p, "msdhs_logbook", logbook(4), cid=third))

    p = _person(5, "ศิริพร", "แสงอรุณฉาย", dt.date(1983, 1, 30), sex="F", title="นางสาว")
    cases["Thai spelling variant of the first name (ศ/ส)"] = same(
        p, _elsewhere(p, "university_survey", survey(5), first="สิริพร", cid=""))

    p = _person(6, "แก้วตา", "ชัยสิทธิ์ผล", dt.date(1971, 5, 12), sex="F", title="นาง")
    cases["tone mark dropped from the first name"] = same(
        p, _elsewhere(p, "msdhs_logbook", logbook(6), first="แกวตา", cid=""))

    p = _person(7, "สมศักดิ์", "ธนบุญประเสริฐ", dt.date(1969, 10, 3))
    cases["thanthakhat dropped, and ธ/ท in the surname"] = same(
        p, _elsewhere(p, "university_survey", survey(7), first="สมศักดิ", last="ทนบุญประเสริฐ", cid=""))

    # BUG (hub/linking/candidate_keys.py, name_blocks, and the model's blocking rules): blocks use LK82 only,
    # which changes when a thanthakhat is dropped; with no ID and a new tambon no blocking rule pairs these.
    p = _person(18, "จันทร์เพ็ญ", "บุญประคองศรี", dt.date(1964, 12, 1), sex="F", title="นาง", tambon="400103")
    cases["thanthakhat dropped, and moved to a tambon in another amphoe"] = same(
        p, _elsewhere(p, "msdhs_logbook", logbook(18), first="จันทรเพ็ญ", tambon="400301", house="40030012345",
                      house_no="7", cid=""))

    p = _person(8, "มณีรัตน์", "ดวงแก้วกาญจน์", dt.date(1990, 7, 21), sex="F", title="นางสาว")
    cases["title glued to the first name"] = same(
        p, _elsewhere(p, "msdhs_logbook", logbook(8), first="นางสาวมณีรัตน์", title="", cid=""))

    p = _person(9, "พิมพ์ใจ", "วงศ์คำภูมิ", dt.date(1980, 12, 5), sex="F", title="นาง")
    cases["married woman's surname changed"] = same(
        p, _elsewhere(p, "university_survey", survey(9), last="อินทร์แก้วมณี", title="นางสาว", cid=""))

    p = _person(10, "อำนาจ", "หาญชนะศึก", dt.date(1985, 3, 7))
    cases["birth day and month swapped"] = same(
        p, _elsewhere(p, "msdhs_logbook", logbook(10), born=dt.date(1985, 7, 3), cid=""))

    p = _person(11, "เข็มทอง", "ไชยศรีสุข", dt.date(1972, 6, 14), sex="F", title="นาง")
    cases["birth date one day off"] = same(
        p, _elsewhere(p, "university_survey", survey(11), born=dt.date(1972, 6, 15), cid=""))

    p = _person(12, "บัวผัน", "จันทร์หอมกลิ่น", dt.date(1968, 9, 20), sex="F", title="นาง")
    cases["birth year one year off"] = same(
        p, _elsewhere(p, "msdhs_logbook", logbook(12), born=dt.date(1969, 9, 20), cid=""))

    p = _person(13, "สายทอง", "ภูมิพันธ์ศรี", dt.date(1955, 1, 11))
    cases["Buddhist and Christian eras confused"] = same(
        replace(p, wrong_era=True), _elsewhere(p, "university_survey", survey(13), cid=""),
        _elsewhere(p, "msdhs_logbook", logbook(13), wrong_era=True, cid=""))

    p = _person(14, "ลำใย", "ทองมาประเสริฐ", dt.date(1977, 4, 2), sex="F", title="นาง", tambon="400103", moo=4)
    cases["moved to a tambon in another amphoe"] = same(
        p, _elsewhere(p, "msdhs_logbook", logbook(14), tambon="400201", moo=2, house="40020012345", house_no="88",
                      cid=""))

    p = _person(15, "ดวงใจ", "สุขเกษมศานต์", dt.date(1962, 7, 29), sex="F", title="นาง")
    cases["the same person twice in one source under two record ids"] = same(
        p, _elsewhere(p, "tpmap", "TP66-4001-9000015", cid="", house=None))

    child = _person(16, "ต้นกล้า", "บุญมากมาย", dt.date(2014, 6, 15), title="ด.ช.", tambon="400104")
    cases["a child without an ID at school and on the map"] = same(
        replace(child, cid=""), _elsewhere(child, "eef_students", "EEF-4001-0016", cid="", house=None))

    child = _person(17, "ข้าวหอม", "ดวงดีเลิศ", dt.date(2012, 2, 8), sex="F", title="ด.ญ.", tambon="400104")
    cases["a child on the map with an ID, at school without"] = same(
        child, _elsewhere(child, "eef_students", "EEF-4001-0017", cid="", house=None),
        _elsewhere(child, "university_survey", survey(17), cid=""))
    return cases


def _look_alikes() -> dict[str, Case]:
    cases: dict[str, Case] = {}

    twin = _person(30, "ปิยะพงษ์", "แสนสุขสว่าง", dt.date(2013, 9, 9), title="ด.ช.", tambon="400105")
    other = replace(twin, ref="TP66-4001-0000031", first="ณัฐวุฒิ", cid=citizen_id("case-31"))
    cases["twins: one house, one birthday, two first names"] = Case(
        (twin, other, _elsewhere(twin, "eef_students", "EEF-4001-0030", cid=""),
         _elsewhere(other, "eef_students", "EEF-4001-0031", cid="")),
        (("TP66-4001-0000030", "EEF-4001-0030"), ("TP66-4001-0000031", "EEF-4001-0031")))

    twin = _person(32, "บุญมา", "ศรีคำวงศ์", dt.date(2010, 3, 3), title="ด.ช.", tambon="400105")
    sister = replace(twin, ref="TP66-4001-0000033", first="บุญมี", sex="F", title="ด.ญ.", cid="")
    cases["twins without IDs, names one letter apart, brother and sister"] = Case(
        (replace(twin, cid=""), sister), ((twin.ref,), (sister.ref,)))

    father = _person(34, "สมพงษ์", "คำภูมีทอง", dt.date(1960, 5, 5), tambon="400106")
    daughter = _elsewhere(father, "msdhs_logbook", logbook(34), first="วิไลวรรณ", sex="F", title="นางสาว",
                          born=dt.date(1992, 10, 14))  # the father's ID written against her name
    cases["one valid ID, sex and birth year both different"] = Case(
        (father, daughter), ((father.ref,), (daughter.ref,)))

    one = _person(36, "ประยูร", "ศรีภูมิใจ", dt.date(1970, 2, 2), tambon="400106")
    namesake = _elsewhere(one, "university_survey", survey(36), cid=citizen_id("case-37"), house="40010000037",
                          house_no="37")
    cases["namesakes with the same birthday and two valid IDs"] = Case(
        (one, namesake), ((one.ref,), (namesake.ref,)))
    return cases


CASES = _cases()
LOOK_ALIKES = _look_alikes()


# ------------------------------------------------------------------------------------------ one linked hub


@dataclass
class Linked:
    hub: Hub
    report: LinkReport
    person_of: dict[tuple[str, str], str]


@pytest.fixture(scope="module")
def linked(tmp_path_factory) -> Iterator[Linked]:
    """A background population and every case, ingested in the demo's source order and linked once."""
    folder = tmp_path_factory.mktemp("noise")
    background = write_partner_files(generate_population(households=120, seed=4001), folder / "background", seed=4001)
    records = [rec for case in (*CASES.values(), *LOOK_ALIKES.values()) for rec in case.records]
    extra = write_partner_rows(folder / "cases", records)
    with isolated_database_url(folder / "hub") as url:
        hub, _ = Hub.init(Settings(home=folder / "hub", database_url=url))
        try:
            for source in SOURCE_ORDER:
                for path in [*background.files[source], *([extra[source]] if source in extra else [])]:
                    ingest_file(hub, source, path, actor=ACTOR)
            report = link(hub, actor=ACTOR)
            with hub.engine.connect() as conn:
                r = source_records
                person_of = {(s, rid): p for s, rid, p in
                             conn.execute(select(r.c.source, r.c.record_id, record_links.c.person_id)
                                          .select_from(linked_records))}
            yield Linked(hub, report, person_of)
        finally:
            hub.engine.dispose()


def persons_of(linked: Linked, case: Case) -> list[set[str]]:
    """The person ids of each group of the case."""
    source_of = {rec.ref: rec.source for rec in case.records}
    return [{linked.person_of[source_of[ref], ref] for ref in group} for group in case.persons]


# ------------------------------------------------------------------------------------------------- the tests


def test_every_case_record_was_accepted(linked):
    for case in (*CASES.values(), *LOOK_ALIKES.values()):
        for rec in case.records:
            assert (rec.source, rec.ref) in linked.person_of, rec


@pytest.mark.parametrize("name", CASES)
def test_noisy_records_of_one_person_get_one_person_id(linked, name):
    (ids,) = persons_of(linked, CASES[name])
    assert len(ids) == 1


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_look_alikes_stay_different_persons(linked, name):
    groups = persons_of(linked, LOOK_ALIKES[name])
    assert all(len(ids) == 1 for ids in groups), "each look-alike's own records are one person"
    assert len(set.union(*groups)) == len(groups)


def test_a_shared_id_with_sex_and_birth_year_both_different_goes_to_review(linked):
    father, daughter = LOOK_ALIKES["one valid ID, sex and birth year both different"].records
    t = link_reviews
    with linked.hub.engine.connect() as conn:
        reviews = conn.execute(select(t.c.source_a, t.c.record_id_a, t.c.source_b, t.c.record_id_b, t.c.reason,
                                      t.c.status).where(t.c.record_id_a.in_([father.ref, daughter.ref]))).all()
    (a, b) = sorted([(father.source, father.ref), (daughter.source, daughter.ref)])
    assert [tuple(r) for r in reviews] == [(*a, *b, "same_id_conflict", "open")]

