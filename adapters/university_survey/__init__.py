"""University household verification survey ("search and verify"): NDJSON, one household per line.

Quirks handled: ISO (Christian-era) birth dates; members identified by position (``{survey_id}/{n}``);
the verification result from ``tpmap_listed`` and ``verified_poor`` (confirmed, inclusion error,
exclusion error); capitals on a 1-5 scale; referrals whose status moves on in later batches; the paper
``consent`` block kept as evidence (the witness encrypted); a re-submitted ``survey_id`` (later wins).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.adapter_kit import (
    IDENTITY_FIELDS,
    Adapter,
    Household,
    RecordError,
    SourceRecord,
    hookimpl,
    iter_ndjson,
    optional_str,
    parse_address,
    parse_house_code,
    parse_iso_date,
    parse_members,
    person_from_member,
    require,
)

CAPITALS = ("human", "natural", "financial", "physical", "social")
DIMENSIONS = frozenset({"health", "living", "education", "income", "access"})
REFERRAL_STATUSES = ("pending", "accepted", "done", "rejected")


def verification_result(listed: bool, poor: bool) -> str:
    """``confirmed``, ``inclusion_error`` (listed, not poor), ``exclusion_error`` (poor, not listed) or
    ``not_poor_not_listed``."""
    if listed:
        return "confirmed" if poor else "inclusion_error"
    return "exclusion_error" if poor else "not_poor_not_listed"


def _parse_member(survey_id: str):
    def parse(member: dict[str, Any], position: int):
        return person_from_member(f"{survey_id}/{position}", member, flags=[],
                                  attributes={"relation": optional_str(member.get("relation"), field="relation")})
    return parse


def _parse_capitals(obj: dict[str, Any]) -> dict[str, float]:
    capitals = obj.get("capitals")
    if not isinstance(capitals, dict):
        raise RecordError("capitals: required object is missing")
    result = {}
    for name in CAPITALS:
        value = capitals.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1.0 <= value <= 5.0:
            raise RecordError(f"capitals.{name}: expected a score from 1.0 to 5.0")
        result[name] = float(value)
    return result


def _parse_referrals(obj: dict[str, Any]) -> list[dict[str, Any]]:
    referrals = obj.get("referrals") or []
    if not isinstance(referrals, list):
        raise RecordError("referrals: expected a list")
    result = []
    for i, ref in enumerate(referrals, start=1):
        if not isinstance(ref, dict):
            raise RecordError(f"referrals[{i}]: expected an object")
        status = ref.get("status")
        if status not in REFERRAL_STATUSES:
            raise RecordError(f"referrals[{i}].status: expected one of {', '.join(REFERRAL_STATUSES)}")
        referred_on = parse_iso_date(ref.get("referred_on"), field=f"referrals[{i}].referred_on")
        result.append({"referral_id": require(ref, "referral_id"),
                       "agency": optional_str(ref.get("agency"), field="agency"),
                       "need": optional_str(ref.get("need"), field="need"), "status": status,
                       "referred_on": referred_on.isoformat() if referred_on else None})
    return result


def _parse_consent(obj: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    consent = obj.get("consent")
    if consent is None:
        return None, None
    if not isinstance(consent, dict):
        raise RecordError("consent: expected an object")
    for key in ("data_return", "share_with_agencies"):
        if not isinstance(consent.get(key), bool):
            raise RecordError(f"consent.{key}: expected true or false")
    recorded = parse_iso_date(consent.get("recorded_on"), field="consent.recorded_on")
    evidence = {"data_return": consent["data_return"], "share_with_agencies": consent["share_with_agencies"],
                "recorded_on": recorded.isoformat() if recorded else None}
    return evidence, optional_str(consent.get("witness"), field="witness")


def _parse_location(obj: dict[str, Any]) -> dict[str, float] | None:
    location = obj.get("location")
    if location is None:
        return None
    lat, lon = (location.get(k) if isinstance(location, dict) else None for k in ("lat", "lon"))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon)) \
            or not (5.0 <= lat <= 21.0 and 97.0 <= lon <= 106.0):
        raise RecordError("location: expected lat 5-21 and lon 97-106 (Thailand)")
    return {"lat": float(lat), "lon": float(lon)}


def parse_household(obj: dict[str, Any], line: int) -> SourceRecord:
    """One surveyed household with its members."""
    survey_id = require(obj, "survey_id")
    flags: list[str] = []
    tambon, moo, house_no = parse_address(obj, flags=flags)
    surveyed_on = parse_iso_date(obj.get("surveyed_on"), field="surveyed_on")
    if surveyed_on is None:
        raise RecordError("surveyed_on: required date is missing")
    listed, poor = obj.get("tpmap_listed"), obj.get("verified_poor")
    if not isinstance(listed, bool) or not isinstance(poor, bool):
        raise RecordError("tpmap_listed and verified_poor: expected true or false")
    problems = obj.get("problems") or []
    if not isinstance(problems, list) or not set(problems) <= DIMENSIONS:
        raise RecordError("problems: expected dimension names (health, living, education, income, access)")
    consent, witness = _parse_consent(obj)
    private = {"witness": witness} if witness else {}
    location = _parse_location(obj)
    if location:
        private["location"] = location
    household = Household(
        ref=survey_id, tambon_code=tambon, moo=moo, house_no=house_no,
        house_code=parse_house_code(obj.get("house_code"), flags=flags), flags=flags, private=private,
        attributes={
            "university": optional_str(obj.get("university"), field="university"),
            "surveyed_on": surveyed_on.isoformat(),
            "tpmap_listed": listed,
            "verified_poor": poor,
            "verification": verification_result(listed, poor),
            "capitals": _parse_capitals(obj),
            "problems": sorted(set(problems)),
            "referrals": _parse_referrals(obj),
            "consent_evidence": consent,
        },
    )
    return SourceRecord(line=line, household=household, persons=parse_members(obj, _parse_member(survey_id)))


class UniversitySurveyAdapter(Adapter):
    name = "university_survey"
    title = "University household verification survey (การค้นหาและสอบทานครัวเรือนยากจน)"
    record_id_doc = "{survey_id}/{n}, n the 1-based position of the member in members"
    fields = {
        **IDENTITY_FIELDS,
        "title_as_written": "the title as written, when glued to the first name",
        "relation": "relation to the head of household",
        "university": "the surveying university",
        "surveyed_on": "survey date",
        "tpmap_listed": "the household is on the TPMAP list",
        "verified_poor": "the survey found the household poor",
        "verification": "confirmed, inclusion_error, exclusion_error or not_poor_not_listed",
        "capitals": "the five livelihood capitals (1-5)",
        "problems": "dimensions the household has problems in",
        "referrals": "referrals made and their status",
        "consent_evidence": "how the household consented to the survey",
        "witness": "the survey's witness (personal)",
        "location": "GPS location of the dwelling (personal)",
    }

    def read_file(self, path: Path):
        return iter_ndjson(path, parse_household)


@hookimpl
def saphan_register_adapters():
    return [UniversitySurveyAdapter()]
