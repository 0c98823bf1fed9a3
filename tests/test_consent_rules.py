"""Consent rules on the linked partner files: who may grant, the lifecycle, and the decision each rule
gives, asked both ways (one record, and the whole population in bulk)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select

from consent import registry, stewards
from consent.decisions import Ground, Question, Recipient, decide_bulk, decide_one, load_standing
from consent.population import load_population, record_subject
from consent.registry import Grantor, NewConsent
from consent.subjects import citizen_ref, community, household, person
from consent.vocabulary import ConsentError
from helpers import ACTOR
from hub.db.schema import consent_receipts, id_redirects, link_runs

SOMCHAI, CHANPEN, SOMPORN, PHAKIN = "1101400123451", "3401001234821", "3401001234562", "1401001234876"
VILLAGE, TAMBON = "340101-04", "340101"
T0 = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
MSDHS = Recipient("msdhs", "agency")
STEWARDS_OF_VILLAGE = Recipient(community=VILLAGE)


@pytest.fixture
def hub(linked_hub):
    """The linked hub with an empty consent registry."""
    with linked_hub.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM consent_receipts")
        conn.exec_driver_sql("DELETE FROM consents")
    return linked_hub


def steward(hub, code: str) -> int:
    return stewards.register(hub, code, name="บุญมี ศรีวงศ์", role="village_head", appointed_by="คำสั่งอำเภอ 12/2566",
                             actor=ACTOR)


def grant_community(hub, code: str, *, status="given", purposes=("community_planning",), recipients=("community",),
                    at=T0, expires=None) -> str:
    stewards_present = Grantor("stewards", (steward(hub, code),))
    new = NewConsent(community(code), status, list(purposes), list(recipients), stewards_present,
                     {"meeting": "ประชุมประชาคม"}, expires_at=expires)
    return registry.record(hub, new, actor=ACTOR, now=at)[0]


def person_decides(hub, cid: str, status: str, *, purposes=("community_planning",), recipients=("community",), at=T0,
                   sensitive=False, objection=False, born=dt.date(1970, 1, 1), expires=None) -> str:
    new = NewConsent(person(hub.keyring, citizen_id=cid), status, list(purposes), list(recipients), Grantor("self"),
                     {"form": "ค.1"}, sensitive=sensitive, objection=objection, expires_at=expires)
    return registry.record(hub, new, actor=ACTOR, now=at, born=born)[0]


def ask(hub, cid: str, question: Question, at=T0):
    """The decision for the person's record, asked singly and in bulk (which must agree)."""
    with hub.engine.connect() as conn:
        subject = record_subject(conn, citizen_ref(hub.keyring, cid))
        single = decide_one(conn, subject, question, at)
        population = load_population(conn)
        bulk = decide_bulk(population, load_standing(conn), question, at)
    rows = population.frame.index[population.frame["person_id"] == subject.person_id]
    assert {bool(bulk.allowed[i]) for i in rows} == {single.allowed}
    assert {bulk.basis_name(int(bulk.basis[i])) for i in rows} == {single.basis}
    return single


def test_nothing_recorded_means_no(hub):
    decision = ask(hub, SOMCHAI, Question("community_planning", STEWARDS_OF_VILLAGE))
    assert (decision.allowed, decision.reason) == (False, "no consent or lawful basis")


def test_a_community_grant_returns_its_households_to_its_own_stewards_only(hub):
    grant_community(hub, VILLAGE)
    assert ask(hub, SOMCHAI, Question("community_planning", STEWARDS_OF_VILLAGE)).basis == "community_consent"
    assert ask(hub, SOMPORN, Question("community_planning", Recipient(community=TAMBON))).allowed is False
    other = ask(hub, SOMCHAI, Question("community_planning", Recipient(community="340105")))
    assert (other.allowed, other.reason) == (False, "outside the recipient's community")
    assert ask(hub, SOMCHAI, Question("welfare_referral", STEWARDS_OF_VILLAGE)).allowed is False
    assert ask(hub, SOMCHAI, Question("community_planning", MSDHS)).allowed is False


