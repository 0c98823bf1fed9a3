"""Key rotation through ``hub keys rotate``, and keys kept outside the database."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from helpers import LOGBOOK_JUNE, SURVEY, TPMAP, decrypt_record_field, ingest, ingest_all, records, snapshot, squash
from hub.context import Hub
from hub.db.schema import audit_events, quarantine
from hub.errors import ConfigurationError
from hub.settings import Settings


def kek_files(hub) -> list[str]:
    return sorted(p.name for p in hub.settings.resolved_keys_dir.glob("kek-*.key"))


def test_rotating_keys_replaces_the_kek_file_and_removes_the_old_one(hub, cli):
    old_id = hub.keyring.kek_id
    old_kek = (hub.settings.resolved_keys_dir / f"kek-{old_id}.key").read_bytes()
    old_ring = (hub.settings.resolved_keys_dir / "keyring.json").read_text()
    result = cli("keys", "rotate")
    assert result.exit_code == 0, result.output
    reopened = Hub.open(hub.settings)
    try:
        new_id = reopened.keyring.kek_id
        assert new_id != old_id
        assert f"{old_id} -> {new_id}" in result.stdout
        assert kek_files(hub) == [f"kek-{new_id}.key"]
        assert (hub.settings.resolved_keys_dir / f"kek-{new_id}.key").read_bytes() != old_kek
        ring_doc = json.loads((hub.settings.resolved_keys_dir / "keyring.json").read_text())
        assert ring_doc["kek_id"] == new_id
        assert ring_doc["keys"] != json.loads(old_ring)["keys"]  # every secret re-wrapped
        # the secrets themselves are unchanged, so no ciphertext or linkage key has to change
        assert reopened.keyring.deks == hub.keyring.deks
        assert reopened.keyring.linkage_secret == hub.keyring.linkage_secret
    finally:
        reopened.engine.dispose()


def test_rotation_is_audited(hub, cli):
    old_id = hub.keyring.kek_id
    cli("keys", "rotate")
    with hub.engine.connect() as conn:
        last = conn.execute(select(audit_events).order_by(audit_events.c.seq.desc()).limit(1)).one()
    details = json.loads(last.details)
    assert (last.action, last.resource) == ("keys.rotated", "keys")
    assert details["old_kek_id"] == old_id
    assert kek_files(hub) == [f"kek-{details['new_kek_id']}.key"]


def test_data_still_decrypts_after_rotation(hub, cli):
    ingest(hub, "tpmap", TPMAP)
    with hub.engine.connect() as conn:
        qid = conn.scalar(select(quarantine.c.id).where(quarantine.c.line == 7))
    before = snapshot(hub.engine)
    assert cli("keys", "rotate").exit_code == 0
    assert cli("keys", "rotate").exit_code == 0  # twice: the first new KEK is gone too
    assert snapshot(hub.engine) == before  # no stored ciphertext changed
    shown = cli("quarantine", "show", qid, "--reason", "after rotation")
    assert shown.exit_code == 0, shown.output
    assert "TP66-3401-0000006" in shown.stdout and "บุษบา" in shown.stdout
    reopened = Hub.open(hub.settings)
    try:
        row = records(reopened, "tpmap")["TP66-3401-0000001"]
        assert decrypt_record_field(reopened, row, "first_name") == "สมพร"
    finally:
        reopened.engine.dispose()


def test_ingest_after_rotation_recognises_unchanged_records(hub, cli, tmp_path):
    ingest_all(hub)
    before = snapshot(hub.engine)
    assert cli("keys", "rotate").exit_code == 0
    # the same survey records in a file with other bytes (a trailing blank line): not a replay of a file
    # already seen, so every record goes through the change detection
    resent = tmp_path / "survey_resent.ndjson"
    resent.write_bytes(SURVEY.read_bytes() + b"\n")
    result = cli("ingest", "university_survey", resent)
    assert result.exit_code == 0, result.output
    assert "rows read 5, accepted 4, quarantined 1 (records: 0 new, 0 updated, 7 unchanged" in result.stdout
    after = snapshot(hub.engine)
    assert after["source_records"] == before["source_records"]
    assert after["source_households"] == before["source_households"]
    result = cli("ingest", "tpmap", TPMAP)
    assert result.exit_code == 0


def test_linkage_keys_are_the_same_after_rotation(hub, cli, tmp_path):
    ingest(hub, "tpmap", TPMAP)
    before = records(hub, "tpmap")
    assert cli("keys", "rotate").exit_code == 0
    reopened = Hub.open(hub.settings)
    try:
        ingest(reopened, "msdhs_logbook", LOGBOOK_JUNE)
        logbook = records(reopened, "msdhs_logbook")
        assert logbook["LB-3401-000101/1"].linkage_key == before["TP66-3401-0000001"].linkage_key
    finally:
        reopened.engine.dispose()


def test_a_hub_without_its_keys_does_not_open_and_points_at_hub_init(hub, cli):
    for path in hub.settings.resolved_keys_dir.iterdir():
        path.unlink()
    with pytest.raises(ConfigurationError, match="hub init"):
        Hub.open(hub.settings)
    result = cli("ingest", "tpmap", TPMAP)
    assert result.exit_code == 1
    assert "run`hubinit`first" in squash(result.stderr)


def test_keys_can_live_outside_hub_home(settings, tmp_path, monkeypatch):
    elsewhere = tmp_path / "mounted-secret"
    monkeypatch.setenv("HUB_KEYS_DIR", str(elsewhere))
    moved = Settings()
    hub, created = Hub.init(moved)
    try:
        assert created
        assert (elsewhere / "keyring.json").is_file()
        assert not (moved.resolved_home / "keys").exists()
        ingest(hub, "tpmap", TPMAP)
        assert len(records(hub, "tpmap")) == 8
    finally:
        hub.engine.dispose()


def test_a_keyring_older_than_signing_and_per_person_keys_gains_them_at_hub_init(hub, cli):
    ring_file = hub.settings.resolved_keys_dir / "keyring.json"
    doc = json.loads(ring_file.read_text())
    # the audit key stays: a hub whose keyring lacks it never signed a checkpoint, and a new key could not
    # verify (nor, so, continue from) the checkpoints this one has signed
    doc["keys"] = {name: value for name, value in doc["keys"].items()
                   if name == "sign-audit" or not name.startswith(("sign-", "swk-"))}
    ring_file.write_text(json.dumps(doc))
    missing = r"lacks secrets .*\(sign-receipts, sign-tokens, sign-webhooks, swk-1\); run `hub init`"
    with pytest.raises(ConfigurationError, match=missing):
        Hub.open(hub.settings)
    assert cli("init").exit_code == 0
    upgraded = Hub.open(hub.settings)
    assert set(upgraded.keyring.signing) == {"receipts", "tokens", "audit", "webhooks"}
    assert list(upgraded.keyring.subject_wraps) == [1]
    assert ingest(upgraded, "tpmap", TPMAP).inserted > 0
    with upgraded.engine.connect() as conn:
        details = conn.execute(select(audit_events.c.details).where(audit_events.c.action == "keys.created")
                               .order_by(audit_events.c.seq.desc()).limit(1)).scalar_one()
    assert json.loads(details)["secrets"] == ["sign-receipts", "sign-tokens", "sign-webhooks", "swk-1"]
