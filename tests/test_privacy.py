"""No clear personal data at rest: the database is scanned for every citizen ID, name and house code of
the partner files; ciphertexts are bound to their row and field; keys never enter the database."""
from __future__ import annotations

import base64
import os
import stat

import pytest
from sqlalchemy import select, update

from helpers import (
    ALL_FILES,
    LOGBOOK_JUNE,
    TPMAP,
    database_bytes,
    decrypt_record_field,
    ingest,
    ingest_all,
    is_postgres,
    partner_pii,
    records,
)
from hub.crypto import aad
from hub.db.schema import audit_events, quarantine, source_records
from hub.errors import KeyringError
from hub.keys import Keyring


@pytest.fixture
def loaded(hub, cli):
    """A hub holding every partner file and a quarantined row read back (so the audit log has ingest,
    quarantine and read events), with its engine's connections closed."""
    ingest_all(hub)
    with hub.engine.connect() as conn:
        qid = conn.scalar(select(quarantine.c.id).order_by(quarantine.c.id).limit(1))
    assert cli("quarantine", "show", qid, "--reason", "privacy test").exit_code == 0
    hub.engine.dispose()
    return hub


def test_the_partner_files_really_contain_the_personal_values_we_look_for():
    pii = partner_pii()
    assert {"3401001234562", "3-4010-01234-56-2", "1 1014 00123 45 1", "3401001234716"} <= pii["citizen_id"]
    assert {"สมพร", "ใจดี", "สมชาย", "นายสมชาย", "ทองคำ, ณ อุบล", "บุษบา", "เอกชัย", "คำปันแก้",
            "นายบุญมี ศรีวงศ์ ผู้ใหญ่บ้านหมู่ 4"} <= pii["name"]
    assert {"34010012345", "34010700021", "34010100100"} <= pii["house_code"]
    assert len(pii["citizen_id"]) > 60 and len(pii["name"]) > 40


def test_the_database_holds_no_clear_citizen_id_name_or_house_code(loaded):
    blob = database_bytes(loaded)
    found = {kind: sorted(v for v in values if v.encode("utf-8") in blob) for kind, values in partner_pii().items()}
    assert found == {"citizen_id": [], "name": [], "house_code": []}


def test_the_scan_would_see_clear_text_if_there_were_any(loaded):
    # Positive control: non-personal text stored in clear is found by the very same scan.
    blob = database_bytes(loaded)
    for clear in ("มหาวิทยาลัยอุบลราชธานี", "โรงเรียนเบ็ญจะมะมหาราช, อุบลราชธานี", "TP66-3401-0000001", "340108",
                  "LB-3401-000102/1", "สปสช.", "title_glued_to_first_name"):
        assert clear.encode("utf-8") in blob, clear
    if not is_postgres(loaded.engine):  # the raw files themselves, not only the values, are scanned
        home = loaded.settings.resolved_home
        raw = b"".join(p.read_bytes() for p in (home / "hub.db", home / "hub.db-wal") if p.exists())
        assert "มหาวิทยาลัยอุบลราชธานี".encode() in raw


def test_personal_fields_are_stored_as_ciphertexts_that_decrypt(hub):
    ingest(hub, "tpmap", TPMAP)
    row = records(hub, "tpmap")["TP66-3401-0000001"]
    assert isinstance(row.first_name_enc, bytes) and len(row.first_name_enc) > 15 + 16
    assert decrypt_record_field(hub, row, "first_name") == "สมพร"
    assert decrypt_record_field(hub, row, "last_name") == "ใจดี"
    assert decrypt_record_field(hub, row, "birth_date") == "1967-02-14"
    assert decrypt_record_field(hub, row, "house_code") == "34010012345"
    assert len(row.linkage_key) == 32 and len(row.house_key) == 32


def test_a_ciphertext_copied_to_another_row_does_not_decrypt(hub):
    ingest(hub, "tpmap", TPMAP)
    stored = records(hub, "tpmap")
    a, b = stored["TP66-3401-0000001"], stored["TP66-3401-0000002"]
    r = source_records
    with hub.engine.begin() as conn:
        conn.execute(update(r).where(r.c.id == b.id).values(first_name_enc=a.first_name_enc))
    moved = records(hub, "tpmap")["TP66-3401-0000002"]
    with pytest.raises(KeyringError, match="moved or tampered"):
        decrypt_record_field(hub, moved, "first_name")
    assert decrypt_record_field(hub, records(hub, "tpmap")["TP66-3401-0000001"], "first_name") == "สมพร"


def test_a_ciphertext_moved_to_another_field_or_table_does_not_decrypt(hub):
    ingest(hub, "tpmap", TPMAP)
    row = records(hub, "tpmap")["TP66-3401-0000001"]
    with pytest.raises(KeyringError):
        hub.cipher.decrypt(row.first_name_enc, aad("source_records", "tpmap", row.record_id, "last_name"))
    with pytest.raises(KeyringError):
        hub.cipher.decrypt(row.first_name_enc, aad("source_records", "eef_students", row.record_id, "first_name"))
    with pytest.raises(KeyringError):
        hub.cipher.decrypt(row.house_code_enc, aad("source_households", "tpmap", row.record_id, "house_code"))


