"""Views and sources over real HTTP: partners read and download their own views and upload to their own
sources, policy units compare areas and follow figures across versions, the admin sees sources,
contracts and quarantine; a role-by-endpoint matrix, a BOLA fuzz (other partners' views, sources and
areas in path and query: no foreign record ever comes back) and forged or malformed tokens."""
from __future__ import annotations

import csv
import datetime as dt
import io
import random

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from openpyxl import load_workbook
from sqlalchemy import select

from consent import stewards
from helpers import ACTOR, TPMAP, serve_api
from hub.db.schema import audit_events
from hub.signing import key_id
from hub.tokens import AUDIENCE, ISSUER, issue
from hub.views.publish import publish

NOT_FOUND = {"detail": "no such view"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def served(linked_hub):
    """The linked test hub, published, served; yields (client, headers by caller, hub)."""
    hub = linked_hub
    publish(hub, actor=ACTOR)
    steward = stewards.register(hub, "340101-04", name="ผู้ใหญ่บ้าน", role="village_head", appointed_by="x",
                                actor=ACTOR)
    who = {
        "admin": issue(hub, role="admin", subject="operator", actor=ACTOR),
        "msdhs": issue(hub, role="partner", subject="msdhs-system", partner="msdhs", actor=ACTOR),
        "eef": issue(hub, role="partner", subject="eef-system", partner="eef", actor=ACTOR),
        "tpmap": issue(hub, role="partner", subject="nesdc", partner="tpmap", actor=ACTOR),
        "policy": issue(hub, role="policy", subject="ศจพ.จ.", actor=ACTOR),
        "auditor": issue(hub, role="auditor", subject="auditor", actor=ACTOR),
        "community": issue(hub, role="community", subject="ผู้ใหญ่บ้าน", area="340101-04", steward=steward,
                           actor=ACTOR),
    }
    with serve_api(hub) as client:
        yield client, {k: bearer(v) for k, v in who.items()}, hub


def names(response) -> set[str]:
    return {v["name"] for v in response.json()}


def test_each_caller_lists_only_the_views_it_may_read(served):
    api, who, _ = served
    assert names(api.get("/views", headers=who["msdhs"])) == {"msdhs_households", "msdhs_amphoe", "public_province"}
    assert names(api.get("/views", headers=who["eef"])) == {"eef_students", "eef_tambon", "public_province"}
    assert names(api.get("/views", headers=who["policy"])) == {"policy_all_levels", "public_province"}
    assert names(api.get("/views", headers=who["auditor"])) == {"public_province"}
    every = names(api.get("/views", headers=who["admin"]))
    assert "community_return" not in every and {"msdhs_households", "ubu_villages"} <= every
    assert api.get("/views").status_code == 401


def test_a_partner_pages_through_its_microdata_and_the_reads_are_audited(served):
    api, who, hub = served
    first = api.get("/views/msdhs_households/rows", headers=who["msdhs"], params={"limit": 4}).json()
    assert first["offset"] == 0 and len(first["items"]) == 4 and first["total"] > 4 and first["next_offset"] == 4
    pages, offset = [], 0
    while offset is not None:
        page = api.get("/views/msdhs_households/rows", headers=who["msdhs"],
                       params={"limit": 4, "offset": offset}).json()
        pages.extend(page["items"])
        offset = page["next_offset"]
    assert len(pages) == first["total"] == len({r["row"] for r in pages})
    assert set(pages[0]["fields"]) >= {"household", "area"}
    with hub.engine.connect() as conn:
        reads = conn.execute(select(audit_events).where(audit_events.c.action == "view.read",
                                                        audit_events.c.role == "partner")).all()
    assert reads and all(r.partner == "msdhs" and r.purpose == "welfare_referral" for r in reads)


def test_a_partner_downloads_csv_and_xlsx_with_thai_names(served):
    api, who, _ = served
    got = api.get("/views/msdhs_amphoe/export.csv", headers=who["msdhs"])
    assert got.status_code == 200 and got.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["area", "name", "level", "parent"]
    nation = next(r for r in rows if r[0] == "TH")
    assert nation[1] == "ประเทศไทย"
    sheet = api.get("/views/msdhs_amphoe/export.xlsx", headers=who["msdhs"], params={"area": "34"})
    book = load_workbook(io.BytesIO(sheet.content))
    table = list(book.active.values)
    assert table[0][:2] == ("area", "name") and all(r[0].startswith("34") for r in table[1:])
    assert any(r[1] == "อุบลราชธานี" for r in table[1:])
    households = table[0].index("households")
    assert all(isinstance(r[households], int | type(None)) for r in table[1:])  # numbers, blank if suppressed


def test_a_policy_unit_compares_areas_and_follows_figures_across_versions(served):
    api, who, hub = served
    compared = api.get("/views/policy_all_levels/compare", headers=who["policy"],
                       params=[("area", "TH"), ("area", "34")]).json()
    assert [a["area"] for a in compared["areas"]] == ["TH", "34"]
    assert compared["areas"][1]["name"] == "อุบลราชธานี"
    publish(hub, views=["policy_all_levels"], actor=ACTOR, force=True)
    series = api.get("/views/policy_all_levels/series", headers=who["policy"], params={"area": "34"}).json()
    assert len(series["versions"]) >= 2
    assert [p["version_id"] for p in series["versions"]] == sorted(p["version_id"] for p in series["versions"])
    assert api.get("/views/msdhs_households/compare", headers=who["policy"], params={"area": "34"}).json() == \
        NOT_FOUND


def test_a_partner_uploads_to_its_own_source_and_gets_the_quarantine_report(served):
    api, who, hub = served
    body = TPMAP.read_bytes()
    done = api.put(f"/sources/tpmap/files/{TPMAP.name}", headers=who["tpmap"], content=body)
    assert done.status_code == 200, done.text
    report = done.json()
    assert report["rows_read"] == 11 and report["already_ingested"] is True  # the test hub holds it already
    renamed = api.put("/sources/tpmap/files/tpmap_again.csv", headers=who["tpmap"], content=body + b"\r\n")
    assert renamed.json()["quarantined"] == 2
    assert [q["line"] for q in renamed.json()["quarantine"]] == [7, 9]
    assert api.put("/sources/tpmap/files/x.csv", headers=who["msdhs"], content=body).json() == \
        {"detail": "no such source"}
    assert api.put("/sources/nosuch/files/x.csv", headers=who["tpmap"], content=body).json() == \
        {"detail": "no such source"}
    assert api.put("/sources/tpmap/files/..%2Fetc.csv", headers=who["tpmap"], content=body).status_code in (404, 422)
    hub.settings.upload_max_bytes = 100
    try:
        assert api.put("/sources/tpmap/files/big.csv", headers=who["tpmap"], content=body).status_code == 413
    finally:
        hub.settings.upload_max_bytes = 256 * 2**20


def test_a_nul_character_is_refused_with_the_reason_but_a_file_holding_one_still_goes_in(served):
    """No field may hold U+0000 (PostgreSQL's text cannot): in a path, a query or a JSON body it is a
    clear 400, not a server error. A partner's file is not refused for it: the row is ingest's to judge."""
    api, who, _ = served
    refused = [api.get("/audit/events.csv", params={"action": "view.read\x00"}, headers=who["admin"]),
               api.get("/views/msdhs%00households/rows", headers=who["msdhs"]),
               api.post("/consent/stewards", headers=who["admin"], json={"area": "340101-04", "name": "x\x00"})]
    for response in refused:
        assert response.status_code == 400, response.text
        assert response.json() == {"detail": "the request holds a NUL character (U+0000), which no field may hold"}
    lines = TPMAP.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b",", b"\x00,", 1)
    done = api.put("/sources/tpmap/files/tpmap_nul.csv", headers=who["tpmap"], content=b"\n".join(lines))
    assert done.status_code == 200, done.text
    report = done.json()
    assert report["rows_read"] == 11 and report["quarantined"] == 3  # the file's two broken rows, and this one
    assert {"line": 4, "reason": "the row holds a NUL character (U+0000), which no field may hold"} in \
        [{k: q[k] for k in ("line", "reason")} for q in report["quarantine"]]


