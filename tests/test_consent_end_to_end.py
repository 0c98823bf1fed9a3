"""Consent as its users meet it, through the ``hub`` command line: a village grants data return, its
steward reads its households; one person opts out and their household is only counted from the next
read on; the receipts verify offline and fail when a byte changes; the survey's paper consent arrives
as household decisions."""
from __future__ import annotations

import base64
import json

from sqlalchemy import select

from consent.receipts import verify_receipt
from helpers import ACTOR, SURVEY, households, ingest, ingest_all, squash
from hub.db.schema import audit_events
from hub.linking.run import link
from hub.signing import SignatureError

SOMCHAI, CHANPEN, SOMPORN = "1101400123451", "3401001234821", "3401001234562"


def names_shown(output: str) -> set[str]:
    lines = [line.split("\t") for line in output.splitlines() if line.startswith("340101-")]
    return {cells[2] for cells in lines}


def test_a_village_gets_its_data_back_and_a_person_can_leave_it(hub, cli, tmp_path, monkeypatch):
    ingest_all(hub)
    link(hub, actor=ACTOR)
    added = cli("consent", "steward", "add", "340101-04", "--name", "บุญมี ศรีวงศ์", "--role", "village_head",
                "--appointed-by", "คำสั่งอำเภอเมือง ที่ 12/2566")
    assert added.exit_code == 0 and "steward 1 registered" in added.stdout

    before = cli("consent", "data-return", "340101-04", "--steward", "1")
    assert before.exit_code == 0 and names_shown(before.stdout) == set()
    assert squash("counted only (someone opted out or is not covered): 2 household(s)") in squash(before.stdout)

    granted = cli("consent", "grant", "--community", "340101-04", "--purpose", "community_planning",
                  "--recipient", "community", "--steward", "1", "--meeting", "ประชุมประชาคมหมู่บ้าน 12 มี.ค. 2567",
                  "--receipt-out", tmp_path / "village.jws")
    assert granted.exit_code == 0, granted.stderr
    shown = cli("consent", "data-return", "340101-04", "--steward", "1")
    assert names_shown(shown.stdout) == {"นายสมชาย ศรีสุข", "จันทร์เพ็ญ ศรีสุข", "ด.ช.ภาคิน ศรีสุข", "นางสมพร ใจดี"}

    opted = cli("consent", "opt-out", "--citizen-id", CHANPEN, "--purpose", "community_planning",
                "--recipient", "community", "--evidence", "แจ้งด้วยตนเองที่ อบต.", "--receipt-out", tmp_path / "out.jws")
    assert opted.exit_code == 0, opted.stderr
    after = cli("consent", "data-return", "340101-04", "--steward", "1")
    assert names_shown(after.stdout) == {"นางสมพร ใจดี"}  # her whole household is now only counted
    assert "1household(s),3person(s)" in squash(after.stdout)

    # another village's steward, or a tambon's reading a village's grant, sees nothing of it
    cli("consent", "steward", "add", "340101", "--name", "สภาองค์กรชุมชน", "--role", "tambon_council",
        "--appointed-by", "มติสภา 1/2567")
    wider = cli("consent", "data-return", "340101", "--steward", "2")
    assert wider.exit_code == 0 and names_shown(wider.stdout) == set()
    refused = cli("consent", "data-return", "340101-05", "--steward", "1")
    assert refused.exit_code == 1 and squash("steward of 340101-04, not of 340101-05") in squash(refused.stderr)

    # the receipts verify offline, with nothing but the published public key
    assert cli("consent", "public-key", "--out", tmp_path / "hub.pem").exit_code == 0
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HUB_DATABASE_URL", "sqlite:////nonexistent/hub.db")
    for name in ("village.jws", "out.jws"):
        ok = cli("consent", "verify", tmp_path / name, "--key", tmp_path / "hub.pem")
        assert ok.exit_code == 0 and "receipt verified" in ok.stdout
    token = (tmp_path / "out.jws").read_text().strip()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["status"] == "refused" and claims["services"] == [{"purpose": "community_planning",
                                                                     "recipients": ["community"]}]
    assert CHANPEN not in json.dumps(claims) and "จันทร์เพ็ญ" not in json.dumps(claims, ensure_ascii=False)
    altered = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    (tmp_path / "altered.jws").write_text(altered)
    bad = cli("consent", "verify", tmp_path / "altered.jws", "--key", tmp_path / "hub.pem")
    assert bad.exit_code == 1 and "does not verify" in bad.stderr

    with hub.engine.connect() as conn:
        actions = conn.execute(select(audit_events.c.action)).scalars().all()
    assert actions.count("consent.data_return_read") == 4  # the refused read left no event
    assert {"consent.recorded", "consent.steward_registered"} <= set(actions)


def test_every_changed_character_breaks_a_receipt(hub, cli, tmp_path):
    from consent import registry
    from consent.receipts import public_key
    from consent.registry import Grantor, NewConsent
    from consent.subjects import community

    cli("consent", "steward", "add", "340101-04", "--name", "บุญมี", "--role", "village_head", "--appointed-by", "x")
    _, token = registry.record(hub, NewConsent(community("340101-04"), "given", ["community_planning"], ["community"],
                                               Grantor("stewards", (1,)), {"meeting": "ประชุม"}), actor=ACTOR)
    pem = public_key(hub)
    assert verify_receipt(token, pem)["pii_principal"] == {"kind": "community", "ref": "340101-04"}
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, char in enumerate(token):
        other = alphabet[(alphabet.index(char) + 1) % len(alphabet)]
        try:
            verify_receipt(token[:i] + other + token[i + 1:], pem)
        except SignatureError:
            continue
        raise AssertionError(f"a receipt changed at character {i} still verifies")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hub.signing import public_pem
    try:
        verify_receipt(token, public_pem(Ed25519PrivateKey.generate()))
    except SignatureError as exc:
        assert "not by the key given" in str(exc)
    else:
        raise AssertionError("a receipt verified under another key")


def test_the_surveys_paper_consent_becomes_household_decisions(hub, cli, tmp_path):
    ingest(hub, "university_survey", SURVEY)
    surveyed = len(households(hub, "university_survey"))
    first = cli("consent", "import-evidence")
    assert first.exit_code == 0 and f"decisions recorded: {2 * surveyed}, changed: 0" in first.stdout
    again = cli("consent", "import-evidence")
    assert "decisions recorded: 0, changed: 0" in again.stdout
    listed = cli("consent", "list")
    assert listed.stdout.count("paper form signed at the survey visit, before a witness") == 2 * surveyed

    # the household re-submitted its survey: no longer willing to share its data with agencies
    latest = {}
    for line in SURVEY.read_text("utf-8").splitlines():
        try:
            latest[json.loads(line)["survey_id"]] = json.loads(line)
        except (ValueError, KeyError):
            continue
    changed = latest["UBU-2566-000345"]
    changed["consent"]["share_with_agencies"] = False
    (tmp_path / "resubmitted.ndjson").write_text(json.dumps(changed, ensure_ascii=False) + "\n", "utf-8")
    ingest(hub, "university_survey", tmp_path / "resubmitted.ndjson")
    third = cli("consent", "import-evidence")
    assert "decisions recorded: 0, changed: 1" in third.stdout
    withdrawn = cli("consent", "list", "--status", "withdrawn")
    assert withdrawn.stdout.count("welfare_referral") == 1
