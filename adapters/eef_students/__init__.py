"""EEF poor-student screening: one CSV per semester, UTF-8, ``;`` separator with quoted fields.

Quirks handled: school names with commas and quotes; Buddhist-era ``yyyy-mm-dd`` birth dates; blank
citizen IDs (stateless or undocumented children); the guardian's citizen ID, kept only as a linkage key;
the eight proxy-means-test items as ``key=value|...``. A student appears once per semester; across
semesters ``student_ref`` is the same child, and the newest semester's screening is the record.
"""
from __future__ import annotations

import re
from pathlib import Path

from hub.adapter_kit import (
    IDENTITY_FIELDS,
    Adapter,
    Household,
    RecordError,
    SourceRecord,
    hookimpl,
    is_known_tambon,
    iter_delimited,
    make_person,
    parse_citizen_id,
    parse_int,
    parse_sex,
    parse_tambon_code,
    parse_ymd,
    require,
)

COLUMNS = (
    "semester", "student_ref", "citizen_id", "title", "first_name", "last_name", "birth_date", "sex",
    "school_code", "school_name", "grade", "guardian_citizen_id", "guardian_relation", "tambon_code",
    "hh_members", "hh_income_month", "pmt_items", "status", "cct_baht",
)
PMT_ITEMS = ("dependents", "tenure", "house", "farmland", "water", "electricity", "vehicle", "appliances")
STATUSES = ("extremely_poor", "poor", "not_eligible")
RELATIONS = ("father", "mother", "grandparent", "relative", "other")
_SEMESTER = re.compile(r"^(\d{4})/([12])$")
_GRADE = re.compile(r"^(อ\.[1-3]|ป\.[1-6]|ม\.[1-6])$")
_SCHOOL = re.compile(r"^\d{10}$")


def parse_pmt_items(text: str) -> dict[str, str]:
    """``dependents=3|tenure=rent|...`` as a dict; every one of the eight items must be present."""
    items: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split("|"))):
        key, sep, value = pair.partition("=")
        if not sep:
            raise RecordError(f"pmt_items: '{key}' is not a key=value pair")
        items[key.strip()] = value.strip()
    missing = [k for k in PMT_ITEMS if k not in items]
    if missing:
        raise RecordError(f"pmt_items: missing {', '.join(missing)}")
    return items


def parse_row(row: dict[str, str], line: int) -> SourceRecord:
    """One EEF CSV row as a :class:`SourceRecord` holding one student."""
    flags: list[str] = []
    semester = require(row, "semester")
    if not _SEMESTER.match(semester):
        raise RecordError("semester: expected yyyy/t in the Buddhist era, e.g. 2567/1")
    grade = require(row, "grade")
    if not _GRADE.match(grade):
        raise RecordError("grade: expected อ.1-อ.3, ป.1-ป.6 or ม.1-ม.6")
    school_code = require(row, "school_code")
    if not _SCHOOL.match(school_code):
        raise RecordError("school_code: expected the 10-digit Ministry of Education code")
    status = require(row, "status")
    if status not in STATUSES:
        raise RecordError(f"status: expected one of {', '.join(STATUSES)}")
    relation = row["guardian_relation"].strip() or None
    if relation is not None and relation not in RELATIONS:
        raise RecordError(f"guardian_relation: expected one of {', '.join(RELATIONS)}")
    members = parse_int(row["hh_members"], field="hh_members", minimum=1, blank_ok=False)
    income = parse_int(row["hh_income_month"], field="hh_income_month", minimum=0, blank_ok=False)
    tambon = parse_tambon_code(row["tambon_code"])
    if not is_known_tambon(tambon):
        flags.append("tambon_unknown_to_geothai")
    guardian = parse_citizen_id(row["guardian_citizen_id"])
    person = make_person(
        require(row, "student_ref"),
        citizen_id=row["citizen_id"],
        title=row["title"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        birth_date=parse_ymd(row["birth_date"], field="birth_date", era="BE", flags=flags),
        sex=parse_sex(row["sex"]),
        flags=flags,
        linked_ids={"guardian": guardian} if guardian else {},
        attributes={
            "semester": semester,
            "school_code": school_code,
            "school_name": row["school_name"].strip(),
            "grade": grade,
            "guardian_relation": relation,
            "hh_members": members,
            "hh_income_month": income,
            "income_per_person_month": round(income / members, 2),
            "pmt_items": parse_pmt_items(row["pmt_items"]),
            "status": status,
            "cct_baht": parse_int(row["cct_baht"], field="cct_baht", minimum=0, blank_ok=False),
        },
    )
    return SourceRecord(line=line, household=Household(tambon_code=tambon), persons=[person], version=semester)


class EefStudentsAdapter(Adapter):
    name = "eef_students"
    title = "EEF poor-student screening (กองทุนเพื่อความเสมอภาคทางการศึกษา)"
    record_id_doc = "student_ref"
    fields = {
        **IDENTITY_FIELDS,
        "title_as_written": "the title as written, when glued to the first name",
        "guardian_citizen_id": "the guardian's citizen ID (kept only as a linkage key)",
        "semester": "screening semester (Buddhist era, yyyy/t)",
        "school_code": "10-digit Ministry of Education school code",
        "school_name": "school name",
        "grade": "grade (อ.1-ม.6)",
        "guardian_relation": "the guardian's relation to the student",
        "hh_members": "household members",
        "hh_income_month": "household income per month, baht",
        "income_per_person_month": "household income per person per month, baht",
        "pmt_items": "the eight proxy-means-test household items",
        "status": "screening result (extremely_poor, poor, not_eligible)",
        "cct_baht": "conditional cash transfer paid, baht",
    }

    def read_file(self, path: Path):
        return iter_delimited(path, delimiter=";", columns=COLUMNS, parse_row=parse_row)


@hookimpl
def saphan_register_adapters():
    return [EefStudentsAdapter()]
