"""Consent over real HTTP: the API served by uvicorn on a local port, called with httpx and tokens from
``hub token issue``; a steward's community decision, a resident's opt-out, the data-return view, receipts,
and what each role may not do."""
from __future__ import annotations

import datetime as dt

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent import stewards
from helpers import ACTOR, ingest_all, serve_api
from hub.linking.run import link
from hub.tokens import AUDIENCE, ISSUER, issue

SOMCHAI, CHANPEN, OUTSIDER = "1101400123451", "3401001234821", "3401001234830"


@pytest.fixture
def api(hub):
    """The hub's API on a free local port; yields an httpx client for it."""
    ingest_all(hub)
    link(hub, actor=ACTOR)
    with serve_api(hub) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_steward_returns_data_to_the_village_and_a_resident_leaves_it_over_http(hub, api):
    admin = bearer(issue(hub, role="admin", subject="operator", actor=ACTOR))
    made = api.post("/consent/stewards", headers=admin, json={"community": "340101-04", "name": "บุญมี ศรีวงศ์",
                                                              "role": "village_head", "appointed_by": "คำสั่ง 12/2566"})
    assert made.status_code == 201
    steward = bearer(issue(hub, role="community", subject="บุญมี", area="340101-04", steward=made.json()["id"],
                           actor=ACTOR))

    granted = api.post("/consent/community/decisions", headers=steward, json={
        "purposes": ["community_planning"], "meeting": "ประชุมประชาคม 12 มี.ค. 2567"})
    assert granted.status_code == 201, granted.text
    view = api.get("/consent/data-return", headers=steward).json()
    names = {m["first_name"] for h in view["households"] for m in h["members"]}
    assert {"สมชาย", "จันทร์เพ็ญ", "สมพร"} <= names

    opted = api.post("/consent/opt-outs", headers=steward, json={
        "citizen_id": CHANPEN, "purposes": ["community_planning"], "evidence": {"form": "ค.2", "date": "2569-12-01"}})
    assert opted.status_code == 201
    after = api.get("/consent/data-return", headers=steward).json()
    assert {m["first_name"] for h in after["households"] for m in h["members"]} == {"สมพร"}
    assert after["counted_only"] == {"households": 1, "persons": 3}

    outsider = api.post("/consent/opt-outs", headers=steward, json={
        "citizen_id": OUTSIDER, "purposes": ["community_planning"], "evidence": {"form": "ค.2"}})
    assert outsider.status_code == 404  # a person elsewhere is not theirs to act for (nor to learn about)

    receipt = granted.json()["receipt"]
    assert api.post("/consent/verify", json={"receipt": receipt}).json()["claims"]["status"] == "given"
    altered = receipt[:-5] + ("A" if receipt[-5] != "A" else "B") + receipt[-4:]
    assert api.post("/consent/verify", json={"receipt": altered}).status_code == 422
    assert "BEGIN PUBLIC KEY" in api.get("/consent/public-key").text

    mine = api.get("/consent/decisions", headers=steward).json()
    assert [d["subject_ref"] for d in mine] == ["340101-04"]
    withdrawn = api.post(f"/consent/decisions/{granted.json()['consent_id']}/withdraw", headers=steward,
                         json={"reason": "มติที่ประชุม 1 ธ.ค. 2569"})
    assert withdrawn.status_code == 200
    assert api.get("/consent/data-return", headers=steward).json()["households"] == []


def test_each_role_reaches_only_what_it_may(hub, api):
    other_village = stewards.register(hub, "340105-01", name="ทองใบ", role="village_head", appointed_by="x",
                                      actor=ACTOR)
    theirs = bearer(issue(hub, role="community", subject="ทองใบ", area="340105-01", steward=other_village,
                          actor=ACTOR))
    decision = api.post("/consent/community/decisions", headers=theirs,
                        json={"purposes": ["community_planning"], "document": "มติ 3/2567"}).json()
    mine_id = stewards.register(hub, "340101-04", name="บุญมี", role="village_head", appointed_by="x", actor=ACTOR)
    mine = bearer(issue(hub, role="community", subject="บุญมี", area="340101-04", steward=mine_id, actor=ACTOR))
    partner = bearer(issue(hub, role="partner", subject="msdhs-system", partner="msdhs", actor=ACTOR))

    assert api.get("/consent/data-return").status_code == 401
    assert api.get("/consent/data-return", headers=partner).status_code == 403
    assert api.post("/rights/access", headers=mine, json={"citizen_id": SOMCHAI}).status_code == 403
    for path in (f"/consent/decisions/{decision['consent_id']}/receipt", "/consent/decisions/nosuchid/receipt"):
        assert api.get(path, headers=mine).json() == {"detail": "no such decision"}  # one answer for both
    assert api.get(f"/consent/decisions/{decision['consent_id']}/receipt", headers=theirs).status_code == 200

    now = dt.datetime.now(dt.UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "role": "admin", "iat": now, "exp": now + dt.timedelta(1)}
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA")
    unsigned = jwt.encode(claims, None, algorithm="none")
    expired = jwt.encode({**claims, "exp": now - dt.timedelta(seconds=1)}, hub.keyring.signing_key("tokens"),
                         algorithm="EdDSA")
    no_audience = jwt.encode({k: v for k, v in claims.items() if k != "aud"}, hub.keyring.signing_key("tokens"),
                             algorithm="EdDSA")
    for token in (forged, unsigned, expired, no_audience, "not-a-token"):
        assert api.post("/rights/access", headers=bearer(token), json={"citizen_id": SOMCHAI}).status_code == 401

    admin = bearer(issue(hub, role="admin", subject="operator", actor=ACTOR))
    document = api.post("/rights/access", headers=admin, json={"citizen_id": SOMCHAI}).json()
    assert {r["source"] for r in document["records"]} == {"tpmap", "university_survey"}
    bad = api.post("/consent/decisions", headers=admin, json={
        "subject": {"community": "340101-04"}, "purposes": ["community_planning"], "recipients": ["community"],
        "evidence": {"meeting": "m"}})
    assert bad.status_code == 422 and "registered data stewards" in bad.json()["detail"]
    assert "/api/v1/consent/data-return" in api.get("/openapi.json").json()["paths"]
