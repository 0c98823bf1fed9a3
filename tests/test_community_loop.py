"""The bottom-up loop end to end: a community verifies its households, the agencies concerned hear of it
through signed webhooks in their own pseudonyms, the next publish counts it; a surveyed referral reaches
the agency's queue, moves to done through the API and the area's referral figures follow."""
from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import threading
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, update
from test_views_attacks import household, load, write_tpmap

from consent import registry, stewards
from consent.data_return import read_view as data_return
from consent.registry import Grantor, NewConsent
from consent.subjects import community, person
from helpers import ACTOR, SURVEY, ingest, ingest_all, serve_api
from hub.community.access import HouseholdNotShown
from hub.community.concerns import households_of
from hub.community.referrals import ReferralError, agency_queue, move_referral, raise_referral
from hub.community.verification import VerificationError, verify_household
from hub.crypto import aad
from hub.db.schema import (
    audit_events,
    household_verifications,
    linked_records,
    notifications,
    record_links,
    referrals,
    source_records,
)
from hub.linking.reviews import list_reviews
from hub.linking.run import link
from hub.notify.delivery import deliver_due
from hub.notify.endpoints import set_endpoint
from hub.notify.signature import public_key
from hub.pipeline.ingest import ingest_file
from hub.tokens import issue
from hub.views.facts import household_facts, load_inputs
from hub.views.microdata import partner_key, pseudonyms
from hub.views.publish import publish
from hub.views.read import read_view
from simulators.webhook_receiver import Receiver

VILLAGE = "340101-04"
EVIDENCE = {"method": "visit", "note": "เยี่ยมบ้าน 12 มี.ค. 2567 พร้อม อสม."}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stewarded(hub, village: str = VILLAGE) -> int:
    """A steward of ``village``, whose community granted data return."""
    steward = stewards.register(hub, village, name="บุญมี ศรีวงศ์", role="village_head", appointed_by="คำสั่ง 12/2566",
                                actor=ACTOR)
    registry.record(hub, NewConsent(community(village), "given", ["community_planning"], ["community"],
                                    Grantor("stewards", (steward,)), {"meeting": "ประชุมประชาคม"}), actor=ACTOR)
    return steward


def shown(hub, steward: int, village: str = VILLAGE) -> list[str]:
    return [h.household_id for h in data_return(hub, village, steward_id=steward, actor=ACTOR).households]


def cell(hub, view: str, area: str) -> dict:
    return next(c["figures"] for c in read_view(hub, view, area=area, actor=ACTOR).cells if c["area"] == area)


@contextmanager
def receiver(hub):
    server = Receiver(("127.0.0.1", 0), public_key_pem=public_key(hub.keyring).encode())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


def actions(hub) -> list[str]:
    with hub.engine.connect() as conn:
        return list(conn.scalars(select(audit_events.c.action).order_by(audit_events.c.seq)))


def test_a_listed_household_found_not_poor_reaches_tpmap_signed_and_counts_as_an_inclusion_error(hub, tmp_path):
    load(hub, tmp_path, [household("340101", 4) for _ in range(12)])
    steward = stewarded(hub)
    homes = shown(hub, steward)
    assert len(homes) == 12
    for home in homes[:5]:
        verify_household(hub, community_code=VILLAGE, steward_id=steward, household_id=home, status="not_poor",
                         evidence=EVIDENCE, actor="api:community:steward")
    publish(hub, actor=ACTOR)
    before = {area: cell(hub, "tpmap_tambon", area)["inclusion_errors"] for area in ("340101", "3401", "34", "TH")}
    assert set(before.values()) == {5}

    with receiver(hub) as (server, url):
        set_endpoint(hub, "tpmap", url, actor=ACTOR)
        done = verify_household(hub, community_code=VILLAGE, steward_id=steward, household_id=homes[5],
                                status="not_poor", evidence=EVIDENCE, actor="api:community:steward")
        assert done.notified == ["tpmap"] and done.previous_status is None
        report = deliver_due(hub)
        assert report.delivered == 6
        bodies = [d["body"] for d in server.deliveries.values()]
    [notice] = [b for b in bodies if b["message"]["data"]["household"] == _pseudonym(hub, "tpmap", homes[5])]
    assert notice["header"]["receiver_id"] == "tpmap" and notice["message"]["event_type"] == "household.verified"
    assert notice["message"]["data"] == {"household": _pseudonym(hub, "tpmap", homes[5]), "status": "not_poor",
                                         "area": "340101", "decided_on": notice["message"]["data"]["decided_on"]}
    assert homes[5] not in json.dumps(bodies)  # only TPMAP's pseudonym, never the hub's id

    publish(hub, actor=ACTOR)
    after = {area: cell(hub, "tpmap_tambon", area)["inclusion_errors"] for area in before}
    assert after == {area: n + 1 for area, n in before.items()}
    log = actions(hub)
    steps = ["community.household_verified", "notify.delivered", "view.published"]
    assert all(step in log for step in steps)
    assert log.index("community.household_verified", len(log) - 40) < log.index("notify.delivered", len(log) - 40)


