"""Writes the partner files in this directory. The files are committed; this script documents how they
were made (citizen IDs get real check digits from ``hub.thai.citizen_id.with_check_digit``) and can
rewrite them: ``python tests/data/make_files.py``. README.md lists which line carries which quirk.
"""
from __future__ import annotations

import json
from pathlib import Path

from hub.thai.citizen_id import with_check_digit

HERE = Path(__file__).parent


def cid(first_twelve: str) -> str:
    return with_check_digit(first_twelve)


def dashed(digits: str) -> str:
    return f"{digits[0]}-{digits[1:5]}-{digits[5:10]}-{digits[10:12]}-{digits[12]}"


def spaced(digits: str) -> str:
    return f"{digits[0]} {digits[1:5]} {digits[5:10]} {digits[10:12]} {digits[12]}"


def bad_check(digits: str) -> str:
    return digits[:12] + str((int(digits[12]) + 1) % 10)


# ------------------------------------------------------------------------------------------ TPMAP

TPMAP_HEADER = ("tpmap_person_id,survey_year,pid,prefix,fname,lname,sex,birth_date,house_code,house_no,moo,"
                "tambon_code,amphoe_code,province_code,welfare_card,dim_health,dim_living,dim_education,"
                "dim_income,dim_access,failed_indicators,income_per_capita_year")

TPMAP_ROWS = [
    # line 2: dashed ID, full BE date
    f"TP66-3401-0000001,2566,{dashed(cid('340100123456'))},นาง,สมพร,ใจดี,2,14/02/2510,34010012345,12/3,4,"
    "340101,3401,34,Y,0,1,0,1,0,L1;I3,24000",
    # line 3: ID with spaces, blank prefix with the title glued to fname, day and month 00
    f"TP66-3401-0000002,2566,{spaced(cid('110140012345'))},,นายสมชาย,ศรีสุข,1,00/00/2505,34010012346,15,4,"
    "340101,3401,34,Y,1,0,0,1,0,H4;I3,30000",
    # line 4: blank ID, RFC 4180 quoted last name containing a comma, day 00, blank income
    'TP66-3401-0000003,2566,,นางสาว,มาลี,"ทองคำ, ณ อุบล",2,00/07/2530,,7,2,'
    "340104,3401,34,N,0,0,1,0,0,E4,",
    # line 5: ID failing the check digit
    f"TP66-3401-0000004,2566,{bad_check(cid('340100123457'))},ด.ญ.,กัลยา,บุญเรือง,2,05/11/2555,34010500011,99,1,"
    "340105,3401,34,Y,0,1,0,0,0,L2,18000",
    # line 6: amphoe_code 3402 disagrees with tambon 340108 (flagged, kept)
    f"TP66-3401-0000005,2566,{cid('340100123458')},นาย,ประเสริฐ,แก้วมณี,1,21/03/2498,34010800077,45/1,6,"
    "340108,3402,34,Y,0,0,0,1,1,I2;A1,15000",
    # line 7: broken line, too few columns (quarantined)
    f"TP66-3401-0000006,2566,{cid('340100123459')},นาง,บุษบา,พรหมมา,2,01/01/2520,34010700021,3",
    # line 8: TP66-3401-0000001 again: the later row wins (house_no, income, dimensions changed)
    f"TP66-3401-0000001,2566,{dashed(cid('340100123456'))},นาง,สมพร,ใจดี,2,14/02/2510,34010012345,12/4,4,"
    "340101,3401,34,Y,0,1,0,1,1,L1;I3;A1,20000",
    # line 9: impossible date 31/02 (quarantined, reason names birth_date)
    f"TP66-3401-0000007,2566,{cid('340100123460')},นาง,วิไลวรรณ,สายทอง,2,31/02/2530,34010700022,8,3,"
    "340107,3401,34,Y,0,0,0,1,0,I3,21000",
    # line 10: Bangkok, municipal (blank moo), นางสาว glued to fname with blank prefix
    f"TP66-1001-0000008,2566,{cid('110100123462')},,นางสาวสุดารัตน์,รุ่งเรือง,2,12/12/2535,10010100055,88,,"
    "100101,1001,10,Y,0,1,0,0,1,L4;A1,36000",
    # line 11: Chiang Mai child
    f"TP66-5001-0000009,2566,{cid('150100123464')},ด.ช.,ธนากร,อินทร์แก้ว,1,03/04/2556,50010100033,3,,"
    "500101,5001,50,Y,0,0,1,0,0,E1,28000",
    # line 12: นาง glued with blank prefix, a Christian-era year in the Buddhist-era field (flagged)
    f"TP66-3401-0000010,2566,{cid('340100123461')},,นางบัวผัน,จันทร์หอม,2,05/05/1985,34010100099,101,5,"
    "340101,3401,34,N,1,0,0,0,0,H2,32000",
]