ENDPOINTS = [
    ("GET", "/views"), ("GET", "/views/msdhs_households/rows"), ("GET", "/views/msdhs_amphoe/export.csv"),
    ("GET", "/views/policy_all_levels/compare?area=TH"), ("GET", "/views/public_province/rows"),
    ("GET", "/sources"), ("GET", "/contracts"), ("GET", "/quarantine"),
    ("GET", "/audit/events"), ("GET", "/audit/status"), ("GET", "/audit/usage/340101-04"),
    ("GET", "/consent/data-return"),
]
#: Who gets what: 200, or the status every other caller gets (404 where a view is not theirs to know of).
MATRIX = {
    "admin": [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 403],
    "msdhs": [200, 200, 200, 404, 200, 403, 403, 403, 403, 403, 403, 403],
    "eef": [200, 404, 404, 404, 200, 403, 403, 403, 403, 403, 403, 403],
    "policy": [200, 404, 404, 200, 200, 403, 403, 403, 403, 403, 403, 403],
    "auditor": [200, 404, 404, 404, 200, 403, 403, 403, 200, 200, 200, 403],
    "community": [200, 404, 404, 404, 200, 403, 403, 403, 403, 403, 200, 200],
    None: [401] * len(ENDPOINTS),
}


@pytest.mark.parametrize("caller", list(MATRIX), ids=str)
def test_the_role_by_endpoint_matrix(served, caller):
    api, who, _ = served
    got = [api.request(method, path, headers=who[caller] if caller else {}).status_code
           for method, path in ENDPOINTS]
    assert got == MATRIX[caller]