def _pseudonym(hub, partner: str, household_id: str) -> str:
    return pseudonyms(pd.Series([household_id]), key=partner_key(hub.keyring, partner), kind="household")[0]


def test_a_verification_outranks_the_sources_in_the_household_facts(hub, tmp_path):
    load(hub, tmp_path, [household("340101", 4, dims=("income", "health")) for _ in range(4)])
    steward = stewarded(hub)
    homes = shown(hub, steward)
    for home, status in zip(homes, ("poor", "not_poor", "moved", "deceased")):
        verify_household(hub, community_code=VILLAGE, steward_id=steward, household_id=home, status=status,
                         evidence={"method": "meeting"}, actor=ACTOR)
    with hub.engine.connect() as conn:
        inputs = load_inputs(conn)
    facts = household_facts(inputs, np.ones(len(inputs.records), dtype=bool)).loc[homes]
    assert facts["community_verified"].all() and facts["surveyed"].all()
    assert facts["verified_poor"].tolist() == [True, False, False, False]
    assert facts["inclusion_errors"].tolist() == [False, True, False, False]  # all four are on TPMAP's list
    assert facts["in_need"].tolist() == [True, False, False, False]  # deprived by TPMAP, but not any more


def test_a_steward_verifies_only_households_their_community_sees(hub, tmp_path):
    load(hub, tmp_path, [household("340101", 4), household("340101", 5)])
    steward = stewarded(hub)
    [home] = shown(hub, steward)
    elsewhere = next(iter({h for h in _all_households(hub)} - {home}))
    with pytest.raises(HouseholdNotShown):
        verify_household(hub, community_code=VILLAGE, steward_id=steward, household_id=elsewhere, status="poor",
                         evidence=EVIDENCE, actor=ACTOR)
    with pytest.raises(VerificationError, match="citizen ID"):
        verify_household(hub, community_code=VILLAGE, steward_id=steward, household_id=home, status="poor",
                         evidence={"method": "visit", "note": "บัตร 1-1014-00123-45-1"}, actor=ACTOR)
    with pytest.raises(VerificationError, match="status"):
        verify_household(hub, community_code=VILLAGE, steward_id=steward, household_id=home, status="rich",
                         evidence=EVIDENCE, actor=ACTOR)
    verify_household(hub, community_code=VILLAGE, steward_id=steward, household_id=home, status="poor",
                     evidence=EVIDENCE, actor=ACTOR)
    with hub.engine.connect() as conn:
        row = conn.execute(select(household_verifications)).one()
    assert row.evidence["method"] == "visit" and EVIDENCE["note"] not in json.dumps(row.evidence, ensure_ascii=False)
    sealed = base64.b64decode(row.evidence["note_enc"])
    assert hub.cipher.decrypt(sealed, aad("household_verifications", "community", home, "note")) == EVIDENCE["note"]


def _all_households(hub) -> set[str]:
    with hub.engine.connect() as conn:
        inputs = load_inputs(conn)
    return set(inputs.records["household_id"])