TPMAP_LATER_ROWS = [
    # TP66-3401-0000003 changed (income, dimensions): updated in place
    'TP66-3401-0000003,2566,,นางสาว,มาลี,"ทองคำ, ณ อุบล",2,00/07/2530,,7,2,'
    "340104,3401,34,Y,0,1,1,1,0,L1;E4;I3,12000",
    # TP66-3401-0000004 exactly as before: unchanged
    TPMAP_ROWS[3],
]


def write_tpmap(name: str, rows: list[str]) -> None:
    text = "\r\n".join([TPMAP_HEADER, *rows]) + "\r\n"
    (HERE / name).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))


# ------------------------------------------------------------------------------------------ EEF

EEF_HEADER = ("semester;student_ref;citizen_id;title;first_name;last_name;birth_date;sex;school_code;"
              "school_name;grade;guardian_citizen_id;guardian_relation;tambon_code;hh_members;"
              "hh_income_month;pmt_items;status;cct_baht")
PMT = "dependents=3|tenure=rent|house=poor|farmland=none|water=well|electricity=yes|vehicle=none|appliances=1"
PMT2 = "dependents=2|tenure=own|house=fair|farmland=rented|water=tap|electricity=yes|vehicle=motorcycle|appliances=3"
SCHOOL_1 = '"โรงเรียนบ้านหนองบัว (ประชาสามัคคี), สาขา 2; อาคารเรียนใหม่"'
SCHOOL_2 = '"โรงเรียนวัดศรีภูมิ; เชียงใหม่, ""ในเมือง"""'
SCHOOL_3 = '"โรงเรียนเบ็ญจะมะมหาราช, อุบลราชธานี"'

EEF_2566_2 = [
    # line 2: student with citizen ID, guardian's ID, BE birth date, school name with , and ;
    f"2566/2;S-34-000101;{cid('140100123470')};ด.ช.;ภูมิใจ;คำแสน;2553-06-15;M;1034010001;{SCHOOL_1};ป.6;"
    f"{cid('340100123471')};mother;340101;4;8000;{PMT};poor;1000",
    # line 3: blank citizen_id (stateless child), blank guardian ID
    f"2566/2;S-34-000102;;ด.ญ.;น้ำฝน;มีสุข;2555-01-20;F;1034010001;{SCHOOL_1};ป.4;"
    f";grandparent;340104;5;6000;{PMT};extremely_poor;1500",
    # line 4: Chiang Mai student, not eligible
    f"2566/2;S-50-000201;{cid('150100123472')};นาย;อนุชา;ปัญญาดี;2551-09-09;M;1050010002;{SCHOOL_2};ม.3;"
    f"{cid('350100123473')};father;500101;3;12000;{PMT2};not_eligible;0",
    # line 5: a grade that does not exist (quarantined)
    f"2566/2;S-34-000103;{cid('140100123474')};ด.ญ.;ขวัญข้าว;นาคำ;2554-03-03;F;1034010001;{SCHOOL_1};ป.7;"
    f"{cid('340100123475')};mother;340101;4;7000;{PMT};poor;1000",
]