def test_bola_fuzz_returns_no_foreign_record(served):
    """Thousands of requests naming other partners' views and sources, and random areas, in path and
    query: whatever is not the caller's answers exactly as what does not exist."""
    api, who, hub = served
    everything = [v.name for _, v in hub.contracts.views()] + ["nosuch", "msdhs_households2", "MSDHS_HOUSEHOLDS"]
    own = {caller: names(api.get("/views", headers=who[caller])) for caller in ("msdhs", "eef", "tpmap", "policy")}
    rng = random.Random(7)
    areas = ["TH", "34", "3401", "340101", "340101-04", "50", "5001", "10"]
    foreign, requests = [], 0
    for _ in range(2500):
        caller = rng.choice(list(own))
        view = rng.choice(everything)
        path = rng.choice(["rows", "export.csv", "compare", "series"])
        params = {"area": rng.choice(areas)}
        got = api.get(f"/views/{view}/{path}", headers=who[caller], params=params)
        requests += 1
        if view not in own[caller]:
            if (got.status_code, got.json()) != (404, NOT_FOUND):
                foreign.append((caller, view, path, got.status_code))
        elif got.status_code == 200 and path == "rows":
            assert got.json()["view"] == view
        if rng.random() < 0.1:
            source = rng.choice(["tpmap", "msdhs_logbook", "eef_students", "university_survey"])
            up = api.put(f"/sources/{source}/files/x.csv", headers=who[caller], content=b"x")
            requests += 1
            mine = {"tpmap": {"tpmap"}, "msdhs": {"msdhs_logbook"}, "eef": {"eef_students"}}.get(caller, set())
            if source not in mine and (up.status_code, up.json()) != (404, {"detail": "no such source"}):
                foreign.append((caller, source, "upload", up.status_code))
    assert requests > 2500 and foreign == []


def test_forged_and_malformed_tokens_are_refused(served):
    api, who, hub = served
    key = hub.keyring.signing_key("tokens")
    now = dt.datetime.now(dt.UTC)
    good = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "role": "admin", "iat": now, "exp": now + dt.timedelta(hours=1)}
    kid = {"kid": key_id(key.public_key())}
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def signed(claims, **header):
        return jwt.encode(claims, key, algorithm="EdDSA", headers={**kid, **header})

    def hs256_with_public_key(claims):  # the classic key-confusion attack
        import base64
        import hashlib
        import hmac
        import json

        def part(data):
            return base64.urlsafe_b64encode(json.dumps(data, default=int).encode()).rstrip(b"=").decode()

        times = {"iat": int(now.timestamp()), "exp": int(now.timestamp()) + 3600}
        body = f"{part({'alg': 'HS256', 'typ': 'JWT', **kid})}.{part({**claims, **times})}"
        mac = hmac.new(public_pem, body.encode(), hashlib.sha256).digest()
        return body + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    forged = {
        "alg none": jwt.encode(good, None, algorithm="none"),
        "HS256 with our public key": hs256_with_public_key(good),
        "another key": jwt.encode(good, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers=kid),
        "expired": signed({**good, "exp": now - dt.timedelta(seconds=5)}),
        "no exp": signed({k: v for k, v in good.items() if k != "exp"}),
        "wrong aud": signed({**good, "aud": "saphan-api-other"}),
        "no aud": signed({k: v for k, v in good.items() if k != "aud"}),
        "issuer prefix": signed({**good, "iss": ISSUER + "-evil"}),
        "issuer suffix": signed({**good, "iss": "x" + ISSUER}),
        "unknown kid": jwt.encode(good, key, algorithm="EdDSA", headers={"kid": "0123456789abcdef"}),
        "no kid": jwt.encode(good, key, algorithm="EdDSA"),
        "partner without partner": signed({**good, "role": "partner"}),
        "unknown role": signed({**good, "role": "root"}),
        "garbage": "not.a.token",
    }
    refused = {name: api.get("/contracts", headers=bearer(token)).status_code for name, token in forged.items()}
    assert refused == {name: 401 for name in forged}
    assert api.get("/contracts", headers=bearer(signed(good))).status_code == 200  # the same, made right


def test_admin_sees_sources_contracts_and_quarantine_without_row_content(served):
    api, who, hub = served
    sources = {s["source"]: s for s in api.get("/sources", headers=who["admin"]).json()}
    assert set(sources) == {"tpmap", "msdhs_logbook", "eef_students", "university_survey", "community_found"}
    assert sources["tpmap"]["last_run"]["status"]
    contracts = {c["id"]: c for c in api.get("/contracts", headers=who["admin"]).json()}
    assert contracts["msdhs"]["sources"] == ["msdhs_logbook"] and len(contracts["msdhs"]["sha256"]) == 64
    rows = api.get("/quarantine", headers=who["admin"], params={"source": "tpmap"}).json()
    assert rows and set(rows[0]) == {"id", "source", "file", "line", "reason", "run_id"}
    assert TPMAP.name in {r["file"] for r in rows}
