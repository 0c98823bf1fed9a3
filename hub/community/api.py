"""The community loop over HTTP: stewards verify their households and raise referrals; an agency reads
its referral queue (in its own pseudonyms) and moves referrals on. A household or referral the caller may
not act on answers 404, exactly as one that does not exist."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from consent.rights import RECTIFIABLE
from hub.api.auth import HubDep, Steward, actor_of, role
from hub.community.access import HouseholdNotShown
from hub.community.corrections import ask_correction
from hub.community.found import enter_found_household
from hub.community.referrals import ReferralNotFound, agency_queue, move_referral, raise_referral
from hub.community.reviews import community_reviews, settle_for_community
from hub.community.verification import STATUSES, verify_household
from hub.linking.reviews import ReviewError
from hub.tokens import Caller

router = APIRouter(tags=["community loop"])
AgencyOrAdmin = Annotated[Caller, Depends(role("partner", "admin"))]
HubId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


class Evidence(BaseModel):
    method: Literal["visit", "meeting", "document", "phone"]
    note: str = Field("", max_length=500)


class VerificationIn(BaseModel):
    household_id: HubId
    status: Literal[STATUSES]  # type: ignore[valid-type]
    evidence: Evidence


class ReferralIn(BaseModel):
    household_id: HubId
    agency: str = Field(min_length=2, max_length=32, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    need: str = Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")


class CorrectionIn(BaseModel):
    household_id: HubId
    person_id: HubId
    field: Literal[RECTIFIABLE]  # type: ignore[valid-type]
    correct: str = Field(min_length=1, max_length=200)
    evidence: str = Field(min_length=1, max_length=500)


class SettleIn(BaseModel):
    decision: Literal["same", "different"]
    basis: str = Field(min_length=1, max_length=500)


class MemberIn(BaseModel):
    citizen_id: str | None = Field(None, max_length=20)
    title: str | None = Field(None, max_length=32)
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    birth_date: str | None = Field(None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                                   description="YYYY-MM-DD, Christian or Buddhist era (a year from 2400 is B.E.)")
    sex: Literal["M", "F"] | None = None
    relation: str | None = Field(None, max_length=32)



class FoundIn(BaseModel):
    house_no: str | None = Field(None, max_length=32)
    moo: int | None = Field(None, ge=1, le=99)
    members: list[MemberIn] = Field(min_length=1, max_length=30)
    verified_poor: bool = True
    problems: list[Literal["health", "living", "education", "income", "access"]] = []


class MoveIn(BaseModel):
    status: Literal["accepted", "done", "rejected"]
    note: str = Field("", max_length=500)


@router.post("/community/verifications", status_code=201,
             summary="Your stewards found this household poor, not poor, moved or deceased (outranks the sources)")
def post_verification(body: VerificationIn, hub: HubDep, who: Steward) -> dict[str, Any]:
    try:
        done = verify_household(hub, community_code=who.area, steward_id=who.steward, household_id=body.household_id,
                                status=body.status, evidence=body.evidence.model_dump(), actor=actor_of(who))
    except HouseholdNotShown:
        raise HTTPException(404, "no such household in your community") from None
    return {"household_id": done.household_id, "status": done.status, "previous_status": done.previous_status,
            "notified": done.notified}


@router.post("/community/referrals", status_code=201, summary="Refer one of your households to an agency")
def post_referral(body: ReferralIn, hub: HubDep, who: Steward) -> dict[str, Any]:
    try:
        referral_id = raise_referral(hub, community_code=who.area, steward_id=who.steward,
                                     household_id=body.household_id, agency=body.agency, need=body.need,
                                     actor=actor_of(who))
    except HouseholdNotShown:
        raise HTTPException(404, "no such household in your community") from None
    return {"id": referral_id, "status": "pending"}


@router.post("/community/households", status_code=201,
             summary="Enter a household your stewards found (linked at the next link run); the ingest report")
def post_found(body: FoundIn, hub: HubDep, who: Steward) -> dict[str, Any]:
    report = enter_found_household(hub, community_code=who.area, steward_id=who.steward, house_no=body.house_no,
                                   moo=body.moo, members=[m.model_dump() for m in body.members],
                                   verified_poor=body.verified_poor, problems=body.problems, actor=actor_of(who))
    if not report.accepted:
        raise HTTPException(422, {"detail": "the household could not be entered", "quarantined":
                                  report.quarantine_reasons})
    return {"persons": report.inserted, "quarantined": report.quarantine_reasons,
            "linked": "at the next link run (`hub link`, or the scheduler after the next sync)"}


@router.post("/community/corrections", status_code=201,
             summary="Ask for a member's identity to be corrected (held for review; partners told which field)")
def post_correction(body: CorrectionIn, hub: HubDep, who: Steward) -> dict[str, Any]:
    try:
        request_id = ask_correction(hub, community_code=who.area, steward_id=who.steward,
                                    household_id=body.household_id, person_id=body.person_id, field=body.field,
                                    correct=body.correct, evidence=body.evidence, actor=actor_of(who))
    except HouseholdNotShown:
        raise HTTPException(404, "no such member of a household in your community") from None
    return {"request_id": request_id, "status": "open"}


@router.get("/community/reviews", summary="Link review pairs of your people, both records identified (audited)")
def get_reviews(hub: HubDep, who: Steward) -> dict[str, Any]:
    return {"reviews": community_reviews(hub, community_code=who.area, steward_id=who.steward, actor=actor_of(who))}


@router.post("/community/reviews/{review_id}", summary="Settle one of your pairs: one person, or two")
def post_review(review_id: Annotated[int, Field(ge=1, le=2**62)], body: SettleIn, hub: HubDep,
                who: Steward) -> dict[str, Any]:
    try:
        settle_for_community(hub, review_id, body.decision, community_code=who.area, steward_id=who.steward,
                             basis=body.basis, actor=actor_of(who))
    except ReviewError:
        raise HTTPException(404, "no such review pair among your community's") from None
    return {"id": review_id, "status": body.decision}


@router.get("/referrals", summary="Your agency's referral queue, in your pseudonyms (audited)")
def get_referrals(hub: HubDep, who: AgencyOrAdmin, partner: str | None = None,
                  status: Literal["pending", "accepted", "done", "rejected"] | None = None,
                  area: Annotated[str | None, Query(pattern=r"^[0-9]{2,6}(-[0-9]{2})?$")] = None,
                  offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> dict[str, Any]:
    queue_of = who.partner if who.role == "partner" else partner
    if not queue_of:
        raise HTTPException(400, "name the agency's partner id (partner=...)")
    queue = agency_queue(hub, queue_of, status=status, area=area, offset=offset, limit=limit, actor=actor_of(who))
    return {"partner": queue_of, "referrals": queue.rows, "total": queue.total, "overdue": queue.overdue,
            "next_offset": queue.next_offset}


@router.post("/referrals/{referral_id}/status", summary="Move one of your referrals on (it only moves forward)")
def post_referral_status(referral_id: Annotated[int, Field(ge=1, le=2**62)], body: MoveIn, hub: HubDep,
                         who: AgencyOrAdmin) -> dict[str, Any]:
    try:
        return move_referral(hub, referral_id, body.status, partner=who.partner if who.role == "partner" else None,
                             note=body.note, actor=actor_of(who))
    except ReferralNotFound:
        raise HTTPException(404, "no such referral in your queue") from None