EEF_2567_1 = [
    # line 2: S-34-000101 a semester later: moved up to ม.1 in another school, poorer
    f"2567/1;S-34-000101;{cid('140100123470')};ด.ช.;ภูมิใจ;คำแสน;2553-06-15;M;1034010003;{SCHOOL_3};ม.1;"
    f"{cid('340100123471')};mother;340101;4;6000;{PMT};extremely_poor;1500",
    # line 3: S-34-000102 a semester later
    f"2567/1;S-34-000102;;ด.ญ.;น้ำฝน;มีสุข;2555-01-20;F;1034010001;{SCHOOL_1};ป.5;"
    f";grandparent;340104;5;6000;{PMT};extremely_poor;1500",
]


def write_eef(name: str, rows: list[str]) -> None:
    (HERE / name).write_bytes(("\n".join([EEF_HEADER, *rows]) + "\n").encode("utf-8"))


# ------------------------------------------------------------------------------------------ logbook


def member(no, cid_, title, first, last, birth, sex, relation, vulnerabilities=(), **extra):
    return {"member_no": no, "citizen_id": cid_, "title": title, "first_name": first, "last_name": last,
            "birth_date": birth, "sex": sex, "relation": relation, "vulnerabilities": list(vulnerabilities),
            **extra}


NEEDS = {"income": True, "living": True, "health": False, "education": False, "access": False}
LB_101 = {
    "logbook_id": "LB-3401-000101", "house_code": "34010012345",
    "address": {"house_no": "12/3", "moo": 4, "tambon_code": "340101"},
    "members": [
        member(1, cid("340100123456"), "นาง", "สมพร", "ใจดี", "1967-02-14", "F", "head",
               ["elderly", "chronic_illness"], phone_verified=True),
        member(2, cid("340100123476"), "นาย", "สมศักดิ์", "ใจดี", "1965-08-30", "M", "spouse", ["unemployed"]),
    ],
    "needs": NEEDS,
    "assistance": [{"date": "2024-05-01", "kind": "cash", "amount_baht": 3000, "agency": "พมจ.อุบลราชธานี"}],
    "status": "open", "updated_at": "2024-06-01T10:00:00+07:00",
    "api_version": "1.4", "case_worker_team": {"code": "T-07", "shift": "morning"},
}
LB_102_MEMBERS = [
    member(1, cid("340100123477"), "นาย", "บุญมา", "สุขเจริญ", "1970-01-05", "M", "head", ["debt"]),
    member(2, cid("340100123478"), "นาง", "ลำดวน", "สุขเจริญ", "1972-11-11", "F", "spouse"),
    member(3, cid("140100123479"), "ด.ช.", "ต้นกล้า", "สุขเจริญ", "2012-04-04", "M", "child"),
]
LB_102 = {
    "logbook_id": "LB-3401-000102", "house_code": "34010500012",
    "address": {"house_no": "44", "moo": 1, "tambon_code": "340105"},
    "members": LB_102_MEMBERS,
    "needs": {**NEEDS, "education": True}, "assistance": [], "status": "open",
    "updated_at": "2024-06-02T09:30:00+07:00",
}
LB_201 = {
    "logbook_id": "LB-5001-000201", "house_code": "50010100034",
    "address": {"house_no": "9", "moo": None, "tambon_code": "500101"},
    "members": [member(1, cid("350100123480"), "นาง", "คำปัน", "ใจยา", "1950-07-07", "F", "head",
                       ["elderly", "bedridden"])],
    "needs": {**NEEDS, "health": True}, "assistance": [], "status": "open",
    "updated_at": "2024-06-03T08:00:00+07:00",
}
LB_301_BAD_MEMBER = {
    "logbook_id": "LB-1001-000301", "house_code": "10010100056",
    "address": {"house_no": "7/77", "moo": None, "tambon_code": "100101"},
    "members": [member(1, cid("110100123481"), "นาย", "เอกชัย", "ทองประเสริฐ", "1980-02-30", "M", "head")],
    "needs": NEEDS, "assistance": [], "status": "open", "updated_at": "2024-06-04T11:00:00+07:00",
}

