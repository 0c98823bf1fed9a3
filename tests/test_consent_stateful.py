"""Stateful property test of consent: grants, opt-outs, objections, withdrawals, requests, expiries and
the passing of time interleave for thousands of steps over the partner files' linked population; after
every read (the single-record decision, the bulk decision, the community's data-return view) the
answer must be exactly what an independent plain model of the rules says at that moment."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

from consent import registry, stewards
from consent.data_return import read_view
from consent.decisions import Ground, Question, Recipient, decide_bulk, decide_one, load_standing
from consent.population import load_population
from consent.registry import Grantor, NewConsent
from consent.subjects import Subject, citizen_ref, village_code
from consent.vocabulary import OBJECTABLE
from helpers import ACTOR
from hub.context import Hub
from hub.thai.citizen_id import with_check_digit

START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
PURPOSES = ["community_planning", "welfare_referral"]
RECIPIENT_TOKENS = ["community", "partner:msdhs", "type:agency", "partner:cmu", "type:university"]
PARTNERS = [Recipient("msdhs", "agency"), Recipient("cmu", "university")]
GROUNDS = [None, Ground("public_task"), Ground("legal_obligation", covers_sensitive=True),
           Ground("research_statistics", covers_sensitive=True)]
ADULT, MINOR = dt.date(1970, 3, 1), dt.date(2015, 3, 1)


@pytest.fixture(scope="module")
def world(linked_hub):
    """The linked population, with one steward per community (each example starts from an empty registry)."""
    with linked_hub.engine.connect() as conn:
        population = load_population(conn)
    frame = population.frame
    villages = {village_code(t, _moo(m)) for t, m in zip(frame["tambon"], frame["moo"])} - {None}
    steward_of = {c: stewards.register(linked_hub, c, name="ผู้ใหญ่บ้าน", role="village_head", appointed_by="คำสั่ง",
                                       actor=ACTOR) for c in sorted(villages | set(frame["tambon"]))}
    return linked_hub, population, steward_of


def _moo(value) -> int | None:
    return None if pd.isna(value) else int(value)


@dataclass
class Decided:
    """The model's copy of one decision."""

    id: str
    level: int
    ref: str
    status: str
    purposes: list[str]
    recipients: list[str]
    sensitive: bool
    objection: bool
    decided_at: dt.datetime
    expires_at: dt.datetime | None
    order: int


@dataclass
class Model:
    """The rules of consent written plainly, with no arrays and no keys."""

    decisions: list[Decided] = field(default_factory=list)
    order: int = 0

    def next_order(self) -> int:
        self.order += 1
        return self.order

    def allows(self, levels: list[set[str]], inside: bool, q: Question, now: dt.datetime) -> tuple[bool, str | None]:
        if not inside:
            return False, None
        tokens = {"*", "community"} if q.recipient.community else {
            "*", f"partner:{q.recipient.partner}", f"type:{q.recipient.partner_type}"}

        def stands(d: Decided) -> bool:
            if d.status not in ("given", "refused", "withdrawn"):
                return False
            if d.status == "given" and d.expires_at is not None and d.expires_at <= now:
                return False
            reader = q.recipient.community
            if d.status == "given" and d.level >= 2 and reader and reader not in (d.ref, d.ref + reader[6:]):
                return False  # a community's grant reaches its own stewards and its villages', no wider
            return q.purpose in d.purposes and bool(tokens & set(d.recipients))

        deciding, level = None, None
        for i, refs in enumerate(levels):
            standing = [d for d in self.decisions if d.ref in refs and stands(d)]
            if standing:
                deciding, level = max(standing, key=lambda d: (d.decided_at, d.order)), i
                break
        explicit = level == 0 and deciding.sensitive if deciding is not None else False
        if deciding is not None and deciding.status == "given" and (not q.sensitive or explicit):
            return True, "consent" if level <= 1 else "community_consent"
        ground = q.ground
        if ground is None or q.recipient.community:
            return False, None
        if q.sensitive and not ground.covers_sensitive:
            return False, None
        objected = deciding is not None and level == 0 and deciding.objection
        if objected and ground.basis in OBJECTABLE:
            return False, None
        return True, ground.basis


