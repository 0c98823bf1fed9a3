"""Auditors and communities over real HTTP: searching the log (JSON and CSV, no personal data), its
verification status, "who used our data" for a village, request ids, and fail-closed reads: when the
audit log cannot be written, no personal data is served."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import update

from consent import stewards
from helpers import ACTOR, TITLES, ingest_all, partner_pii, refuse_audit_writes, serve_api, tampering
from hub.db.schema import audit_events
from hub.linking.run import link
from hub.tokens import issue
from hub.views.publish import publish
from hub.views.read import read_view

SOMCHAI = "1101400123451"
VILLAGE = "340101-04"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def served(hub):
    """A linked, published hub with a steward of VILLAGE; yields (API client, tokens by role)."""
    ingest_all(hub)
    link(hub, actor=ACTOR)
    publish(hub, actor=ACTOR)
    steward = stewards.register(hub, VILLAGE, name="บุญมี ศรีวงศ์", role="village_head", appointed_by="คำสั่ง 12/2566",
                                actor=ACTOR)
    other = stewards.register(hub, "340105-01", name="ทองใบ", role="village_head", appointed_by="x", actor=ACTOR)
    tokens = {
        "admin": issue(hub, role="admin", subject="operator", actor=ACTOR),
        "auditor": issue(hub, role="auditor", subject="สตง. auditor", actor=ACTOR),
        "steward": issue(hub, role="community", subject="ผู้ใหญ่บ้านหมู่ 4", area=VILLAGE, steward=steward, actor=ACTOR),
        "other": issue(hub, role="community", subject="ผู้ใหญ่บ้านหมู่ 1", area="340105-01", steward=other, actor=ACTOR),
        "partner": issue(hub, role="partner", subject="msdhs-system", partner="msdhs", actor=ACTOR),
    }
    with serve_api(hub) as client:
        yield client, {role: bearer(token) for role, token in tokens.items()}


def personal_values() -> set[str]:
    """Every clear citizen ID and name in the partner files (with titles stripped)."""
    found = set()
    for values in partner_pii().values():
        found |= {v for v in values if len(v) >= 4 and v not in TITLES}
    return found


def test_an_auditor_searches_the_log_and_sees_no_personal_data(hub, served):
    api, who = served
    granted = api.post("/consent/community/decisions", headers=who["steward"],
                       json={"purposes": ["community_planning"], "meeting": "ประชุมประชาคม 12 มี.ค. 2567"})
    assert granted.status_code == 201
    returned = api.get("/consent/data-return", headers={**who["steward"], "X-Request-ID": "req-village-04"})
    assert returned.status_code == 200 and returned.headers["X-Request-ID"] == "req-village-04"
    assert api.post("/rights/access", headers=who["admin"], json={"citizen_id": SOMCHAI}).status_code == 200

    found = api.get("/audit/events", headers=who["auditor"], params={"action": "consent.data_return_read"}).json()
    [event] = found["events"]
    assert (event["role"], event["partner"], event["purpose"], event["area"], event["request_id"]) == \
        ("community", "community", "community_planning", VILLAGE, "req-village-04")
    assert event["record_count"] == event["details"]["persons_identified"] > 0

    everything = api.get("/audit/events", headers=who["auditor"], params={"limit": 10000})
    access = [e for e in everything.json()["events"] if e["action"] == "rights.request"]
    assert access and all(e["resource"] == "person:[hidden]" and e["details"]["subject_ref"] == "[hidden]"
                          for e in access)
    assert not {v for v in personal_values() if v in everything.text}
    [grant] = [e for e in everything.json()["events"] if e["action"] == "consent.recorded"]
    assert grant["details"]["subject_ref"] == VILLAGE  # a community is named by its area code: not hidden

    in_village = api.get("/audit/events", headers=who["auditor"], params={"area": "340101"}).json()["events"]
    assert in_village and all(e["area"].startswith("340101") for e in in_village)
    as_csv = api.get("/audit/events.csv", headers=who["auditor"], params={"area": "340101"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["seq"] for r in rows[:-1]] == [str(e["seq"]) for e in in_village]
    assert rows[-1]["action"] == "audit.read"  # the search just made, in the area it searched
    assert api.get("/audit/events", headers=who["auditor"], params={"since": "yesterday"}).status_code == 400
    today = in_village[-1]["occurred_at"][:10]
    for until in (today, today.replace("-", "")):  # a bare date, extended or basic, includes its whole day
        found = api.get("/audit/events", headers=who["auditor"], params={"area": "340101", "until": until})
        assert [e["seq"] for e in found.json()["events"]][:len(in_village)] == [e["seq"] for e in in_village]

    for role in ("partner", "steward"):
        assert api.get("/audit/events", headers=who[role]).status_code == 403
    searched = api.get("/audit/events", headers=who["auditor"], params={"action": "audit.read"}).json()["events"]
    assert searched and searched[0]["role"] == "auditor"  # the auditor's searches are logged too


def test_the_status_says_whether_the_log_verifies_and_when(hub, served):
    api, who = served
    status = api.get("/audit/status", headers=who["auditor"]).json()
    assert status["intact"] and status["problem"] is None and status["checkpoints"] >= 1
    assert dt.datetime.fromisoformat(status["verified_at"]) <= dt.datetime.now(dt.UTC)
    assert "BEGIN PUBLIC KEY" in api.get("/audit/public-key").text
    with tampering(hub) as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 2).values(actor="cli:mallory"))
    assert api.get("/audit/status", headers=who["auditor"]).json() == status  # within the minute: the same run
    hub.audit_status.max_age = 0
    broken = api.get("/audit/status", headers=who["auditor"]).json()
    assert not broken["intact"] and broken["problem"]["seq"] == 2 and broken["verified_at"] >= status["verified_at"]


def test_concurrent_status_requests_share_one_verification(hub):
    from concurrent.futures import ThreadPoolExecutor

    from audit.access import verify
    from audit.status import VerificationStatus

    runs = []
    status = VerificationStatus(lambda: runs.append(1) or verify(hub))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: status.current(), range(8)))
    assert len(runs) == 1 and all(a is answers[0] for a in answers) and answers[0].verification.intact


def test_a_village_sees_which_partners_used_its_data(hub, served):
    api, who = served
    read = read_view(hub, "msdhs_households", area=None, actor="cli:msdhs-desk")
    assert {r["area"] for r in read.rows} == {"TH"}  # k-anonymity coarsened the areas of this small test data
    assert sum(read.homes.values()) == len(read.rows) and read.homes[VILLAGE] > 0  # but each row has a home
    read_view(hub, "eef_tambon", area="340101", actor="cli:eef-desk")  # figures: no records of persons
    usage = api.get(f"/audit/usage/{VILLAGE}", headers=who["steward"]).json()
    assert usage["by_partner"] == [{
        "partner": "msdhs", "purpose": "welfare_referral", "reads": 1, "records": read.homes[VILLAGE],
        "first": usage["reads"][0]["occurred_at"], "last": usage["reads"][0]["occurred_at"]}]
    tambon = api.get("/audit/usage/340101", headers=who["auditor"]).json()
    assert tambon["by_partner"][0]["records"] == sum(n for v, n in read.homes.items() if v.startswith("340101"))
    assert api.get(f"/audit/usage/{VILLAGE}", headers=who["other"]).status_code == 403
    assert api.get(f"/audit/usage/{VILLAGE}", headers=who["partner"]).status_code == 403


def test_no_personal_data_is_served_when_its_audit_event_cannot_be_written(hub, served, cli, tmp_path):
    api, who = served
    granted = api.post("/consent/community/decisions", headers=who["steward"],
                       json={"purposes": ["community_planning"], "meeting": "ประชุม"})
    assert granted.status_code == 201
    assert api.get("/views/msdhs_amphoe/rows", headers=who["partner"]).status_code == 200
    refuse_audit_writes(hub)
    calls = [
        api.get("/consent/decisions", headers=who["steward"]),
        api.get(f"/consent/decisions/{granted.json()['consent_id']}/receipt", headers=who["steward"]),
        api.get("/consent/data-return", headers=who["steward"]),
        api.post("/rights/access", headers=who["admin"], json={"citizen_id": SOMCHAI}),
        api.post("/consent/check", headers=who["admin"], json={
            "subject": {"citizen_id": SOMCHAI}, "purpose": "welfare_referral", "partner": "msdhs"}),
        api.get("/audit/events", headers=who["auditor"]),
        api.get(f"/audit/usage/{VILLAGE}", headers=who["steward"]),
        api.get("/views/msdhs_households/rows", headers=who["partner"]),  # microdata, read from the database
        api.get("/views/msdhs_amphoe/rows", headers=who["partner"]),  # figures, served from memory the 2nd time
        api.get("/views/msdhs_households/export.csv", headers=who["partner"]),
    ]
    assert [c.status_code for c in calls] == [503] * len(calls)
    assert all(c.json() == {"detail": "the access could not be recorded in the audit log, so nothing was sent; "
                                      "try again later"} for c in calls)
    served_pii = [c for c in calls if {v for v in personal_values() if v in c.text}]
    assert served_pii == []
    shown = cli("views", "show", "msdhs_households", "--area", VILLAGE)
    assert shown.exit_code != 0 and VILLAGE not in shown.stdout
    out = tmp_path / "exports"
    out.mkdir()
    exported = cli("export", "links", "--out", out / "links.csv")
    assert exported.exit_code != 0 and list(out.iterdir()) == []  # not even the half-written temporary file


def test_reading_consent_decisions_and_receipts_is_audited(hub, served):
    api, who = served
    granted = api.post("/consent/community/decisions", headers=who["steward"],
                       json={"purposes": ["community_planning"], "meeting": "ประชุมหมู่บ้าน"}).json()
    assert len(api.get("/consent/decisions", headers=who["steward"]).json()) == 1
    assert api.get(f"/consent/decisions/{granted['consent_id']}/receipt", headers=who["steward"]).status_code == 200
    reads = api.get("/audit/events", headers=who["auditor"], params={"action": "consent.decisions_read"}).json()
    assert [(e["resource"], e["area"], e["record_count"], e["role"]) for e in reads["events"]] == [
        ("consent:decisions", VILLAGE, 1, "community"), (f"consent:{granted['consent_id']}", VILLAGE, 1, "community")]


def test_the_cli_searches_the_log_and_shows_a_villages_usage(hub, served, cli, tmp_path):
    api, who = served
    assert api.get("/views/msdhs_households/rows", headers=who["partner"]).json()["items"]
    result = cli("audit", "log", "--action", "ingest.", "--limit", "2")
    assert result.exit_code == 0
    listed = [line.split("\t") for line in result.stdout.splitlines()[1:3]]
    assert [row[3] for row in listed] == ["ingest.completed", "ingest.quarantined"]
    assert "there may be more" in result.stdout
    out = tmp_path / "log.csv"
    assert cli("audit", "log", "--partner", "msdhs", "--csv", out).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows and {r["partner"] for r in rows} == {"msdhs"} and "view.read" in {r["action"] for r in rows}
    usage = cli("audit", "usage", "340101", "--json")
    assert usage.exit_code == 0
    assert [p["partner"] for p in json.loads(usage.stdout)["by_partner"]] == ["msdhs"]
    assert cli("audit", "log", "--until", "yesterday").exit_code != 0