def test_an_individual_opt_out_beats_the_community_grant_even_an_older_one(hub):
    grant_community(hub, VILLAGE, at=T0 + dt.timedelta(days=30))
    person_decides(hub, CHANPEN, "refused", at=T0)
    decision = ask(hub, CHANPEN, Question("community_planning", STEWARDS_OF_VILLAGE), at=T0 + dt.timedelta(days=31))
    assert (decision.allowed, decision.reason) == (False, "withdrawn or refused")
    assert ask(hub, SOMCHAI, Question("community_planning", STEWARDS_OF_VILLAGE), T0 + dt.timedelta(days=31)).allowed


def test_the_latest_decision_at_the_most_specific_level_stands(hub):
    # a tambon grants, its village refuses: the village's households are not returned
    grant_community(hub, TAMBON)
    grant_community(hub, VILLAGE, status="refused", at=T0 - dt.timedelta(days=1))
    assert ask(hub, SOMCHAI, Question("community_planning", Recipient(community=TAMBON))).allowed is False
    # a household refuses, one member grants later: that member is allowed, the others not
    with hub.engine.connect() as conn:
        hid = record_subject(conn, citizen_ref(hub.keyring, SOMCHAI)).household_id
    registry.record(hub, NewConsent(household(hid), "refused", ["welfare_referral"], ["type:agency"],
                                    Grantor("household"), {"form": "paper"}), actor=ACTOR, now=T0)
    person_decides(hub, SOMCHAI, "given", purposes=["welfare_referral"], recipients=["partner:msdhs"],
                   at=T0 + dt.timedelta(hours=1))
    later = T0 + dt.timedelta(hours=2)
    assert ask(hub, SOMCHAI, Question("welfare_referral", MSDHS), later).basis == "consent"
    assert ask(hub, CHANPEN, Question("welfare_referral", MSDHS), later).reason == "withdrawn or refused"
    # the person changes their mind: the newest of their own decisions stands
    person_decides(hub, SOMCHAI, "refused", purposes=["welfare_referral"], recipients=["*"], at=later)
    assert ask(hub, SOMCHAI, Question("welfare_referral", MSDHS), later).allowed is False


def test_sensitive_data_needs_explicit_consent_or_a_basis_that_covers_it(hub):
    grant_community(hub, VILLAGE, recipients=["community", "partner:msdhs"], purposes=["welfare_referral"])
    plain, sensitive = Question("welfare_referral", MSDHS), Question("welfare_referral", MSDHS, sensitive=True)
    assert ask(hub, SOMCHAI, plain).allowed
    assert ask(hub, SOMCHAI, sensitive).reason == "sensitive data needs explicit consent"
    person_decides(hub, SOMCHAI, "given", purposes=["welfare_referral"], recipients=["partner:msdhs"], sensitive=True)
    assert ask(hub, SOMCHAI, sensitive).basis == "consent"
    public_task = Question("welfare_referral", MSDHS, sensitive=True, ground=Ground("public_task"))
    assert ask(hub, CHANPEN, public_task).reason == "sensitive data needs explicit consent"
    covered = Question("welfare_referral", MSDHS, sensitive=True, ground=Ground("legal_obligation", True))
    assert ask(hub, CHANPEN, covered).basis == "legal_obligation"
    with pytest.raises(ConsentError, match="cannot cover sensitive"):
        Ground("legitimate_interest", covers_sensitive=True)


