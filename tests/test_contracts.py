"""Contracts: the shipped agreements load and fit the hub; a wrong one is refused with the file and the
field named; ingest takes only what a contract allows; each version is recorded once in the audit log."""
from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from sqlalchemy import select, update

from contracts.checks import check_contracts
from contracts.load import BUILT_IN, load_contracts
from helpers import ACTOR, EEF_2566_2, TPMAP, contracts_with, ingest, records, squash
from hub.context import Hub
from hub.db.schema import audit_events, ingest_runs, source_records
from hub.errors import ContractViolation
from hub.pipeline.ingest import ingest_file

SHIPPED = {"tpmap", "msdhs", "eef", "university_ubu", "university_cmu", "provincial_policy", "community_data_return",
           "open_data"}


def _check(hub, directory):
    check_contracts(load_contracts([directory]), adapters=hub.adapters, purposes=hub.purposes)


def _edited(tmp_path, name: str, old: str, new: str):
    directory = tmp_path / "edited"
    shutil.copytree(BUILT_IN, directory)
    path = directory / f"{name}.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return directory


def test_the_shipped_contracts_load_and_fit_the_hub(hub):
    assert {c.contract.id for c in hub.contracts} == SHIPPED
    assert hub.contracts.taken_fields("university_survey") >= {"capitals", "verification", "tambon_code"}
    assert "location" not in hub.contracts.taken_fields("university_survey")


@pytest.mark.parametrize(("name", "old", "new", "message"), [
    ("tpmap", '"welfare_card", "dimensions"', '"welfare_card", "religion", "dimensions"',
     "tpmap.toml: source tpmap: tpmap yields no field(s) religion"),
    ("tpmap", 'fields = ["citizen_id", "title", "first_name", "last_name", "birth_date", "sex", "tambon_code", ',
     'fields = ["citizen_id", "title", "first_name", "last_name", "birth_date", "sex", ',
     "the hub cannot place a record without tambon_code"),
    ("eef", 'purpose = "education_support"\nlevel = "tambon"', 'purpose = "marketing"\nlevel = "tambon"',
     "purpose 'marketing' is not one of the contract's"),
    ("open_data", 'figures = ["households", "tpmap", "coverage"]', 'figures = ["households", "capitals"]',
     "a public view publishes counts only; capital_human_sum"),
    ("eef", 'age = { transform = "generalise", to = "5y" }', 'age = { transform = "generalise", to = "3y" }',
     "field age generalises to one of year, 5y, 10y, 20y, any, not '3y'"),
    ("eef", 'quasi_identifiers = ["area", "sex", "age", "grade"]', 'quasi_identifiers = ["area", "sex", "income"]',
     "quasi_identifiers ['income'] are not among the view's fields"),
    ("msdhs", 'household = { transform = "pseudonymise" }', 'household = { transform = "keep" }',
     "field household cannot be 'keep'"),
    ("msdhs", 'quasi_identifiers = ["area", "household_size"]', 'quasi_identifiers = ["area"]',
     "field household_size can single a person out (it has a generalisation ladder): list it in quasi_identifiers"),
    ("tpmap", 'version = "2026.1"', 'version = "2026.1"\nsigned = "yes"', "signed: Extra inputs are not permitted"),
    ("tpmap", 'id = "tpmap"', 'id = "tpmap_v2"', "tpmap.toml: the file is named after its contract id"),
    ("tpmap", "retention_days = 1825", "retention_days = ", "not valid UTF-8 TOML"),
    # universities share the survey source: each marks its own surveys, and no two the same ones
    ("university_cmu", 'own_records = { university = "มหาวิทยาลัยเชียงใหม่" }', "",
     "university_cmu.toml and university_ubu.toml both take it, and only one marks its own records"),
    ("university_cmu", 'university = "มหาวิทยาลัยเชียงใหม่"', 'university = " มหาวิทยาลัยอุบลราชธานี"',
     "mark the same records as their own"),
    ("university_ubu", "own_records = { university =", "own_records = { surveyor =",
     "own_records marks records by surveyor, a field the contract does not take"),
])
def test_a_wrong_contract_is_refused_naming_the_file_and_the_problem(hub, tmp_path, name, old, new, message):
    with pytest.raises(ContractViolation) as caught:
        _check(hub, _edited(tmp_path, name, old, new))
    assert squash(message) in squash(str(caught.value))


def test_ingest_refuses_a_source_no_contract_covers(settings, tmp_path):
    directory = tmp_path / "only-eef"
    directory.mkdir()
    shutil.copy(BUILT_IN / "eef.toml", directory)
    hub, _ = Hub.init(settings.model_copy(update={"contracts_dir": directory}))
    try:
        with pytest.raises(ContractViolation, match="no contract lets the hub take data from tpmap"):
            ingest_file(hub, "tpmap", TPMAP, actor=ACTOR)
        with hub.engine.connect() as conn:
            actions = list(conn.scalars(select(audit_events.c.action)))
        assert actions[-1] == "ingest.failed"
    finally:
        hub.engine.dispose()


