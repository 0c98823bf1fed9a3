"""Households a community's stewards found that the sources may not know (the "search" of search and
verify): NDJSON, one household per line, written by the hub when a steward enters one
(:mod:`hub.community.found`) or dropped in the inbox by a community's own survey.

Birth dates are ISO in either era, as the stewards write them (the year tells: from 2400, Buddhist).
A found household goes through ingest like any partner's (IDs keyed, names encrypted, quarantine) and is
linked like any other: if linking finds its people on TPMAP's list after all, it is not an exclusion
error; if no agency knows them, it is, and it counts among the households in need that no agency serves.

```json
{"found_id": "340101-04/6b1f0c2a", "community": "340101-04", "found_on": "2024-03-12", "steward_id": 3,
 "address": {"house_no": "99/1", "moo": 4, "tambon_code": "340101"}, "verified_poor": true,
 "problems": ["income", "living"],
 "members": [{"citizen_id": "", "title": "นาง", "first_name": "บัวผัน", "last_name": "ดีใจ",
              "birth_date": "1958-04-02", "sex": "F", "relation": "head"}]}
```
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
    parse_iso_date,
    parse_members,
    person_from_member,
    require,
)

DIMENSIONS = frozenset({"health", "living", "education", "income", "access"})


def parse_found(obj: dict[str, Any], line: int) -> SourceRecord:
    """One found household with its members (``{found_id}/{n}``, by position)."""
    found_id = require(obj, "found_id")
    flags: list[str] = []
    tambon, moo, house_no = parse_address(obj, flags=flags)
    community = require(obj, "community")
    if community.split("-")[0] != tambon:
        raise RecordError(f"community {community}: the household's address lies in tambon {tambon}")
    found_on = parse_iso_date(obj.get("found_on"), field="found_on")
    if found_on is None:
        raise RecordError("found_on: required date is missing")
    poor = obj.get("verified_poor")
    if not isinstance(poor, bool):
        raise RecordError("verified_poor: expected true or false")
    problems = obj.get("problems") or []
    if not isinstance(problems, list) or not set(problems) <= DIMENSIONS:
        raise RecordError("problems: expected dimension names (health, living, education, income, access)")
    steward = obj.get("steward_id")
    if steward is not None and (isinstance(steward, bool) or not isinstance(steward, int)):
        raise RecordError("steward_id: expected the registered steward's number")

    def member(obj: dict[str, Any], position: int):
        return person_from_member(f"{found_id}/{position}", obj, flags=[], era="either",
                                  attributes={"relation": optional_str(obj.get("relation"), field="relation")})

    household = Household(
        ref=found_id, tambon_code=tambon, moo=moo, house_no=house_no, house_code=None, flags=flags, private={},
        attributes={"community": community, "found_on": found_on.isoformat(), "verified_poor": poor,
                    "problems": sorted(set(problems)), "steward_id": steward})
    return SourceRecord(line=line, household=household, persons=parse_members(obj, member))


class CommunityFoundAdapter(Adapter):
    name = "community_found"
    title = "Households found by their community (ครัวเรือนที่ชุมชนค้นพบ)"
    record_id_doc = "{found_id}/{n}, n the 1-based position of the member in members"
    fields = {
        **IDENTITY_FIELDS,
        "title_as_written": "the title as written, when glued to the first name",
        "relation": "relation to the head of household",
        "community": "the village or tambon whose stewards found the household",
        "found_on": "the day it was found",
        "verified_poor": "the stewards found the household poor",
        "problems": "dimensions the household has problems in",
        "steward_id": "the registered steward who entered it",
    }

    def read_file(self, path: Path):
        return iter_ndjson(path, parse_found)


@hookimpl
def saphan_register_adapters():
    return [CommunityFoundAdapter()]