def test_an_objection_stops_public_task_and_research_but_not_a_legal_obligation(hub):
    public_task = Question("research_statistics", MSDHS, ground=Ground("public_task"))
    assert ask(hub, SOMPORN, public_task).basis == "public_task"
    person_decides(hub, SOMPORN, "refused", purposes=["research_statistics"], recipients=["partner:msdhs"])
    assert ask(hub, SOMPORN, public_task).basis == "public_task"  # a refusal of consent leaves other bases
    person_decides(hub, SOMPORN, "refused", purposes=["research_statistics"], objection=True,
                   at=T0 + dt.timedelta(minutes=1))
    at = T0 + dt.timedelta(minutes=2)
    assert ask(hub, SOMPORN, public_task, at).reason == "objected"
    legal = Question("research_statistics", MSDHS, ground=Ground("legal_obligation"))
    assert ask(hub, SOMPORN, legal, at).basis == "legal_obligation"
    community_stewards = Question("community_planning", STEWARDS_OF_VILLAGE, ground=Ground("public_task"))
    assert ask(hub, SOMPORN, community_stewards, at).allowed is False  # a contract basis is a partner's


def test_expiry_withdrawal_and_requests_follow_the_lifecycle(hub):
    ends = T0 + dt.timedelta(days=10)
    consent_id = grant_community(hub, VILLAGE, expires=ends)
    question = Question("community_planning", STEWARDS_OF_VILLAGE)
    assert ask(hub, SOMCHAI, question, ends - dt.timedelta(seconds=1)).allowed
    assert ask(hub, SOMCHAI, question, ends).allowed is False  # expired at once, before any sweep
    assert registry.expire_due(hub, actor=ACTOR, now=ends) == [consent_id]
    assert registry.expire_due(hub, actor=ACTOR, now=ends) == []
    with pytest.raises(ConsentError, match="is expired"):
        registry.withdraw(hub, consent_id, actor=ACTOR, reason="too late", now=ends)

    pending = grant_community(hub, VILLAGE, status="requested", at=ends)
    assert ask(hub, SOMCHAI, question, ends).allowed is False
    with pytest.raises(ConsentError, match="needs who gives it"):
        registry.change(hub, pending, "given", actor=ACTOR, reason="meeting", now=ends)
    registry.change(hub, pending, "given", actor=ACTOR, reason="meeting of 3 March",
                    grantor=Grantor("stewards", (steward(hub, VILLAGE),)), now=ends)
    assert ask(hub, SOMCHAI, question, ends).allowed
    registry.withdraw(hub, pending, actor=ACTOR, reason="the village withdrew at its meeting", now=ends)
    assert ask(hub, SOMCHAI, question, ends).allowed is False
    with pytest.raises(ConsentError, match="is withdrawn"):
        registry.withdraw(hub, pending, actor=ACTOR, reason="again", now=ends)
    with hub.engine.connect() as conn:
        statuses = conn.execute(select(consent_receipts.c.status).where(consent_receipts.c.consent_id == pending)
                                .order_by(consent_receipts.c.issued_at)).scalars().all()
    assert sorted(statuses) == ["given", "withdrawn"]


def test_a_decision_about_a_retired_person_id_follows_it_to_the_current_one(hub):
    with hub.engine.begin() as conn:
        current = record_subject(conn, citizen_ref(hub.keyring, SOMPORN)).person_id
        run_id = conn.execute(select(link_runs.c.id).limit(1)).scalar_one()
        conn.execute(insert(id_redirects).values(kind="person", retired_id="ab" * 16, current_id=current,
                                                 run_id=run_id))
    registry.record(hub, NewConsent(person(hub.keyring, person_id="ab" * 16), "given", ["welfare_referral"],
                                    ["partner:msdhs"], Grantor("self"), {"form": "ค.1"}),
                    actor=ACTOR, now=T0, born=dt.date(1967, 2, 14))
    with hub.engine.connect() as conn:
        bulk = decide_bulk(load_population(conn), load_standing(conn), Question("welfare_referral", MSDHS), T0)
    assert bulk.allowed.sum() >= 1
    assert ask(hub, SOMPORN, Question("welfare_referral", MSDHS)).basis == "consent"
    with hub.engine.begin() as conn:
        conn.execute(id_redirects.delete())


