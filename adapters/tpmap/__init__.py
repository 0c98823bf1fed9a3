"""TPMAP target-person export: CSV, UTF-8 with BOM, comma-separated, one row per deprived person.

Quirks handled: the BOM; Buddhist-era ``dd/mm/yyyy`` birth dates with ``00`` for an unknown day or
month; citizen IDs with dashes or spaces, blank or failing the check; titles glued to first names;
``amphoe_code`` disagreeing with the tambon code (the tambon wins, the row is flagged); failed indicator
codes unknown to the crosswalk (``hub/thai/indicators.py``), or dimension flags that disagree with them
(flagged; the flags are kept); rows with too few fields (quarantined); the same ``tpmap_person_id`` twice
(the later row wins, at ingest).
"""
from __future__ import annotations

from pathlib import Path

from hub.adapter_kit import (
    DIMENSIONS,
    IDENTITY_FIELDS,
    Adapter,
    Household,
    RecordError,
    SourceRecord,
    crosswalk,
    dimensions_failed,
    hookimpl,
    is_known_tambon,
    iter_delimited,
    make_person,
    parse_be_dmy,
    parse_house_code,
    parse_int,
    parse_moo,
    parse_sex,
    parse_tambon_code,
    require,
)

COLUMNS = (
    "tpmap_person_id", "survey_year", "pid", "prefix", "fname", "lname", "sex", "birth_date",
    "house_code", "house_no", "moo", "tambon_code", "amphoe_code", "province_code", "welfare_card",
    "dim_health", "dim_living", "dim_education", "dim_income", "dim_access", "failed_indicators",
    "income_per_capita_year",
)


def _flag01(row: dict[str, str], column: str) -> bool:
    value = row[column].strip()
    if value not in ("0", "1"):
        raise RecordError(f"{column}: expected 0 or 1")
    return value == "1"


def parse_row(row: dict[str, str], line: int) -> SourceRecord:
    """One TPMAP CSV row as a :class:`SourceRecord` holding one person."""
    flags: list[str] = []
    person_id = require(row, "tpmap_person_id")
    survey_year = parse_int(row["survey_year"], field="survey_year", blank_ok=False)
    if not 2400 <= survey_year <= 2700:
        raise RecordError("survey_year: expected a Buddhist-era year such as 2566")
    tambon = parse_tambon_code(row["tambon_code"])
    if row["amphoe_code"].strip() != tambon[:4] or row["province_code"].strip() != tambon[:2]:
        flags.append("area_codes_disagree_tambon_wins")
    if not is_known_tambon(tambon):
        flags.append("tambon_unknown_to_geothai")
    welfare = row["welfare_card"].strip().upper()
    if welfare not in ("Y", "N"):
        raise RecordError("welfare_card: expected Y or N")
    indicators = sorted({c.strip().upper() for c in row["failed_indicators"].split(";") if c.strip()})
    dimensions = {d: _flag01(row, f"dim_{d}") for d in DIMENSIONS}
    if not set(indicators) <= set(crosswalk()):
        flags.append("failed_indicator_unknown")
    elif indicators and dimensions_failed(indicators) != {d for d, on in dimensions.items() if on}:
        flags.append("dimensions_disagree_with_indicators")  # the dimension flags, as exported, are kept
    person = make_person(
        person_id,
        citizen_id=row["pid"],
        title=row["prefix"],
        first_name=row["fname"],
        last_name=row["lname"],
        birth_date=parse_be_dmy(row["birth_date"], field="birth_date", flags=flags),
        sex=parse_sex(row["sex"]),
        flags=flags,
        attributes={
            "survey_year": survey_year,
            "welfare_card": welfare == "Y",
            "dimensions": dimensions,
            "failed_indicators": indicators,
            "income_per_capita_year": parse_int(row["income_per_capita_year"],
                                                field="income_per_capita_year", minimum=0),
        },
    )
    household = Household(
        tambon_code=tambon,
        moo=parse_moo(row["moo"]),
        house_code=parse_house_code(row["house_code"], flags=flags),
        house_no=row["house_no"].strip() or None,
    )
    return SourceRecord(line=line, household=household, persons=[person], version=str(survey_year))


class TpmapAdapter(Adapter):
    name = "tpmap"
    title = "TPMAP target-person export (ระบบ TPMAP)"
    record_id_doc = "tpmap_person_id"
    fields = {
        **IDENTITY_FIELDS,
        "title_as_written": "the title as the row wrote it, when glued to the first name",
        "survey_year": "BMN survey year (Buddhist era)",
        "welfare_card": "holds a state welfare card",
        "dimensions": "deprivation in the five dimensions (health, living, education, income, access)",
        "failed_indicators": "the BMN indicator codes failed (the crosswalk in hub/views/indicators)",
        "income_per_capita_year": "household income per person per year, baht",
    }

    def read_file(self, path: Path):
        return iter_delimited(path, delimiter=",", columns=COLUMNS, parse_row=parse_row)


@hookimpl
def saphan_register_adapters():
    return [TpmapAdapter()]