def test_a_surveyed_referral_reaches_msdhs_moves_to_done_and_the_figures_follow(hub):
    ingest_all(hub)
    link(hub, actor=ACTOR)
    publish(hub, actor=ACTOR)
    before = cell(hub, "policy_all_levels", "34")
    tokens = {role: bearer(issue(hub, role="partner", subject=f"{role}-system", partner=role, actor=ACTOR))
              for role in ("msdhs", "eef")}
    with serve_api(hub) as api:
        queue = api.get("/referrals", headers=tokens["msdhs"]).json()
        [referral] = queue["referrals"]
        assert (referral["agency"], referral["need"], referral["status"]) == ("MSDHS", "housing_repair", "accepted")
        assert referral["overdue"] and queue["overdue"] == 1  # made on 2023-09-01, not closed since
        with hub.engine.connect() as conn:
            home = conn.scalar(select(referrals.c.household_id).where(referrals.c.id == referral["id"]))
        assert referral["household"] == _pseudonym(hub, "msdhs", home) and home not in json.dumps(queue)

        assert api.get("/referrals", headers=tokens["eef"]).json()["referrals"] == []
        moved_by_eef = api.post(f"/referrals/{referral['id']}/status", headers=tokens["eef"], json={"status": "done"})
        missing = api.post("/referrals/999999/status", headers=tokens["msdhs"], json={"status": "done"})
        assert moved_by_eef.status_code == missing.status_code == 404
        assert moved_by_eef.json() == missing.json()

        moved = api.post(f"/referrals/{referral['id']}/status", headers=tokens["msdhs"],
                         json={"status": "done", "note": "ซ่อมบ้านเสร็จ"})
        assert moved.status_code == 200 and moved.json()["status"] == "done"
        back = api.post(f"/referrals/{referral['id']}/status", headers=tokens["msdhs"], json={"status": "accepted"})
        assert back.status_code == 400
        [now] = api.get("/referrals", headers=tokens["msdhs"], params={"status": "done"}).json()["referrals"]
        assert not now["overdue"]
        page = api.get("/referrals", headers=tokens["msdhs"], params={"limit": 1, "offset": 1}).json()
        assert (page["referrals"], page["total"], page["next_offset"]) == ([], 1, None)

    publish(hub, actor=ACTOR)
    after = cell(hub, "policy_all_levels", "34")
    assert (after["referrals_accepted"], after["referrals_done"]) == \
        (before["referrals_accepted"] - 1, before["referrals_done"] + 1)
    assert after["referrals_overdue"] == before["referrals_overdue"] - 1
    with hub.engine.connect() as conn:
        kinds = conn.execute(select(notifications.c.partner, notifications.c.kind)).all()
    assert ("msdhs", "referral.created") in kinds and ("msdhs", "referral.changed") in kinds
    assert ("ubu", "referral.changed") in kinds  # the surveying university hears how its referral ended
    with hub.engine.connect() as conn:
        named = {(p, json.loads(b)["message"]["data"]["referral"]) for p, b in conn.execute(
            select(notifications.c.partner, notifications.c.body).where(notifications.c.kind == "referral.changed"))}
    assert named == {("msdhs", referral["id"]), ("ubu", "R-000901")}  # each by the id it knows the referral by
    with hub.engine.connect() as conn:
        logged = [json.loads(d) for d in conn.scalars(select(audit_events.c.details)
                                                       .where(audit_events.c.action == "referral.created"))]
    # the survey's R-000955 names its agency in Thai free text ("สปสช."): kept out of the log
    assert sorted(e["agency"] for e in logged) == ["(free text, not logged)", "MSDHS"]


def later_batches(hub, tmp_path, **referral):
    """After the survey and a link run: a function delivering R-000901's household again, its referral
    with ``referral`` and a status, then linking (its report returned)."""
    ingest_all(hub)
    link(hub, actor=ACTOR)
    lines = SURVEY.read_text(encoding="utf-8").splitlines()
    last = json.loads(next(line for line in reversed(lines) if "R-000901" in line))

    def batch(status: str, name: str):
        item = {**last, "referrals": [{**last["referrals"][0], **referral, "status": status}]}
        path = tmp_path / name
        path.write_text(json.dumps(item, ensure_ascii=False) + "\n", encoding="utf-8")
        ingest(hub, "university_survey", path)
        return link(hub, actor=ACTOR)

    return batch