def test_who_may_decide(hub):
    child = person(hub.keyring, citizen_id=PHAKIN)
    grant = NewConsent(child, "given", ["education_support"], ["type:agency"], Grantor("self"), {"form": "ค.1"})
    with pytest.raises(ConsentError, match="minor"):
        registry.record(hub, grant, actor=ACTOR, now=T0)
    mother = Grantor("guardian", guardian_ref=citizen_ref(hub.keyring, CHANPEN), relation="mother")
    registry.record(hub, NewConsent(child, "given", ["education_support"], ["type:agency"], mother, {"form": "ค.1"}),
                    actor=ACTOR, now=T0)
    registry.record(hub, NewConsent(child, "refused", ["research_statistics"], ["*"], Grantor("self"),
                                    {"said": "at school"}), actor=ACTOR, now=T0)  # a minor's no is honoured
    with pytest.raises(ConsentError, match="of age"):
        registry.record(hub, NewConsent(person(hub.keyring, citizen_id=SOMCHAI), "given", ["welfare_referral"],
                                        ["partner:msdhs"], mother, {"form": "ค.1"}), actor=ACTOR, now=T0)
    adult_id, _ = registry.record(hub, NewConsent(person(hub.keyring, citizen_id=SOMCHAI), "given",
                                                  ["welfare_referral"], ["partner:msdhs"], Grantor("self"),
                                                  {"form": "ค.1"}), actor=ACTOR, now=T0)
    with hub.engine.connect() as conn:
        assert registry.get_consent(conn, adult_id).grantor["age_checked_from"] == "birth year on record"

    other_village = steward(hub, "340101-05")
    for grantor, evidence, message in [
        (Grantor("stewards", ()), {"meeting": "m"}, "registered data stewards"),
        (Grantor("stewards", (other_village,)), {"meeting": "m"}, "not of 340101-04"),
        (Grantor("stewards", (steward(hub, VILLAGE),)), {"note": "no meeting"}, "meeting or document"),
    ]:
        with pytest.raises(ConsentError, match=message):
            registry.record(hub, NewConsent(community(VILLAGE), "given", ["community_planning"], ["community"],
                                            grantor, evidence), actor=ACTOR, now=T0)
    ended = steward(hub, VILLAGE)
    stewards.end(hub, ended, reason="term ended", actor=ACTOR)
    with pytest.raises(ConsentError, match="not an active"):
        grant = NewConsent(community(VILLAGE), "given", ["community_planning"], ["community"],
                           Grantor("stewards", (ended,)), {"meeting": "m"})
        registry.record(hub, grant, actor=ACTOR, now=T0)
    for bad, message in [(["no_such_purpose"], "unknown purpose"), (["community_planning"], "recipient")]:
        with pytest.raises(ConsentError, match=message):
            registry.record(hub, NewConsent(community(VILLAGE), "given", bad, ["partner:Bad Name"],
                                            Grantor("stewards", (steward(hub, VILLAGE),)), {"meeting": "m"}),
                            actor=ACTOR, now=T0)
    with pytest.raises(ConsentError, match="not a known DOPA code"):
        community("999999-01")


def test_stewards_names_are_encrypted_and_listing_them_is_audited(hub):
    steward_id = steward(hub, "340105-01")
    listed = stewards.list_stewards(hub, "340105-01", actor=ACTOR)
    assert [(s.id, s.name, s.active) for s in listed] == [(steward_id, "บุญมี ศรีวงศ์", True)]
    with hub.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT name_enc FROM community_stewards").scalars().all()
        last = conn.exec_driver_sql("SELECT action, details FROM audit_events ORDER BY seq DESC LIMIT 1").one()
    assert all("บุญมี".encode() not in bytes(value) for value in raw)
    assert last.action == "consent.stewards_read" and '"stewards":1' in last.details
