"""MSDHS family logbook (สมุดพกครอบครัว): households from the ministry's paginated JSON API.

The hub pulls the API page by page (:meth:`MsdhsLogbookAdapter.fetch_page`, asking only for what changed
since the last pull); the file form is NDJSON, one API ``household`` item per line, which is also how each
pulled page is stored before ingest. Quirks handled: ISO (Christian-era) birth
dates; tombstones ``{"logbook_id": ..., "deleted": true}`` that remove a household; unknown extra fields
from newer API versions (ignored); members no longer listed leave the household; an older ``updated_at``
never overwrites a newer one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.adapter_kit import (
    DIMENSIONS,
    IDENTITY_FIELDS,
    Adapter,
    AdapterError,
    Household,
    Page,
    PartnerClient,
    RecordError,
    SourceRecord,
    Tombstone,
    hookimpl,
    iter_ndjson,
    optional_str,
    parse_address,
    parse_house_code,
    parse_int,
    parse_iso_date,
    parse_members,
    parse_timestamp,
    person_from_member,
    require,
)

VULNERABILITIES = frozenset({
    "elderly", "disabled", "bedridden", "chronic_illness", "single_parent", "orphan", "teen_parent",
    "homeless", "unemployed", "debt", "stateless",
})
STATUSES = ("open", "closed", "moved")


def _parse_member(logbook_id: str):
    def parse(member: dict[str, Any], position: int):
        flags: list[str] = []
        member_no = parse_int(member.get("member_no"), field="member_no", minimum=1, blank_ok=False)
        vulnerabilities = member.get("vulnerabilities") or []
        if not isinstance(vulnerabilities, list) or not all(isinstance(v, str) for v in vulnerabilities):
            raise RecordError("vulnerabilities: expected a list of names")
        unknown = sorted(set(vulnerabilities) - VULNERABILITIES)
        if unknown:
            flags.append("vulnerability_unknown")
        return person_from_member(f"{logbook_id}/{member_no}", member, flags=flags, attributes={
            "member_no": member_no, "relation": optional_str(member.get("relation"), field="relation"),
            "vulnerabilities": sorted(set(vulnerabilities))})
    return parse


def _parse_needs(obj: dict[str, Any]) -> dict[str, bool]:
    needs = obj.get("needs") or {}
    if not isinstance(needs, dict) or not all(isinstance(needs.get(d, False), bool) for d in DIMENSIONS):
        raise RecordError("needs: expected true/false for health, living, education, income, access")
    return {d: needs.get(d, False) for d in DIMENSIONS}


def _parse_assistance(obj: dict[str, Any]) -> list[dict[str, Any]]:
    entries = obj.get("assistance") or []
    if not isinstance(entries, list):
        raise RecordError("assistance: expected a list")
    result = []
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise RecordError(f"assistance[{i}]: expected an object")
        when = parse_iso_date(entry.get("date"), field=f"assistance[{i}].date")
        amount = entry.get("amount_baht")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0):
            raise RecordError(f"assistance[{i}].amount_baht: expected a non-negative number")
        result.append({"date": when.isoformat() if when else None,
                       "kind": optional_str(entry.get("kind"), field="kind"),
                       "amount_baht": amount, "agency": optional_str(entry.get("agency"), field="agency")})
    return result


def parse_household(obj: dict[str, Any], line: int) -> SourceRecord | Tombstone:
    """One logbook API item: a household with its members, or a tombstone."""
    logbook_id = require(obj, "logbook_id")
    updated_at = parse_timestamp(obj.get("updated_at"), field="updated_at")
    if obj.get("deleted") is True:
        return Tombstone(line=line, household_ref=logbook_id, version=updated_at)
    flags: list[str] = []
    tambon, moo, house_no = parse_address(obj, flags=flags)
    status = require(obj, "status")
    if status not in STATUSES:
        raise RecordError(f"status: expected one of {', '.join(STATUSES)}")
    household = Household(
        ref=logbook_id, tambon_code=tambon, moo=moo, house_no=house_no,
        house_code=parse_house_code(obj.get("house_code"), flags=flags), flags=flags,
        attributes={"status": status, "needs": _parse_needs(obj), "assistance": _parse_assistance(obj),
                    "updated_at": updated_at},
    )
    persons = parse_members(obj, _parse_member(logbook_id))
    return SourceRecord(line=line, household=household, persons=persons, version=updated_at)


def latest_change(items: list[dict[str, Any]]) -> str | None:
    """The greatest ``updated_at`` among ``items``, in UTC; items whose time cannot be read are left out
    (ingest quarantines them)."""
    times = []
    for item in items:
        try:
            times.append(parse_timestamp(item.get("updated_at"), field="updated_at"))
        except RecordError:
            continue
    return max(times, default=None)


class MsdhsLogbookAdapter(Adapter):
    name = "msdhs_logbook"
    title = "MSDHS family logbook (สมุดพกครอบครัว, กระทรวงการพัฒนาสังคมฯ)"
    record_id_doc = "{logbook_id}/{member_no}"
    fields = {
        **IDENTITY_FIELDS,
        "title_as_written": "the title as written, when glued to the first name",
        "member_no": "member number in the logbook",
        "relation": "relation to the head of household",
        "vulnerabilities": "vulnerable groups the member belongs to (health and disability ones are sensitive)",
        "status": "logbook status (open, closed, moved)",
        "needs": "needs in the five dimensions",
        "assistance": "assistance received (date, kind, amount, agency)",
        "updated_at": "when the logbook was last updated",
    }

    def read_file(self, path: Path):
        return iter_ndjson(path, parse_household)

    def fetch_page(self, client: PartnerClient, *, since: str | None, token: str | None, page_size: int) -> Page:
        body = client.get_json("/api/v1/households",
                               {"updated_since": since, "page_size": page_size, "page_token": token})
        items = body.get("items") if isinstance(body, dict) else None
        next_token = body.get("next_page_token") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items) or \
                not isinstance(next_token, (str, type(None))):
            raise AdapterError("the logbook API answered a page without an items list and a next_page_token")
        return Page(items, next_token or None, latest_change(items))


@hookimpl
def saphan_register_adapters():
    return [MsdhsLogbookAdapter()]
