"""Each kind of noise partners write, linked across sources; and the look-alikes that must stay apart.

A small synthetic population is ingested first (the model trains on its same-ID pairs), then partner
files written here: for each case, a TPMAP row for a person and a second record of the same person (or
of a look-alike) with one kind of noise. Names are made up so that no one in the background population
shares them.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from helpers import PMT, tpmap_row, write_eef, write_tpmap
from hub.db.schema import link_reviews, source_records
from hub.demo.population import generate_population
from hub.demo.writers import write_partner_files
from hub.linking.run import link
from hub.pipeline.ingest import ingest_file
from hub.thai.citizen_id import with_check_digit

ACTOR = "test:pytest"
TAMBON, OTHER_TAMBON = "340101", "500101"  # Mueang Ubon Ratchathani; Mueang Chiang Mai
def cid(n: int) -> str:
    return with_check_digit(f"34011{n:07d}")


def typo(valid: str) -> str:
    """One digit mistyped (the check digit then fails)."""
    changed = valid[:5] + str((int(valid[5]) + 3) % 10) + valid[6:]
    assert changed[12] != with_check_digit(changed[:12])[12]
    return changed


def transposed(valid: str) -> str:
    """Two adjacent digits swapped."""
    i = next(i for i in range(4, 12) if valid[i] != valid[i + 1])
    return valid[:i] + valid[i + 1] + valid[i] + valid[i + 2:]


# case -> (the first record, the second record, same person?)
CASES: dict[str, tuple[dict, dict, bool]] = {
    "id blank, Thai spelling variant (ศ/ส)": (
        tpmap_row("N-01a", pid=cid(1), first="ศักดิ์ดาวุธ", last="ทองประเสริฐวงศ์", born="04/02/2520",
                  house="3401000101"),
        tpmap_row("N-01b", first="สักดิ์ดาวุธ", last="ทองประเสริฐวงศ์", born="04/02/2520", house="3401000101"),
        True),
    "id with one digit mistyped": (
        tpmap_row("N-02a", pid=cid(2), first="บุญเหลือล้น", last="แก้วประกายทิพย์", born="11/03/2515",
                  house="3401000102"),
        tpmap_row("N-02b", pid=typo(cid(2)), first="บุญเหลือล้น", last="แก้วประกายทิพย์", born="11/03/2515",
                  house="3401000102"),
        True),
    "id with two adjacent digits swapped": (
        tpmap_row("N-03a", pid=cid(3), first="ประเสริฐศักดิ์", last="ชูเกียรติวงษ์", born="21/07/2508",
                  house="3401000103"),
        tpmap_row("N-03b", pid=transposed(cid(3)), first="ประเสริฐศักดิ์", last="ชูเกียรติวงษ์",
                  born="21/07/2508", house="3401000103"),
        True),
    "title glued to the first name": (
        tpmap_row("N-04a", pid=cid(4), prefix="นางสาว", first="ดวงพิกุลทอง", last="ศรีสมบูรณ์เลิศ", sex="2",
                  born="15/05/2530", house="3401000104"),
        tpmap_row("N-04b", prefix="", first="นางสาวดวงพิกุลทอง", last="ศรีสมบูรณ์เลิศ", sex="2",
                  born="15/05/2530", house="3401000104"),
        True),
    "married woman's surname changed": (
        tpmap_row("N-05a", pid=cid(5), prefix="นางสาว", first="อัญชลีพรรณ", last="พึ่งบุญประเสริฐ", sex="2",
                  born="09/09/2525", house="3401000105"),
        tpmap_row("N-05b", prefix="นาง", first="อัญชลีพรรณ", last="วงศ์สุวรรณคีรี", sex="2", born="09/09/2525",
                  house="3401000105"),
        True),
    "birth day and month swapped": (
        tpmap_row("N-06a", pid=cid(6), first="ธีรวัฒน์ชัย", last="มั่นคงเจริญสุข", born="05/11/2510",
                  house="3401000106"),
        tpmap_row("N-06b", first="ธีรวัฒน์ชัย", last="มั่นคงเจริญสุข", born="11/05/2510", house="3401000106"),
        True),
    "birth date one day off": (
        tpmap_row("N-07a", pid=cid(7), first="เกรียงไกรศักดิ์", last="บุญญาอนันต์กุล", born="17/08/2522",
                  house="3401000107"),
        tpmap_row("N-07b", first="เกรียงไกรศักดิ์", last="บุญญาอนันต์กุล", born="18/08/2522", house="3401000107"),
        True),
    "birth year one year off": (
        tpmap_row("N-08a", pid=cid(8), first="สมพงษ์ศักดิ์", last="ปัญญาวงศ์ไพศาล", born="03/04/2519",
                  house="3401000108"),
        tpmap_row("N-08b", first="สมพงษ์ศักดิ์", last="ปัญญาวงศ์ไพศาล", born="03/04/2520", house="3401000108"),
        True),
    "Christian-era year in a Buddhist-era field": (
        tpmap_row("N-09a", pid=cid(9), first="วิไลลักษณ์ทิพย์", last="จันทร์หอมวงศ์", sex="2", prefix="นาง",
                  born="12/12/2518", house="3401000109"),
        tpmap_row("N-09b", first="วิไลลักษณ์ทิพย์", last="จันทร์หอมวงศ์", sex="2", prefix="นาง", born="12/12/1975",
                  house="3401000109"),
        True),
    "moved to another province": (
        tpmap_row("N-10a", pid=cid(10), first="อนุวัฒน์ไชยา", last="ทรัพย์สมบูรณ์ดี", born="30/01/2528",
                  house="3401000110"),
        tpmap_row("N-10b", first="อนุวัฒน์ไชยา", last="ทรัพย์สมบูรณ์ดี", born="30/01/2528", house="5001000110",
                  tambon=OTHER_TAMBON),
        True),
    "the same person listed twice without ID": (
        tpmap_row("N-11a", first="ไพโรจน์ฤทธิ์", last="เพชรรัตนากร", born="22/06/2505", house="3401000111"),
        tpmap_row("N-11b", first="ไพโรจน์ฤทธิ์", last="เพชรรัตนากร", born="22/06/2505", house="3401000111"),
        True),
    "twins in one house, one without ID, stay two": (
        tpmap_row("N-12a", pid=cid(12), prefix="ด.ช.", first="ภูมิพัฒน์", last="รุ่งโรจน์ธนากร", born="14/02/2558",
                  house="3401000112"),
        tpmap_row("N-12b", prefix="ด.ช.", first="ภูริณัฐ", last="รุ่งโรจน์ธนากร", born="14/02/2558",
                  house="3401000112"),
        False),
    "father and son of one name stay two": (
        tpmap_row("N-13a", pid=cid(13), first="สุรชัยวัฒน์", last="ปิ่นทองคำพร", born="01/01/2505",
                  house="3401000113"),
        tpmap_row("N-13b", prefix="ด.ช.", first="สุรชัยวัฒน์", last="ปิ่นทองคำพร", born="20/10/2555",
                  house="3401000113"),
        False),
    "two valid IDs far apart, the same name, stay two": (
        tpmap_row("N-14a", pid=cid(14), first="สมศักดิ์ดำรง", last="ใจดีมีสุขสันต์", born="05/05/2520",
                  house="3401000114"),
        tpmap_row("N-14b", pid=with_check_digit("5502199000141"[:12]), first="สมศักดิ์ดำรง",
                  last="ใจดีมีสุขสันต์", born="05/05/2520", house="5001000114", tambon=OTHER_TAMBON),
        False),
    "the same valid ID, sex and birth year both differ, stay two": (
        tpmap_row("N-15a", pid=cid(15), first="กาญจนาพรรณ", last="เรืองศรีสกุล", sex="2", prefix="นาง",
                  born="08/08/2500", house="3401000115"),
        tpmap_row("N-15b", pid=cid(15), first="ธนากรณ์ชัย", last="บุญมาวงศ์ษา", sex="1", born="08/08/2540",
                  house="3401000116"),
        False),
}
CHILD_TPMAP = tpmap_row("N-16a", prefix="ด.ญ.", first="น้ำฟ้าใสสวย", last="ดอกไม้งามยิ่ง", sex="2",
                        born="10/06/2556", house="3401000117")
CHILD_EEF = {"semester": "2567/1", "student_ref": "N-16b", "citizen_id": "", "title": "ด.ญ.",
             "first_name": "น้ำฟ้าใสสวย", "last_name": "ดอกไม้งามยิ่ง", "birth_date": "2556-06-10", "sex": "F",
             "school_code": "1034010001", "school_name": "โรงเรียนบ้านทดสอบ", "grade": "ป.4",
             "guardian_citizen_id": "", "guardian_relation": "mother", "tambon_code": TAMBON, "hh_members": "4",
             "hh_income_month": "6000", "pmt_items": PMT, "status": "poor", "cct_baht": "1000"}


@pytest.fixture(scope="module")
def background(tmp_path_factory) -> dict:
    """A synthetic population's partner files (the model trains on its same-ID pairs)."""
    out = tmp_path_factory.mktemp("background")
    return write_partner_files(generate_population(households=150, seed=11), out, seed=11).files