LOGBOOK_2024_06 = [
    json.dumps(LB_101, ensure_ascii=False),                               # line 1: unknown extra fields
    json.dumps(LB_102, ensure_ascii=False),                               # line 2: three members
    json.dumps(LB_201, ensure_ascii=False),                               # line 3: Chiang Mai
    '{"logbook_id": "LB-3401-000103", "house_code": "34010100100", "members": [',  # line 4: bad JSON
    "",                                                                   # line 5: blank (skipped)
    json.dumps(LB_301_BAD_MEMBER, ensure_ascii=False),                    # line 6: bad birth date 1980-02-30
]
LOGBOOK_2024_07 = [
    # line 1: LB-3401-000101 deleted upstream
    json.dumps({"logbook_id": "LB-3401-000101", "deleted": True, "updated_at": "2024-07-01T08:00:00+07:00"}),
    # line 2: LB-3401-000102 without member 3 (he left the household)
    json.dumps({**LB_102, "members": LB_102_MEMBERS[:2], "updated_at": "2024-07-02T09:00:00+07:00"},
               ensure_ascii=False),
    # line 3: LB-5001-000201 with an OLDER updated_at than stored: must not overwrite
    json.dumps({**LB_201, "status": "closed", "updated_at": "2024-05-20T08:00:00+07:00",
                "members": [member(1, cid("350100123480"), "นาง", "คำปันแก้", "ใจยาดี", "1950-07-07", "F",
                                   "head")]}, ensure_ascii=False),
]


# ------------------------------------------------------------------------------------------ survey

CAPITALS = {"human": 2.0, "natural": 1.5, "financial": 1.0, "physical": 2.5, "social": 4.0}
CONSENT = {"data_return": True, "share_with_agencies": True, "recorded_on": "2023-08-14",
           "witness": "นายบุญมี ศรีวงศ์ ผู้ใหญ่บ้านหมู่ 4"}