def test_a_field_no_contract_allows_is_not_stored_and_the_report_names_it(settings, tmp_path):
    directory = _edited(tmp_path, "tpmap", '"failed_indicators", ', "")
    hub, _ = Hub.init(settings.model_copy(update={"contracts_dir": directory}))
    try:
        report = ingest(hub, "tpmap", TPMAP)
        assert report.fields_refused == {"failed_indicators"}
        with hub.engine.connect() as conn:
            stored = [json.loads(a) if isinstance(a, str) else a
                      for a in conn.scalars(select(source_records.c.attributes))]
            event = json.loads(conn.scalar(select(audit_events.c.details).where(
                audit_events.c.action == "ingest.completed")))
        assert stored and all("failed_indicators" not in a and "dimensions" in a for a in stored)
        assert event["fields_refused"] == ["failed_indicators"]
    finally:
        hub.engine.dispose()


def test_each_contract_version_is_recorded_once_with_its_digest(hub, tmp_path, settings):
    ingest(hub, "tpmap", TPMAP)
    ingest(hub, "tpmap", TPMAP)
    with hub.engine.connect() as conn:
        loaded = [json.loads(d) for d in conn.scalars(select(audit_events.c.details).where(
            audit_events.c.action == "contract.loaded"))]
    assert sorted(e["file"] for e in loaded) == sorted(f"{name}.toml" for name in SHIPPED)
    assert {e["sha256"] for e in loaded} == {c.sha256 for c in hub.contracts}
    changed = contracts_with(settings, tmp_path / "changed")
    path = changed.contracts_dir / "tpmap.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('version = "2026.1"', 'version = "2026.2"'),
                    encoding="utf-8")
    newer = Hub.open(changed)
    try:
        ingest(newer, "tpmap", TPMAP)
        with newer.engine.connect() as conn:
            versions = [json.loads(d)["version"] for d in conn.scalars(select(audit_events.c.details).where(
                audit_events.c.action == "contract.loaded", audit_events.c.resource == "contract:tpmap"))]
        assert versions == ["2026.1", "2026.2"]
    finally:
        newer.engine.dispose()


def test_the_contracts_commands(hub, cli):
    listed = cli("contracts", "list")
    assert listed.exit_code == 0 and all(name in listed.stdout for name in SHIPPED)
    checked = cli("contracts", "check")
    assert checked.exit_code == 0 and "8 contract(s) valid" in checked.stdout
    shown = cli("contracts", "show", "university_ubu")
    assert shown.exit_code == 0 and "มหาวิทยาลัยอุบลราชธานี" in shown.stdout
    schema = cli("contracts", "schema")
    assert schema.exit_code == 0 and '"quasi_identifiers"' in schema.stdout


def _age_runs(hub, source: str, days: int) -> None:
    """Make ``source``'s ingest runs look ``days`` old."""
    with hub.engine.begin() as conn:
        conn.execute(update(ingest_runs).where(ingest_runs.c.source == source).values(
            finished_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days)))


def test_records_past_their_contracts_retention_are_deleted_and_audited(hub, cli):
    ingest(hub, "tpmap", TPMAP)
    ingest(hub, "eef_students", EEF_2566_2)
    _age_runs(hub, "tpmap", 1826)  # the TPMAP contract keeps 1,825 days from the last delivery
    _age_runs(hub, "eef_students", 2000)  # EEF's keeps 2,555
    listed = cli("contracts", "retention")
    assert listed.exit_code == 0
    assert "tpmap\t1825 days\t8\t8\t0" in listed.stdout and "eef_students\t2555 days\t" in listed.stdout
    assert len(records(hub, "tpmap")) == 8  # looking deletes nothing
    applied = cli("contracts", "retention", "--apply")
    assert applied.exit_code == 0
    assert records(hub, "tpmap") == {} and records(hub, "eef_students")
    with hub.engine.connect() as conn:
        event = conn.execute(select(audit_events).where(audit_events.c.action == "retention.applied")).one()
    assert event.resource == "source:tpmap"
    assert json.loads(event.details) == {"retention": "1825 days", "records_deleted": 8, "households_deleted": 0}


def test_a_source_no_contract_covers_any_longer_has_no_retention(settings, tmp_path):
    from contracts import retention

    hub, _ = Hub.init(settings)
    try:
        ingest(hub, "tpmap", TPMAP)
    finally:
        hub.engine.dispose()
    directory = tmp_path / "without-tpmap"
    shutil.copytree(BUILT_IN, directory)
    (directory / "tpmap.toml").unlink()
    later = Hub.open(settings.model_copy(update={"contracts_dir": directory}))
    try:
        with later.engine.connect() as conn:
            found = {r.source: r for r in retention.review(conn, later.contracts, now=dt.datetime.now(dt.UTC))}
        assert found["tpmap"].retention_days is None and found["tpmap"].overdue == 8
        retention.apply(later, actor=ACTOR)
        assert records(later, "tpmap") == {}
    finally:
        later.engine.dispose()


def test_loading_the_cli_and_checking_contracts_starts_no_thread():
    """Ingest reads in a forked process only while the hub is single-threaded (hub.pipeline.background);
    numpy starts a thread when imported, so the ingest path (the CLI, contract checks) must not import it."""
    import subprocess
    import sys

    code = ("import os\nimport hub.cli\nfrom contracts.checks import check_contracts\n"
            "from contracts.load import BUILT_IN, load_contracts\nfrom hub.context import collect_adapters\n"
            "from hub.plugins.manager import get_plugin_manager\npm = get_plugin_manager()\n"
            "purposes = {n: t for p in pm.hook.saphan_register_purposes() for n, t in p.items()}\n"
            "check_contracts(load_contracts([BUILT_IN]), adapters=collect_adapters(pm), purposes=purposes)\n"
            "print(len(os.listdir('/proc/self/task')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