def test_a_tampered_ciphertext_does_not_decrypt(hub):
    ingest(hub, "tpmap", TPMAP)
    row = records(hub, "tpmap")["TP66-3401-0000001"]
    blob = bytearray(row.last_name_enc)
    blob[-1] ^= 1
    with pytest.raises(KeyringError):
        hub.cipher.decrypt(bytes(blob), aad("source_records", "tpmap", row.record_id, "last_name"))
    unknown_key = bytes([1, 0, 9]) + bytes(row.last_name_enc[3:])
    with pytest.raises(KeyringError, match="key 9"):
        hub.cipher.decrypt(unknown_key, aad("source_records", "tpmap", row.record_id, "last_name"))


def test_two_encryptions_of_the_same_name_differ(hub):
    ingest(hub, "msdhs_logbook", LOGBOOK_JUNE)
    stored = records(hub, "msdhs_logbook")
    a, b = stored["LB-3401-000101/1"], stored["LB-3401-000101/2"]
    assert decrypt_record_field(hub, a, "last_name") == decrypt_record_field(hub, b, "last_name") == "ใจดี"
    assert a.last_name_enc != b.last_name_enc


def test_quarantined_raw_rows_are_encrypted_and_bound_to_their_row(hub):
    ingest(hub, "tpmap", TPMAP)
    with hub.engine.connect() as conn:
        rows = conn.execute(select(quarantine).order_by(quarantine.c.line)).all()
    assert [r.line for r in rows] == [7, 9]
    assert "บุษบา".encode() not in rows[0].raw_enc
    assert "บุษบา" in hub.cipher.decrypt(rows[0].raw_enc, aad("quarantine", "tpmap", f"{rows[0].run_id}:7", "raw"))
    with pytest.raises(KeyringError):
        hub.cipher.decrypt(rows[0].raw_enc, aad("quarantine", "tpmap", f"{rows[1].run_id}:9", "raw"))


# ------------------------------------------------------------------------------------------ keys


def test_keys_are_private_files_under_hub_home_keys(hub):
    keys_dir = hub.settings.resolved_home / "keys"
    assert hub.settings.resolved_keys_dir == keys_dir
    names = sorted(p.name for p in keys_dir.iterdir())
    assert names == sorted(["keyring.json", f"kek-{hub.keyring.kek_id}.key", "audit-witness.json"])
    for path in keys_dir.iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert stat.S_IMODE(os.stat(keys_dir).st_mode) & 0o077 == 0
    assert len((keys_dir / f"kek-{hub.keyring.kek_id}.key").read_bytes()) == 32


def _key_material(hub) -> list[bytes]:
    ring = hub.keyring
    kek = (ring.directory / f"kek-{ring.kek_id}.key").read_bytes()
    secrets = [kek, ring.linkage_secret, ring.fingerprint_secret, *ring.deks.values(),
               ring.derived("citizen-id"), ring.derived("house-code")]
    forms = []
    for secret in secrets:
        forms += [secret, secret.hex().encode(), base64.b64encode(secret), secret[:16]]
    return forms


def test_nothing_in_the_database_equals_key_material(loaded):
    blob = database_bytes(loaded)
    assert all(form not in blob for form in _key_material(loaded))
    wrapped = (loaded.keyring.directory / "keyring.json").read_bytes()
    assert wrapped not in blob


def test_the_audit_log_names_no_person(loaded):
    with loaded.engine.connect() as conn:
        events = conn.execute(select(audit_events)).all()
    assert {"keys.created", "ingest.completed", "ingest.quarantined", "quarantine.read"} <= {e.action for e in events}
    details = " ".join(f"{e.actor} {e.resource} {e.details}" for e in events)
    for values in partner_pii().values():
        for value in values:
            assert value not in details


def test_key_material_never_shows_in_a_repr_or_traceback(hub):
    ring = hub.keyring
    shown = repr(ring) + repr(hub)
    secrets = {"linkage_secret": ring.linkage_secret, "fingerprint_secret": ring.fingerprint_secret,
               **{f"dek-{n}": key for n, key in ring.deks.items()}}
    leaked = sorted(name for name, secret in secrets.items() if repr(secret) in shown or secret.hex() in shown)
    assert leaked == [], "repr(Keyring) / repr(Hub) print these secrets"


def test_a_wrong_kek_does_not_open_the_keyring(hub):
    kek_file = hub.keyring.directory / f"kek-{hub.keyring.kek_id}.key"
    kek_file.write_bytes(os.urandom(32))
    with pytest.raises(KeyringError, match="does not unwrap"):
        Keyring.load(hub.keyring.directory)



@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01\x00", b"\x01\x00\x01" + bytes(12)])
def test_a_truncated_ciphertext_is_a_keyring_error(hub, blob):
    with pytest.raises(KeyringError):
        hub.cipher.decrypt(blob, aad("source_records", "tpmap", "TP66-3401-0000001", "first_name"))


def test_command_output_names_no_person(hub, cli):
    outputs = []
    for source, path in ALL_FILES:
        result = cli("ingest", source, path)
        outputs += [result.stdout, result.stderr]
    for args in (("quarantine", "list"), ("sources",), ("audit", "verify")):
        result = cli(*args)
        outputs += [result.stdout, result.stderr]
    shown = "\n".join(outputs)
    assert "rows read" in shown and "capitals.human" in shown
    leaked = sorted(v for values in partner_pii().values() for v in values if v in shown)
    assert leaked == []