def test_a_later_survey_batch_moves_a_referral_forward_never_back(hub, tmp_path):
    batch = later_batches(hub, tmp_path)
    assert batch("rejected", "batch2.ndjson").referrals_moved == 1
    assert batch("pending", "batch3.ndjson").referrals_moved == 0
    with hub.engine.connect() as conn:
        assert conn.scalar(select(referrals.c.status).where(referrals.c.origin_ref.like("%/R-000901"))) == "rejected"
    with pytest.raises(ReferralError, match="rejected"):
        ref = _referral_id(hub, "R-000901")
        move_referral(hub, ref, "done", partner="msdhs", note="", actor=ACTOR)


def test_a_referral_whose_survey_id_is_too_long_is_still_tracked_and_announced(hub, tmp_path):
    batch = later_batches(hub, tmp_path, referral_id="R-" + "9" * 80)  # with the survey's id, over the column
    assert batch("pending", "made.ndjson").referrals_made == 1
    assert batch("accepted", "moved.ndjson").referrals_moved == 1
    with hub.engine.connect() as conn:
        made = conn.execute(select(referrals).where(referrals.c.status == "accepted",
                                                    referrals.c.origin_ref.not_like("%/%"))).one()
        told = {p: json.loads(b)["message"]["data"] for p, b in conn.execute(
            select(notifications.c.partner, notifications.c.body).where(notifications.c.kind == "referral.changed"))}
    assert len(made.origin_ref) == 64
    assert told["msdhs"]["referral"] == made.id
    assert "referral" not in told["ubu"] and told["ubu"]["status"] == "accepted"  # told, without a digest as its id


def _referral_id(hub, origin_ref: str) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(select(referrals.c.id).where(referrals.c.origin_ref.like(f"%/{origin_ref}")))


def test_a_steward_raises_a_referral_and_verifies_through_the_api(hub, tmp_path):
    load(hub, tmp_path, [household("340101", 4) for _ in range(3)])
    steward = stewarded(hub)
    other = stewarded(hub, "340101-05")
    homes = shown(hub, steward)
    tokens = {
        "steward": bearer(issue(hub, role="community", subject="ผู้ใหญ่บ้าน", area=VILLAGE, steward=steward, actor=ACTOR)),
        "other": bearer(issue(hub, role="community", subject="ผู้ใหญ่บ้าน 5", area="340101-05", steward=other,
                              actor=ACTOR)),
        "msdhs": bearer(issue(hub, role="partner", subject="msdhs-system", partner="msdhs", actor=ACTOR)),
    }
    with serve_api(hub) as api:
        verified = api.post("/community/verifications", headers=tokens["steward"],
                            json={"household_id": homes[0], "status": "poor", "evidence": EVIDENCE})
        assert verified.status_code == 201 and verified.json()["status"] == "poor"
        again = api.post("/community/verifications", headers=tokens["steward"],
                         json={"household_id": homes[0], "status": "moved", "evidence": {"method": "phone"}})
        assert again.json()["previous_status"] == "poor"
        foreign = api.post("/community/verifications", headers=tokens["other"],
                           json={"household_id": homes[0], "status": "not_poor", "evidence": EVIDENCE})
        unknown = api.post("/community/verifications", headers=tokens["steward"],
                           json={"household_id": "0" * 32, "status": "not_poor", "evidence": EVIDENCE})
        assert foreign.status_code == unknown.status_code == 404 and foreign.json() == unknown.json()
        assert api.post("/community/verifications", headers=tokens["msdhs"],
                        json={"household_id": homes[0], "status": "poor", "evidence": EVIDENCE}).status_code == 403

        raised = api.post("/community/referrals", headers=tokens["steward"],
                          json={"household_id": homes[1], "agency": "MSDHS", "need": "disability_allowance"})
        assert raised.status_code == 201
        [queued] = api.get("/referrals", headers=tokens["msdhs"]).json()["referrals"]
        assert (queued["id"], queued["origin"], queued["village"], queued["status"]) == \
            (raised.json()["id"], "community", VILLAGE, "pending")
        for home in homes[1:]:
            api.post("/community/referrals", headers=tokens["steward"],
                     json={"household_id": home, "agency": "msdhs", "need": "housing_repair"})
        first = api.get("/referrals", headers=tokens["msdhs"], params={"limit": 2}).json()
        rest = api.get("/referrals", headers=tokens["msdhs"], params={"offset": first["next_offset"]}).json()
        assert (len(first["referrals"]), first["total"], first["next_offset"]) == (2, 3, 2)
        assert len(rest["referrals"]) == 1 and rest["next_offset"] is None
        assert len({r["id"] for r in first["referrals"] + rest["referrals"]}) == 3
    log = actions(hub)
    assert log.count("community.household_verified") == 2 and "referral.created" in log
    assert "referral.queue_read" in log