@pytest.fixture
def linked(hub, background, tmp_path) -> dict[str, tuple[str, str]]:
    """Everything ingested and linked: record id -> (person id, household id)."""
    for source in ("tpmap", "msdhs_logbook", "eef_students", "university_survey"):
        for path in background.get(source, []):
            ingest_file(hub, source, path, actor=ACTOR)
    rows = [record for first, second, _ in CASES.values() for record in (first, second)]
    ingest_file(hub, "tpmap", write_tpmap(tmp_path / "cases.csv", [*rows, CHILD_TPMAP]), actor=ACTOR)
    ingest_file(hub, "eef_students", write_eef(tmp_path / "child.csv", [CHILD_EEF]), actor=ACTOR)
    link(hub, actor=ACTOR)
    r = source_records
    with hub.engine.connect() as conn:
        return {rid: (pid, hid) for rid, pid, hid in conn.execute(
            select(r.c.record_id, r.c.person_id, r.c.household_id).where(r.c.record_id.like("N-%")))}


@pytest.mark.parametrize("case", list(CASES))
def test_each_kind_of_noise_is_linked_and_each_look_alike_kept_apart(linked, case):
    first, second, same = CASES[case]
    a, b = linked[first["tpmap_person_id"]], linked[second["tpmap_person_id"]]
    assert (a[0] == b[0]) is same, case


def test_a_child_without_an_id_at_school_is_the_child_on_the_targeting_map(linked):
    assert linked["N-16a"][0] == linked["N-16b"][0]


def test_one_persons_records_share_a_household_and_a_move_does_not_split_it(linked):
    for case in ("id blank, Thai spelling variant (ศ/ส)", "moved to another province"):
        first, second, _ = CASES[case]
        assert linked[first["tpmap_person_id"]][1] == linked[second["tpmap_person_id"]][1], case


def test_a_shared_id_with_sex_and_birth_year_both_different_goes_to_review(hub, linked):
    t = link_reviews
    with hub.engine.connect() as conn:
        reasons = dict(conn.execute(select(t.c.record_id_a, t.c.reason).where(t.c.record_id_b == "N-15b")).all())
    assert reasons == {"N-15a": "same_id_conflict"}
