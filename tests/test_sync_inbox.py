"""File partners: a partner process drops files into the source's inbox (or uploads them through the API);
the hub ingests each file once, never one half written, and a file delivered twice writes nothing again."""
from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import select

from helpers import ACTOR, EEF_2566_2, TPMAP, TPMAP_LATER, records, serve_api, squash
from hub.context import Hub
from hub.db.schema import ingest_runs
from hub.sync.inbox import sync_inbox
from hub.tokens import issue


def inbox_hub(settings, tmp_path) -> tuple[Hub, object]:
    inbox = tmp_path / "inbox" / "tpmap"
    inbox.mkdir(parents=True)
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[tpmap]\ninbox = "{inbox}"\n', encoding="utf-8")
    hub, _ = Hub.init(settings.model_copy(update={"sources_file": sources}))
    return hub, inbox


def partner(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simulators.file_partner", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def completed_runs(hub: Hub) -> list:
    with hub.engine.connect() as conn:
        return conn.execute(select(ingest_runs).where(ingest_runs.c.status == "completed")
                            .order_by(ingest_runs.c.id)).all()


def test_files_dropped_while_the_hub_watches_are_each_ingested_once(settings, tmp_path):
    hub, inbox = inbox_hub(settings, tmp_path)
    delivering = partner("--inbox", inbox, "--every", "0.3", TPMAP, TPMAP_LATER)
    taken = []
    while delivering.poll() is None:
        taken += [r.path.name for r in sync_inbox(hub, "tpmap", actor=ACTOR).ingested]
    taken += [r.path.name for r in sync_inbox(hub, "tpmap", actor=ACTOR).ingested]
    assert delivering.returncode == 0, delivering.stderr.read()
    assert taken == [TPMAP.name, TPMAP_LATER.name]  # in delivery order, each once, none half written
    assert sorted(p.name for p in (inbox / "done").iterdir()) == sorted(taken)
    assert not [p for p in inbox.iterdir() if p.is_file()]
    stored = len(records(hub, "tpmap"))
    redelivered = partner("--inbox", inbox, TPMAP)
    assert redelivered.wait(30) == 0
    again, = sync_inbox(hub, "tpmap", actor=ACTOR).ingested
    assert again.replay and again.inserted == again.updated == 0 and len(records(hub, "tpmap")) == stored


def test_a_file_that_cannot_be_read_is_set_aside_with_its_reason_and_the_rest_go_in(settings, tmp_path):
    hub, inbox = inbox_hub(settings, tmp_path)
    assert partner("--inbox", inbox, EEF_2566_2, TPMAP).wait(30) == 0  # an EEF file in TPMAP's inbox
    report = sync_inbox(hub, "tpmap", actor=ACTOR)
    assert [r.path.name for r in report.ingested] == [TPMAP.name]
    assert list(report.failed) == [EEF_2566_2.name]
    reason = (inbox / "failed" / f"{EEF_2566_2.name}.reason.txt").read_text()
    assert reason.strip() == report.failed[EEF_2566_2.name] and "header" in reason.lower()


def test_a_partner_uploads_through_the_api(hub):
    token = issue(hub, role="partner", subject="tpmap-desk", partner="tpmap", actor=ACTOR)
    with serve_api(hub) as api:
        base = f"{api.base_url.scheme}://{api.base_url.netloc.decode()}"
        uploading = partner("--upload", base, "--token", token, "--source", "tpmap", TPMAP)
        out, err = uploading.communicate(timeout=120)
    assert uploading.returncode == 0, err
    assert f"uploaded {TPMAP.name}" in out
    assert [r.file_name.endswith(TPMAP.name) for r in completed_runs(hub)] == [True]
    assert records(hub, "tpmap")


def test_a_sources_file_that_is_wrong_names_the_source_and_the_field(settings, tmp_path, cli, monkeypatch):
    sources = tmp_path / "sources.toml"
    sources.write_text('[tpmap]\ninbox = "in"\n\n[msdhs_logbook.api]\nbase_url = "ftp://x"\n', encoding="utf-8")
    monkeypatch.setenv("HUB_SOURCES_FILE", str(sources))
    assert cli("init").exit_code == 0
    result = cli("sync", "msdhs_logbook")
    assert result.exit_code == 1
    assert squash("[msdhs_logbook] api.base_url: String should match pattern") in squash(result.stdout)


def test_hub_status_reports_a_failed_sync_and_its_reason(settings, tmp_path, cli, monkeypatch):
    hub, inbox = inbox_hub(settings, tmp_path)
    monkeypatch.setenv("HUB_SOURCES_FILE", str(hub.settings.resolved_sources_file))
    (inbox / "broken.csv").write_text("not,a,tpmap,header\n")
    assert cli("sync", "tpmap").exit_code == 1
    status = {s["source"]: s for s in json.loads(cli("status", "--json").stdout)}
    assert "broken.csv" in status["tpmap"]["last_failure_reason"]
    assert status["tpmap"]["reached_by"] == f"inbox {inbox}" and status["tpmap"]["backlog"] == "0 file(s) waiting"
    assert status["msdhs_logbook"]["reached_by"] == "not registered"