def test_the_agency_queue_pages_and_counts_alike_with_or_without_an_area(hub, tmp_path):
    load(hub, tmp_path, [household("340101", 4) for _ in range(4)] + [household("340101", 5) for _ in range(3)])
    homes = [(village, steward, home) for village in (VILLAGE, "340101-05")
             for steward in [stewarded(hub, village)] for home in shown(hub, steward, village)]
    made = [raise_referral(hub, community_code=village, steward_id=steward, household_id=home, agency="MSDHS",
                           need="housing_repair", actor=ACTOR) for village, steward, home in homes]
    today = dt.date(2026, 12, 1)
    with hub.engine.begin() as conn:  # made 0, 25, 50... days ago: the older ones overdue unless closed
        for n, referral_id in enumerate(made):
            conn.execute(update(referrals).where(referrals.c.id == referral_id)
                         .values(referred_on=today - dt.timedelta(days=25 * n)))
    move_referral(hub, made[-1], "done", partner="msdhs", note="เสร็จ", actor=ACTOR)  # the oldest, closed
    late = sum(25 * n > 60 for n in range(len(made) - 1))

    def pages(**filters) -> tuple[list[int], set[int], set[int]]:
        ids, totals, overdue, offset = [], set(), set(), 0
        while offset is not None:
            page = agency_queue(hub, "msdhs", actor=ACTOR, today=today, offset=offset, limit=3, **filters)
            ids += [r["id"] for r in page.rows]
            totals.add(page.total)
            overdue.add(page.overdue)
            offset = page.next_offset
        return ids, totals, overdue

    assert pages() == (made[::-1], {len(made)}, {late})  # oldest first
    in_five = [i for (village, _, _), i in zip(homes, made) if village == "340101-05"]
    assert pages(area="340101-05") == (in_five[::-1], {len(in_five)}, {sum(
        25 * made.index(i) > 60 for i in in_five if i != made[-1])})
    assert pages(area="3401")[0] == pages(area="34")[0] == made[::-1]  # amphoe and province hold all
    assert pages(area="340102") == ([], {0}, {0}) and pages(area="35") == ([], {0}, {0})
    open_ones = agency_queue(hub, "msdhs", actor=ACTOR, today=today, status="pending", limit=100)
    assert (open_ones.total, open_ones.overdue) == (len(made) - 1, late)


def test_the_operator_lists_and_moves_referrals_from_the_command_line(hub, cli):
    ingest_all(hub)
    link(hub, actor=ACTOR)
    listed = cli("referrals", "list", "--partner", "msdhs")
    assert listed.exit_code == 0 and "housing_repair" in listed.stdout and "overdue" in listed.stdout
    ref = _referral_id(hub, "R-000901")
    assert cli("referrals", "move", ref, "done", "--note", "ซ่อมบ้านเสร็จ").exit_code == 0
    assert cli("referrals", "move", ref, "accepted").exit_code == 1
    assert "done" in cli("referrals", "list", "--partner", "msdhs", "--status", "done").stdout


