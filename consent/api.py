"""Consent and data-subject rights over HTTP (``/api/v1/consent``, ``/api/v1/rights``).

Anyone may fetch the receipt public key and verify a receipt. A community's steward (a ``community``
token bound to their village or tambon) records their community's decisions, records a resident's
opt-out and reads the data-return view. The operator (``admin``) records any decision and handles
data-subject requests. A decision or person outside the caller's reach answers 404, as if it did not
exist.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from consent import clock, registry, rights, stewards, subjects
from consent.data_return import read_view
from consent.decisions import Ground, Question, Recipient, decide_one
from consent.events import ConsentChecked
from consent.population import record_subject
from consent.receipts import public_key, verify_receipt
from consent.registry import Grantor, NewConsent
from consent.subjects import Subject, contains
from consent.vocabulary import ConsentError
from hub.api.auth import Admin, AdminOrSteward, CallerDep, HubDep, Steward, actor_of
from hub.context import Hub
from hub.signing import SignatureError
from hub.tokens import Caller

router = APIRouter(prefix="/consent", tags=["consent"])
rights_router = APIRouter(prefix="/rights", tags=["data-subject rights"])


RowId = Annotated[int, Field(ge=1, le=2**62)]  # a database id: larger numbers are refused, not overflowed


class SubjectIn(BaseModel):
    """Exactly one of these names the subject."""

    citizen_id: str | None = Field(None, description="13 digits; used to compute the keyed reference, never stored")
    person_id: str | None = None
    household_id: str | None = None
    community: str | None = Field(None, description="village TTTTTT-MM or tambon TTTTTT")

    def resolve(self, hub: Hub) -> Subject:
        given = [v for v in (self.citizen_id, self.person_id, self.household_id, self.community) if v is not None]
        if len(given) != 1:
            raise HTTPException(422, "name exactly one of citizen_id, person_id, household_id, community")
        if self.citizen_id is not None or self.person_id is not None:
            return subjects.person(hub.keyring, citizen_id=self.citizen_id, person_id=self.person_id)
        if self.household_id is not None:
            return subjects.household(self.household_id)
        return subjects.community(self.community)


class DecisionIn(BaseModel):
    subject: SubjectIn
    status: Literal["given", "refused", "requested"] = "given"
    purposes: list[str]
    recipients: list[str]
    evidence: dict[str, Any] = Field(..., description="how it was collected: form, meeting, document, method")
    stewards: list[RowId] = Field(default_factory=list, description="deciding stewards (community subjects)")
    guardian_citizen_id: str | None = None
    relation: str | None = None
    sensitive: bool = False
    objection: bool = False
    born: dt.date | None = Field(None, description="birth date on the ID card, for the age check")
    expires: dt.datetime | None = None


class CommunityDecisionIn(BaseModel):
    status: Literal["given", "refused", "requested"] = "given"
    purposes: list[str]
    recipients: list[str] = ["community"]
    meeting: str | None = None
    document: str | None = None
    co_stewards: list[RowId] = Field(default_factory=list, description="other stewards who decided with you")
    expires: dt.datetime | None = None


class OptOutIn(BaseModel):
    citizen_id: str | None = None
    person_id: str | None = None
    purposes: list[str]
    recipients: list[str] = ["*"]
    evidence: dict[str, Any] = Field(..., description="the person's own request: form, date, who took it")


class StewardIn(BaseModel):
    community: str
    name: str
    role: str
    appointed_by: str


class ReasonIn(BaseModel):
    reason: str


class CheckIn(BaseModel):
    subject: SubjectIn
    purpose: str
    partner: str | None = None
    partner_type: str | None = None
    community: str | None = None
    sensitive: bool = False
    basis: str | None = None
    covers_sensitive: bool = False


class Recorded(BaseModel):
    consent_id: str
    receipt: str


def _recorded(result: tuple[str, str]) -> Recorded:
    return Recorded(consent_id=result[0], receipt=result[1])


def _grantor(hub: Hub, subject: Subject, body: DecisionIn) -> Grantor:
    if subject.kind == "community":
        return Grantor("stewards", tuple(body.stewards))
    if subject.kind == "household":
        return Grantor("household")
    if body.guardian_citizen_id:
        return Grantor("guardian", guardian_ref=subjects.citizen_ref(hub.keyring, body.guardian_citizen_id),
                       relation=body.relation)
    return Grantor("self")


def _expiry(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=clock.THAI))


# ------------------------------------------------------------------------------------------------ public


@router.get("/public-key", response_class=PlainTextResponse, summary="The key that verifies receipts (PEM)")
def get_public_key(hub: HubDep) -> str:
    return public_key(hub)


@router.post("/verify", summary="Verify a consent receipt")
def post_verify(body: dict[str, str], hub: HubDep) -> dict[str, Any]:
    try:
        return {"valid": True, "claims": verify_receipt(body.get("receipt", ""), public_key(hub))}
    except SignatureError as exc:
        raise HTTPException(422, f"receipt does not verify: {exc}") from None


@router.get("/purposes", summary="Purposes a consent may name")
def get_purposes(hub: HubDep) -> dict[str, str]:
    return hub.purposes


# ------------------------------------------------------------------------------------------------ admin


@router.post("/stewards", status_code=201, summary="Register a community's data steward")
def post_steward(body: StewardIn, hub: HubDep, who: Admin) -> dict:
    return {"id": stewards.register(hub, body.community, name=body.name, role=body.role,
                                    appointed_by=body.appointed_by, actor=actor_of(who))}


@router.post("/decisions", status_code=201, summary="Record any decision (the operator's desk)")
def post_decision(body: DecisionIn, hub: HubDep, who: Admin) -> Recorded:
    subject = body.subject.resolve(hub)
    new = NewConsent(subject, body.status, body.purposes, body.recipients, _grantor(hub, subject, body),
                     body.evidence, body.sensitive, body.objection, _expiry(body.expires))
    return _recorded(registry.record(hub, new, actor=actor_of(who), born=body.born))


@router.get("/decisions", summary="Decisions, newest first (keyed subject references only; audited)")
def get_decisions(hub: HubDep, who: CallerDep, citizen_id: str | None = None, person_id: str | None = None,
                  household_id: str | None = None, community: str | None = None, status: str | None = None,
                  ) -> list[dict[str, Any]]:
    if who.role == "community":
        community, citizen_id, person_id, household_id = who.area, None, None, None
    elif who.role != "admin":
        raise HTTPException(403, "this needs the role admin or community")
    named = SubjectIn(citizen_id=citizen_id, person_id=person_id, household_id=household_id, community=community)
    ref = named.resolve(hub).ref if any(v is not None for v in named.model_dump().values()) else None
    at = clock.now()
    rows = registry.read_consents(hub, actor=actor_of(who), subject_ref=ref, community=community, status=status, at=at)
    return [{"id": r.id, "subject_kind": r.subject_kind, "subject_ref": r.subject_ref,
             "status": registry.effective_status(r, at), "purposes": r.purposes, "recipients": r.recipients,
             "grantor": r.grantor, "evidence": r.evidence, "decided_at": clock.utc(r.decided_at).isoformat(),
             "expires_at": clock.utc(r.expires_at).isoformat() if r.expires_at else None} for r in rows]


@router.post("/check", summary="May this person's record appear for this recipient and purpose now? (audited)")
def post_check(body: CheckIn, hub: HubDep, who: Admin) -> dict[str, Any]:
    subject = body.subject.resolve(hub)
    recipient = Recipient(community=body.community) if body.community else Recipient(body.partner, body.partner_type)
    question = Question(body.purpose, recipient, body.sensitive,
                        Ground(body.basis, body.covers_sensitive) if body.basis else None)
    with hub.engine.begin() as conn:
        found = record_subject(conn, subject.ref) if subject.kind == "person" else None
        if found is None:
            raise HTTPException(404, "no such person")
        decision = decide_one(conn, found, question, clock.now())
        hub.audit.append(conn, ConsentChecked(resource=f"person:{subject.ref}", subject_ref=subject.ref,
                                              purpose=body.purpose, recipient=str(recipient),
                                              allowed=decision.allowed, basis=decision.basis), actor=actor_of(who))
    return {"allowed": decision.allowed, "basis": decision.basis, "reason": decision.reason}


# ------------------------------------------------------------------------------------------------ community


@router.post("/community/decisions", status_code=201, summary="Your community's decision, made at its meeting")
def post_community_decision(body: CommunityDecisionIn, hub: HubDep,
                            who: Steward) -> Recorded:
    evidence = {k: v for k, v in (("meeting", body.meeting), ("document", body.document)) if v}
    new = NewConsent(subjects.community(who.area), body.status, body.purposes, body.recipients,
                     Grantor("stewards", (who.steward, *body.co_stewards)), {"method": "community meeting", **evidence},
                     expires_at=_expiry(body.expires))
    return _recorded(registry.record(hub, new, actor=actor_of(who)))


@router.post("/opt-outs", status_code=201, summary="Record a resident's opt-out, at their request")
def post_opt_out(body: OptOutIn, hub: HubDep, who: AdminOrSteward
                 ) -> Recorded:
    subject = subjects.person(hub.keyring, citizen_id=body.citizen_id, person_id=body.person_id)
    if who.role == "community":
        with hub.engine.connect() as conn:
            found = record_subject(conn, subject.ref)
        if found is None or not contains(who.area, found.tambon, found.moo):
            raise HTTPException(404, "no such person in your community")
    new = NewConsent(subject, "refused", body.purposes, body.recipients, Grantor("self"),
                     {"method": "the person's own request, taken by a steward", **body.evidence})
    return _recorded(registry.record(hub, new, actor=actor_of(who)))


@router.get("/data-return", summary="Your community's households, identified where consent holds (audited)")
def get_data_return(hub: HubDep, who: Steward) -> dict[str, Any]:
    view = read_view(hub, who.area, steward_id=who.steward, actor=actor_of(who))
    return {"community": view.community, "counted_only": {"households": view.counted_only_households,
                                                          "persons": view.counted_only_persons},
            "households": [{"household_id": h.household_id, "village": h.village, "house_no": h.house_no,
                            "consent_basis": h.consent_basis, "facts": h.sources,
                            "members": [m.__dict__ for m in h.members]} for h in view.households]}


# ------------------------------------------------------------------------------------------------ either


def _decision_for(hub: Hub, who: Caller, consent_id: str) -> Any:
    """The decision if the caller may act on it: any for the operator, its own community's for a
    steward; 404 otherwise (whether or not it exists)."""
    with hub.engine.connect() as conn:
        try:
            row = registry.get_consent(conn, consent_id)
        except ConsentError:
            row = None
    if row is None or (who.role != "admin" and not (who.role == "community" and row.subject_ref == who.area)):
        raise HTTPException(404, "no such decision")
    return row


@router.post("/decisions/{consent_id}/withdraw", summary="Withdraw a given consent; the next read honours it")
def post_withdraw(consent_id: str, body: ReasonIn, hub: HubDep,
                  who: AdminOrSteward) -> dict[str, str]:
    _decision_for(hub, who, consent_id)
    return {"receipt": registry.withdraw(hub, consent_id, actor=actor_of(who), reason=body.reason)}


@router.get("/decisions/{consent_id}/receipt", summary="The latest signed receipt of a decision (audited)")
def get_receipt(consent_id: str, hub: HubDep, who: AdminOrSteward
                ) -> dict[str, str]:
    _decision_for(hub, who, consent_id)
    token = registry.read_receipt(hub, consent_id, actor=actor_of(who))
    if token is None:
        raise HTTPException(404, "no receipt yet (a pending request has none)")
    return {"receipt": token}


# ------------------------------------------------------------------------------------------------ rights


class PersonIn(BaseModel):
    citizen_id: str | None = None
    person_id: str | None = None


class ErasureIn(PersonIn):
    basis: str


class RectificationIn(PersonIn):
    field: str
    correct: str
    evidence: str


def _person(hub: Hub, body: PersonIn) -> Subject:
    return subjects.person(hub.keyring, citizen_id=body.citizen_id, person_id=body.person_id)


@rights_router.post("/access", summary="Everything held about a person (audited)")
def post_access(body: PersonIn, hub: HubDep, who: Admin) -> dict:
    return rights.access(hub, _person(hub, body), actor=actor_of(who))


@rights_router.post("/erase", summary="Erase a person by destroying their data keys")
def post_erase(body: ErasureIn, hub: HubDep, who: Admin) -> dict:
    return rights.erase(hub, _person(hub, body), basis=body.basis, actor=actor_of(who)).__dict__


@rights_router.post("/rectify", status_code=201, summary="Record a correction for review")
def post_rectify(body: RectificationIn, hub: HubDep, who: Admin) -> dict:
    return {"request_id": rights.rectify(hub, _person(hub, body), field=body.field, correct=body.correct,
                                         evidence=body.evidence, actor=actor_of(who))}
