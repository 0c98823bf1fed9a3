"""A person's rights, through the command line: access to everything held about them, a correction that
waits for review, and erasure by destroying their own data keys (crypto-shredding), which reaches copies
of their ciphertexts, later deliveries and, once the wrapping keys rotate, older backups."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from audit.access import verify
from consent.subjects import citizen_ref
from helpers import ACTOR, SURVEY, TPMAP, decrypt_record_field, ingest, ingest_all
from hub.context import Hub
from hub.crypto import aad, subject_key_id
from hub.db.schema import audit_events, source_records, subject_keys, subject_requests
from hub.errors import KeyringError
from hub.linking.run import link
from hub.subject_keys import SubjectKeyGone, SubjectKeys

SOMCHAI, CHANPEN = "1101400123451", "3401001234821"


def records_of(hub, cid: str) -> list:
    key = bytes.fromhex(citizen_ref(hub.keyring, cid)[4:])
    with hub.engine.connect() as conn:
        return conn.execute(select(source_records).where(source_records.c.linkage_key == key)).all()


def test_a_persons_records_in_every_source_share_one_key_of_their_own(hub):
    ingest_all(hub)
    somchai, chanpen = records_of(hub, SOMCHAI), records_of(hub, CHANPEN)
    assert {r.source for r in somchai} == {"tpmap", "university_survey"}
    assert len({subject_key_id(r.first_name_enc) for r in somchai}) == 1
    assert {subject_key_id(r.first_name_enc) for r in somchai}.isdisjoint(
        {subject_key_id(r.first_name_enc) for r in chanpen})
    with hub.engine.connect() as conn:
        no_id = conn.execute(select(source_records).where(source_records.c.linkage_key.is_(None))).all()
    assert len({subject_key_id(r.first_name_enc) for r in no_id}) == len(no_id) > 0  # a key per record
    assert decrypt_record_field(hub, somchai[0], "first_name") == "สมชาย"


def test_access_hands_the_person_everything_held_about_them(hub, cli, tmp_path):
    ingest_all(hub)
    link(hub, actor=ACTOR)
    out = tmp_path / "somchai.json"
    result = cli("rights", "access", "--citizen-id", SOMCHAI, "--out", out)
    assert result.exit_code == 0, result.stderr
    text = out.read_text("utf-8")
    assert "สมชาย" in text and "\\u0e" not in text  # Thai as UTF-8, readable
    document = json.loads(text)
    assert {r["source"] for r in document["records"]} == {"tpmap", "university_survey"}
    assert {r["first_name"] for r in document["records"]} == {"สมชาย"}
    assert document["households"] and SOMCHAI not in text
    with hub.engine.connect() as conn:
        event = conn.execute(select(audit_events.c.action, audit_events.c.details)
                             .order_by(audit_events.c.seq.desc()).limit(1)).one()
    assert event.action == "rights.request" and '"kind":"access"' in event.details


def test_a_correction_waits_encrypted_until_it_is_closed(hub, cli):
    ingest_all(hub)
    opened = cli("rights", "rectify", "--citizen-id", CHANPEN, "--field", "birth_date", "--correct", "1966-10-10",
                 "--evidence", "บัตรประชาชน")
    assert opened.exit_code == 0 and "open" in opened.stdout
    with hub.engine.connect() as conn:
        request = conn.execute(select(subject_requests)).one()
    assert "1966-10-10" not in json.dumps(request.details) and request.status == "open"
    assert "\trectify\t" in cli("rights", "list", "--open").stdout
    assert cli("rights", "close", request.id, "--outcome", "the survey team re-submitted the record").exit_code == 0
    assert "rectify" not in cli("rights", "list", "--open").stdout
    bad = cli("rights", "rectify", "--citizen-id", CHANPEN, "--field", "welfare_card", "--correct", "x",
              "--evidence", "y")
    assert bad.exit_code == 1 and "may ask to correct" in bad.stderr


def test_erasure_destroys_the_key_so_every_copy_is_noise_and_ingest_refuses_them(hub, cli, settings, tmp_path):
    ingest_all(hub)
    link(hub, actor=ACTOR)
    before = records_of(hub, CHANPEN)
    copies = [(r.first_name_enc, aad("source_records", r.source, r.record_id, "first_name")) for r in before]
    key_id = subject_key_id(before[0].first_name_enc)
    with hub.engine.connect() as conn:
        backup = conn.execute(select(subject_keys.c.anchor, subject_keys.c.wrapped)
                              .where(subject_keys.c.id == key_id)).one()  # what a backup would hold

    refused = cli("rights", "erase", "--citizen-id", CHANPEN, "--basis", "คำขอลบข้อมูล 1 ธ.ค. 2569")
    assert refused.exit_code == 1 and "--yes" in refused.stderr
    erased = cli("rights", "erase", "--citizen-id", CHANPEN, "--basis", "คำขอลบข้อมูล 1 ธ.ค. 2569", "--yes")
    assert erased.exit_code == 0, erased.stderr
    assert f"{len(before)} record(s) erased, 1 data key(s) destroyed" in erased.stdout
    assert records_of(hub, CHANPEN) == []

    fresh = Hub.open(settings)  # another process: nothing cached
    for blob, associated in copies:
        with pytest.raises(SubjectKeyGone):
            fresh.cipher.decrypt(blob, associated)
    redelivered = tmp_path / "survey_again.ndjson"  # the partner sends its file again, as a new delivery
    redelivered.write_text(SURVEY.read_text("utf-8") + "\n", "utf-8")
    report = ingest(fresh, "university_survey", redelivered)
    assert report.erased >= 1 and records_of(fresh, CHANPEN) == []
    assert records_of(fresh, SOMCHAI)  # the rest of her household's survey went in

    # a backup taken before the erasure still unwraps her key, until the wrapping keys rotate
    old = SubjectKeys(fresh.keyring)
    assert old._unwrap(bytes(backup.anchor), bytes(backup.wrapped))
    rotated = cli("keys", "rotate-subject-keys")
    assert rotated.exit_code == 0 and "re-wrapped under subject wrapping key 2" in rotated.stdout
    after = Hub.open(settings)
    with pytest.raises(KeyringError, match="no longer holds"):
        SubjectKeys(after.keyring)._unwrap(bytes(backup.anchor), bytes(backup.wrapped))
    somchai = records_of(after, SOMCHAI)
    assert {decrypt_record_field(after, r, "first_name") for r in somchai} == {"สมชาย"}  # the living stay readable
    assert verify(after).intact


def test_a_tpmap_redelivery_after_erasure_is_counted_not_stored(hub, cli, tmp_path):
    ingest(hub, "tpmap", TPMAP)
    assert cli("rights", "erase", "--citizen-id", SOMCHAI, "--basis", "คำขอ", "--yes").exit_code == 0
    redelivered = tmp_path / "tpmap_again.csv"
    redelivered.write_bytes(TPMAP.read_bytes() + b"\r\n")
    again = cli("ingest", "tpmap", redelivered)
    assert again.exit_code == 0 and "of erased persons not stored" in again.stdout
    assert records_of(hub, SOMCHAI) == []