def test_a_withdrawn_consent_is_announced_to_the_partners_holding_the_persons_data(hub):
    ingest_all(hub)
    link(hub, actor=ACTOR)
    somchai = person(hub.keyring, citizen_id="1101400123451")  # on TPMAP's list, and surveyed by ubu
    consent_id, _ = registry.record(hub, NewConsent(somchai, "given", ["welfare_referral"], ["partner:msdhs"],
                                                    Grantor("self"), {"form": "ค.1"}), actor=ACTOR,
                                    born=dt.date(1970, 1, 1))
    registry.withdraw(hub, consent_id, actor=ACTOR, reason="ขอถอนความยินยอมด้วยตนเอง")
    with hub.engine.connect() as conn:
        [home] = households_of(conn, "person", somchai.ref)
        sources = set(conn.scalars(select(source_records.c.source).select_from(linked_records)
                                   .where(record_links.c.household_id == home)))
        sent = conn.execute(select(notifications.c.partner, notifications.c.body)
                            .where(notifications.c.kind == "consent.withdrawn")).all()
    assert sources == {"tpmap", "university_survey"}
    assert [p for p, _ in sent] == ["tpmap"]  # ubu holds the household too, but does not subscribe to withdrawals
    data = json.loads(sent[0][1])["message"]["data"]
    assert data == {"household": _pseudonym(hub, "tpmap", home), "status": "withdrawn",
                    "purposes": ["welfare_referral"], "decided_on": data["decided_on"]}
    assert home not in sent[0][1]


def test_stewards_settle_their_peoples_link_pairs_and_ask_for_corrections(hub, tmp_path):
    people = [household("340101", 4) for _ in range(3)]
    path = write_tpmap(tmp_path / "tpmap.csv", people)
    father = people[0]
    with open(path, "a", encoding="utf-8", newline="") as handle:  # his ID written against his daughter's name
        csv.writer(handle).writerow([f"TP66-3401-{9000000 + father['n']}", "2566", father["cid"], "นางสาว", "มาลี",
                                     father["last"], "2", "01/06/2540", father["house_code"], father["house_no"], 4,
                                     "340101", "3401", "34", "Y", "0", "0", "0", "1", "0", "", "30000"])
    ingest_file(hub, "tpmap", path, actor=ACTOR)
    link(hub, actor=ACTOR)
    [pair] = list_reviews(hub)
    steward, other = stewarded(hub), stewarded(hub, "340101-05")
    tokens = {
        "steward": bearer(issue(hub, role="community", subject="ผู้ใหญ่บ้าน", area=VILLAGE, steward=steward, actor=ACTOR)),
        "other": bearer(issue(hub, role="community", subject="ผู้ใหญ่บ้าน 5", area="340101-05", steward=other,
                              actor=ACTOR)),
    }
    with serve_api(hub) as api:
        assert api.get("/community/reviews", headers=tokens["other"]).json()["reviews"] == []
        [theirs] = api.get("/community/reviews", headers=tokens["steward"]).json()["reviews"]
        assert theirs["id"] == pair.id and {r["first_name"] for r in theirs["records"]} == {father["first"], "มาลี"}
        body = {"decision": "different", "basis": "ประชุมประชาคม: พ่อกับลูกสาว"}
        assert api.post(f"/community/reviews/{pair.id}", headers=tokens["other"], json=body).status_code == 404
        assert api.post(f"/community/reviews/{pair.id}", headers=tokens["steward"], json=body).status_code == 200
        assert list_reviews(hub, status="different")[0].id == pair.id

        home = shown(hub, steward)[0]
        member = data_return(hub, VILLAGE, steward_id=steward, actor=ACTOR).households[0].members[0].person_id
        asked = api.post("/community/corrections", headers=tokens["steward"],
                         json={"household_id": home, "person_id": member, "field": "last_name",
                               "correct": "ศรีสุขใจ", "evidence": "ทะเบียนบ้าน"})
        assert asked.status_code == 201
        stranger = api.post("/community/corrections", headers=tokens["other"],
                            json={"household_id": home, "person_id": member, "field": "last_name",
                                  "correct": "x", "evidence": "y"})
        assert stranger.status_code == 404
    with hub.engine.connect() as conn:
        [body] = conn.scalars(select(notifications.c.body).where(notifications.c.kind == "household.corrected"))
    data = json.loads(body)["message"]["data"]
    assert data["corrected_fields"] == ["last_name"] and "ศรีสุขใจ" not in body
    assert "review.settled" in actions(hub) and "rights.request" in actions(hub)