def _machine(hub: Hub, population, steward_of: dict[str, int]):
    frame = population.frame
    records = list(frame.itertuples(index=False))
    cids_of: dict[str, set[str]] = {}
    for r in records:
        cids_of.setdefault(r.person_id, set()).update({r.cid} if isinstance(r.cid, str) else set())
    persons = sorted(cids_of)
    households = sorted(set(frame["household_id"]))
    communities = sorted(steward_of)
    guardian = citizen_ref(hub.keyring, with_check_digit("310140012345"))

    def levels_of(r) -> list[set[str]]:
        village = village_code(r.tambon, _moo(r.moo))
        return [{"pid:" + r.person_id, *cids_of[r.person_id]}, {"hid:" + r.household_id}, {village}, {r.tambon}]

    def inside(r, q: Question) -> bool:
        c = q.recipient.community
        return c is None or c == r.tambon or c == village_code(r.tambon, _moo(r.moo))

    questions = st.builds(
        Question, st.sampled_from(PURPOSES),
        st.one_of(st.sampled_from(PARTNERS), st.sampled_from(communities).map(lambda c: Recipient(community=c))),
        st.booleans(), st.sampled_from(GROUNDS))
    purposes = st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=2, unique=True)
    recipients = st.lists(st.sampled_from(RECIPIENT_TOKENS), min_size=1, max_size=3, unique=True)
    expiries = st.sampled_from([None, dt.timedelta(hours=2), dt.timedelta(days=3), dt.timedelta(days=90)])

    class ConsentMachine(RuleBasedStateMachine):
        @initialize()
        def empty_registry(self):
            with hub.engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM consent_receipts")
                conn.exec_driver_sql("DELETE FROM consents")
            self.model = Model()
            self.now = START
            self.swept: set[str] = set()

        def _record(self, subject: Subject, level: int, status: str, purposes, recipients, grantor: Grantor, *,
                    sensitive=False, objection=False, expires=None, born=None):
            expires_at = self.now + expires if expires else None
            evidence = {"method": "test", "meeting": "village meeting"}
            consent_id, _ = registry.record(hub, NewConsent(
                subject, status, purposes, recipients, grantor, evidence, sensitive=sensitive, objection=objection,
                expires_at=expires_at), actor=ACTOR, now=self.now, born=born)
            self.model.decisions.append(Decided(
                consent_id, level, subject.ref, status, sorted(set(purposes)), list(recipients), sensitive,
                objection, self.now, expires_at, self.model.next_order()))

        def _person(self, person_id: str, by_citizen_id: bool) -> Subject:
            cids = sorted(cids_of[person_id])
            return Subject("person", cids[0] if by_citizen_id and cids else "pid:" + person_id)

        @rule(person=st.sampled_from(persons), by_cid=st.booleans(), minor=st.booleans(), purposes=purposes,
              recipients=recipients, sensitive=st.booleans(), expires=expiries)
        def person_grants(self, person, by_cid, minor, purposes, recipients, sensitive, expires):
            grantor = Grantor("guardian", guardian_ref=guardian, relation="mother") if minor else Grantor("self")
            self._record(self._person(person, by_cid), 0, "given", purposes, recipients, grantor,
                         sensitive=sensitive, expires=expires, born=MINOR if minor else ADULT)

        @rule(person=st.sampled_from(persons), by_cid=st.booleans(), purposes=purposes,
              recipients=st.one_of(recipients, st.just(["*"])))
        def person_opts_out(self, person, by_cid, purposes, recipients):
            self._record(self._person(person, by_cid), 0, "refused", purposes, recipients, Grantor("self"))

        @rule(person=st.sampled_from(persons), by_cid=st.booleans(), purposes=purposes)
        def person_objects(self, person, by_cid, purposes):
            self._record(self._person(person, by_cid), 0, "refused", purposes, ["*"], Grantor("self"), objection=True)

        @rule(household=st.sampled_from(households), given=st.booleans(), purposes=purposes, recipients=recipients,
              expires=expiries)
        def household_decides(self, household, given, purposes, recipients, expires):
            self._record(Subject("household", "hid:" + household), 1, "given" if given else "refused", purposes,
                         recipients, Grantor("household"), expires=expires if given else None)

        @rule(community=st.sampled_from(communities), purposes=purposes, recipients=recipients, expires=expiries,
              status=st.sampled_from(["given", "given", "refused", "requested"]))
        def community_decides(self, community, purposes, recipients, expires, status):
            level = 2 if "-" in community else 3
            grantor = Grantor("stewards", stewards=(steward_of[community],))
            self._record(Subject("community", community), level, status, purposes, recipients, grantor,
                         expires=expires if status == "given" else None)

        def _live(self, status: str) -> list[Decided]:
            return [d for d in self.model.decisions if d.status == status
                    and not (status == "given" and d.expires_at is not None and d.expires_at <= self.now)]

        @precondition(lambda self: self._live("given"))
        @rule(data=st.data())
        def withdraw(self, data):
            d = data.draw(st.sampled_from(self._live("given")))
            registry.withdraw(hub, d.id, actor=ACTOR, reason="asked at the desk", now=self.now)
            d.status, d.decided_at, d.order = "withdrawn", self.now, self.model.next_order()

        @precondition(lambda self: self._live("requested"))
        @rule(data=st.data())
        def stewards_answer(self, data):
            d = data.draw(st.sampled_from(self._live("requested")))
            registry.change(hub, d.id, "given", actor=ACTOR, reason="village meeting",
                            grantor=Grantor("stewards", stewards=(steward_of[d.ref],)), now=self.now)
            d.status, d.decided_at, d.order = "given", self.now, self.model.next_order()

        @rule(step=st.sampled_from([dt.timedelta(minutes=30), dt.timedelta(days=1), dt.timedelta(days=40)]))
        def time_passes(self, step):
            self.now += step

        @rule()
        def expiry_sweep(self):
            expired = set(registry.expire_due(hub, actor=ACTOR, now=self.now))
            for d in self.model.decisions:
                if d.id in expired:
                    d.status = "expired"
            assert expired == {d.id for d in self.model.decisions if d.status == "expired"} - self.swept
            self.swept |= expired

        @rule(q=questions, sample=st.lists(st.integers(0, len(records) - 1), min_size=1, max_size=4))
        def read(self, q, sample):
            with hub.engine.connect() as conn:
                bulk = decide_bulk(population, load_standing(conn), q, self.now)
                singles = {i: decide_one(conn, population.subject(i), q, self.now) for i in sample}
            for i, r in enumerate(records):
                expected, basis = self.model.allows(levels_of(r), inside(r, q), q, self.now)
                assert bool(bulk.allowed[i]) == expected, (i, q, "bulk")
                if expected:
                    assert bulk.basis_name(int(bulk.basis[i])) == basis
                if i in singles:
                    assert singles[i].allowed == expected, (i, q, "single")
                    assert singles[i].basis == (basis if expected else None)

        @rule(community=st.sampled_from(communities))
        def stewards_read(self, community):
            view = read_view(hub, community, steward_id=steward_of[community], actor=ACTOR, at=self.now)
            q = Question("community_planning", Recipient(community=community))
            members: dict[str, list[bool]] = {}
            for r in records:
                if inside(r, q):
                    members.setdefault(r.household_id, []).append(self.model.allows(levels_of(r), True, q, self.now)[0])
            expected = {h for h, allowed in members.items() if all(allowed)}
            assert {h.household_id for h in view.households} == expected
            assert view.counted_only_households == len(members) - len(expected)

    return ConsentMachine


def test_no_read_returns_a_subject_not_allowed_at_that_moment(world):
    hub, population, steward_of = world
    machine = _machine(hub, population, steward_of)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=50, stateful_step_count=100, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
