"""``hub backup`` and ``hub restore`` on the backend under test (SQLite's backup API, or pg_dump and
pg_restore against the real server): what was stored after a backup is gone after restoring it, the log
verifies, the restore is audited, the hub's witness of the lost events is set aside for auditors (whose own
later witness names the truncation), and a file that is no backup changes nothing."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from audit.access import verify
from helpers import EEF_2566_2, TPMAP
from hub.context import Hub
from hub.db.backup import BackupError, back_up, restore
from hub.db.schema import audit_events, source_records
from hub.pipeline.ingest import ingest_file


def records(hub: Hub) -> int:
    with hub.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(source_records))


def test_a_restore_brings_back_the_backup_and_says_what_was_lost(hub, settings, tmp_path, cli):
    ingest_file(hub, "tpmap", TPMAP, actor="test")
    before = records(hub)
    taken = back_up(hub, tmp_path / "hub.backup", actor="test")
    assert taken.size > 0
    ingest_file(hub, "eef_students", EEF_2566_2, actor="test")
    assert records(hub) > before
    assert cli("audit", "checkpoint", "--export", tmp_path / "auditor.json").exit_code == 0
    hub.engine.dispose()

    result = cli("restore", tmp_path / "hub.backup", "--yes")
    assert result.exit_code == 0, result.output
    restored = Hub.open(settings)
    try:
        assert records(restored) == before
        assert verify(restored).intact
        with restored.engine.connect() as conn:
            action, details = conn.execute(select(audit_events.c.action, audit_events.c.details)
                                           .order_by(audit_events.c.seq.desc()).limit(1)).one()
        details = json.loads(details)
        assert action == "backup.restored" and details["restored_seq"] == taken.audit_seq
        assert details["lost_after_checkpoint"] is not None
        kept = settings.resolved_keys_dir / details["witness_kept"]
        assert kept.is_file()
    finally:
        restored.engine.dispose()
    lost = cli("audit", "verify", "--witness", tmp_path / "auditor.json")
    assert lost.exit_code == 1 and "truncated below a signed head" in lost.stdout + lost.stderr


def test_a_backup_never_overwrites_and_a_bad_file_restores_nothing(hub, settings, tmp_path):
    ingest_file(hub, "tpmap", TPMAP, actor="test")
    (tmp_path / "taken").write_text("a file already there")
    with pytest.raises(BackupError, match="never overwrites"):
        back_up(hub, tmp_path / "taken", actor="test")
    stored = records(hub)
    hub.engine.dispose()
    with pytest.raises(BackupError):
        restore(settings, tmp_path / "taken", actor="test")
    again = Hub.open(settings)
    try:
        assert records(again) == stored and verify(again).intact
    finally:
        again.engine.dispose()