def test_a_household_the_community_found_is_an_exclusion_error_unless_an_agency_knows_it(hub, tmp_path):
    people = [household("340101", 4) for _ in range(6)]
    neighbour = household("340101", 5)  # lives in the next village, on TPMAP's list
    load(hub, tmp_path, [*people, neighbour])
    steward = stewarded(hub)
    token = bearer(issue(hub, role="community", subject="ผู้ใหญ่บ้าน", area=VILLAGE, steward=steward, actor=ACTOR))
    known = people[0]

    def enter(api, members, **household):
        return api.post("/community/households", headers=token, json={"members": members, **household})

    with serve_api(hub) as api:
        unknown = enter(api, [{"title": "นาง", "first_name": "บัวผัน", "last_name": "ดีใจยิ่ง",
                               "birth_date": "2501-04-02", "sex": "F", "relation": "head"},
                              {"first_name": "ด.ช.สมหวัง", "last_name": "ดีใจยิ่ง", "birth_date": "2015-01-09",
                               "sex": "M"}],
                        house_no="99/9", problems=["income", "living"])
        assert unknown.status_code == 201 and unknown.json()["persons"] == 2
        on_tpmap = enter(api, [{"citizen_id": known["cid"], "title": "นาย", "first_name": known["first"],
                                "last_name": known["last"], "birth_date": "1970-06-01", "sex": "M"}],
                         house_no=known["house_no"], verified_poor=False)
        assert on_tpmap.status_code == 201
        # the neighbour's ID with more members than the neighbour's household has: it must not move here
        pulled = enter(api, [{"citizen_id": neighbour["cid"], "first_name": neighbour["first"],
                              "last_name": neighbour["last"], "sex": "M"},
                             *({"first_name": f"ญาติ{i}", "last_name": neighbour["last"]} for i in range(3))],
                       house_no="1/1", verified_poor=False)
        assert pulled.status_code == 201
        elsewhere = enter(api, [{"first_name": "ก", "last_name": "ข"}], moo=7)
        assert elsewhere.status_code == 400 and "not your village" in elsewhere.json()["detail"]
    link(hub, actor=ACTOR)
    with hub.engine.connect() as conn:
        inputs = load_inputs(conn)
    facts = household_facts(inputs, np.ones(len(inputs.records), dtype=bool))
    [new] = facts[facts["community_verified"]].itertuples()  # an agency knows the others: entering says nothing
    assert (new.persons, new.tpmap_persons, new.exclusion_errors, new.seen_by, new.in_need_unserved) == \
        (2, 0, True, 0, True)
    listed = facts[facts["tpmap_persons"] > 0]
    assert not listed["inclusion_errors"].any() and not listed["community_verified"].any()
    with hub.engine.connect() as conn:
        entered = conn.execute(select(source_records.c.birth_year, source_records.c.flags).select_from(linked_records)
                               .where(record_links.c.household_id == new.Index)).all()
    assert sorted(r.birth_year for r in entered) == [1958, 2015]  # B.E. 2501 as the steward wrote it
    assert not [f for r in entered for f in r.flags if "era" in f]  # no "Buddhist era in a Christian field"
    home = facts.loc[facts["village"] == "340101-05"]
    assert len(home) == 1 and home["tpmap_persons"].iloc[0] == 1  # the neighbour stayed home
    assert home.index[0] not in shown(hub, steward)  # so this village's stewards do not see it
    with hub.engine.connect() as conn:
        logged = " ".join(conn.scalars(select(audit_events.c.details)))
    assert "บัวผัน" not in logged and "ดีใจยิ่ง" not in logged
    assert actions(hub).count("community.household_found") == 3