UBU_345 = {
    "survey_id": "UBU-2566-000345", "university": "มหาวิทยาลัยอุบลราชธานี", "surveyed_on": "2023-08-14",
    "house_code": "34010012346", "address": {"house_no": "15", "moo": 4, "tambon_code": "340101"},
    "location": {"lat": 15.2287, "lon": 104.8564},
    "members": [
        {"citizen_id": cid("110140012345"), "first_name": "สมชาย", "last_name": "ศรีสุข",
         "birth_date": "1962-05-01", "sex": "M", "relation": "head"},
        {"citizen_id": cid("340100123482"), "first_name": "จันทร์เพ็ญ", "last_name": "ศรีสุข",
         "birth_date": "1966-10-10", "sex": "F", "relation": "spouse"},
    ],
    "tpmap_listed": True, "verified_poor": True, "capitals": CAPITALS, "problems": ["living", "income"],
    "referrals": [{"referral_id": "R-000901", "agency": "MSDHS", "need": "housing_repair",
                   "referred_on": "2023-09-01", "status": "pending"}],
    "consent": CONSENT,
}
UBU_346 = {
    "survey_id": "UBU-2566-000346", "university": "มหาวิทยาลัยอุบลราชธานี", "surveyed_on": "2023-08-15",
    "house_code": "34010500013", "address": {"house_no": "61", "moo": 1, "tambon_code": "340105"},
    "members": [{"citizen_id": cid("340100123483"), "first_name": "ทองใบ", "last_name": "มั่งมี",
                 "birth_date": "1958-03-12", "sex": "F", "relation": "head"}],
    "tpmap_listed": True, "verified_poor": False,
    "capitals": {"human": 4.0, "natural": 3.5, "financial": 4.5, "physical": 4.0, "social": 3.0},
    "problems": [], "referrals": [],
    "consent": {"data_return": True, "share_with_agencies": False, "recorded_on": "2023-08-15",
                "witness": "นางสาวกาญจนา พรมดี อสม."},
}
CMU_12 = {
    "survey_id": "CMU-2566-000012", "university": "มหาวิทยาลัยเชียงใหม่", "surveyed_on": "2023-09-02",
    "house_code": "50010100035", "address": {"house_no": "23/1", "moo": None, "tambon_code": "500101"},
    "location": {"lat": 18.7953, "lon": 98.9986},
    "members": [
        {"citizen_id": cid("350100123484"), "first_name": "สายสุนีย์", "last_name": "ดอกไม้",
         "birth_date": "1975-12-25", "sex": "F", "relation": "head"},
        {"citizen_id": "", "first_name": "มะลิ", "last_name": "ดอกไม้", "birth_date": "2015-02-01",
         "sex": "F", "relation": "child"},
        {"citizen_id": cid("350100123485"), "first_name": "แสงเดือน", "last_name": "ดอกไม้",
         "birth_date": "1948-06-06", "sex": "F", "relation": "parent"},
    ],
    "tpmap_listed": False, "verified_poor": True,
    "capitals": {"human": 1.5, "natural": 1.0, "financial": 1.0, "physical": 2.0, "social": 2.5},
    "problems": ["health", "income"],
    "referrals": [{"referral_id": "R-000955", "agency": "สปสช.", "need": "health_insurance",
                   "referred_on": "2023-09-10", "status": "accepted"}],
    "consent": {"data_return": True, "share_with_agencies": True, "recorded_on": "2023-09-02",
                "witness": "นายจันทร์ติ๊บ อุ่นเรือน กำนัน"},
}
UBU_348_BAD = {
    **UBU_346, "survey_id": "UBU-2566-000348", "house_code": "34010700023",
    "address": {"house_no": "2", "moo": 3, "tambon_code": "340107"},
    "members": [{"citizen_id": cid("340100123486"), "first_name": "ปราณี", "last_name": "ศรีทอง",
                 "birth_date": "1981-01-31", "sex": "F", "relation": "head"}],
    "capitals": {**CAPITALS, "human": 7.0},
}
UBU_345_RESUBMITTED = {
    **UBU_345,
    "members": [
        UBU_345["members"][0],
        {**UBU_345["members"][1], "birth_date": "1967-10-10"},
        {"citizen_id": cid("140100123487"), "first_name": "เด็กชายภาคิน", "last_name": "ศรีสุข",
         "birth_date": "2014-01-15", "sex": "M", "relation": "child"},
    ],
    "referrals": [{**UBU_345["referrals"][0], "status": "accepted"}],
}
SURVEY_BATCH_1 = [
    json.dumps(UBU_345, ensure_ascii=False),              # line 1: confirmed, referral pending, consent
    json.dumps(UBU_346, ensure_ascii=False),              # line 2: inclusion error
    json.dumps(CMU_12, ensure_ascii=False),               # line 3: exclusion error, Chiang Mai
    json.dumps(UBU_348_BAD, ensure_ascii=False),          # line 4: capital 7.0 (quarantined)
    json.dumps(UBU_345_RESUBMITTED, ensure_ascii=False),  # line 5: UBU-2566-000345 re-submitted: wins
]


def write_lines(name: str, lines: list[str]) -> None:
    (HERE / name).write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def main() -> None:
    write_tpmap("tpmap_2566_export.csv", TPMAP_ROWS)
    write_tpmap("tpmap_2566_export_later.csv", TPMAP_LATER_ROWS)
    write_eef("eef_2566_2.csv", EEF_2566_2)
    write_eef("eef_2567_1.csv", EEF_2567_1)
    write_lines("logbook_2024-06.ndjson", LOGBOOK_2024_06)
    write_lines("logbook_2024-07.ndjson", LOGBOOK_2024_07)
    write_lines("survey_2566_batch1.ndjson", SURVEY_BATCH_1)


if __name__ == "__main__":
    main()
