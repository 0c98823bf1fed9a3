"""Plugins: the built-in adapters arrive through the ``saphan.adapters`` entry points, exactly as a third
party's would; an inline adapter works end to end; mistakes in a plugin fail loudly."""
from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from pathlib import Path

import pluggy
import pytest

from helpers import contracts_with, decrypt_record_field, ingest, records, source_contract
from hub.adapter_kit import (
    IDENTITY_FIELDS,
    Adapter,
    Household,
    RecordError,
    SourceRecord,
    hookimpl,
    iter_delimited,
    make_person,
    parse_tambon_code,
    parse_ymd,
)
from hub.context import Hub, collect_adapters
from hub.errors import ConfigurationError
from hub.plugins import hookspecs
from hub.plugins.manager import ENTRY_POINT_GROUP, get_plugin_manager

BUILT_IN = {"tpmap", "msdhs_logbook", "eef_students", "university_survey", "community_found"}


def test_the_four_built_in_adapters_are_registered_through_entry_points():
    found = {ep.name: ep.value for ep in entry_points(group="saphan.adapters")}
    assert ENTRY_POINT_GROUP == "saphan.adapters"
    assert BUILT_IN <= set(found)
    assert {name: found[name] for name in BUILT_IN} == {name: f"adapters.{name}" for name in BUILT_IN}


def test_without_entry_points_there_are_no_adapters():
    assert collect_adapters(get_plugin_manager(load_entry_points=False)) == {}
    assert BUILT_IN <= set(collect_adapters(get_plugin_manager()))


def test_every_built_in_adapter_documents_itself():
    for name, adapter in collect_adapters(get_plugin_manager()).items():
        assert isinstance(adapter, Adapter)
        assert adapter.name == name
        assert adapter.title and adapter.record_id_doc


# ------------------------------------------------------------------------------------------ an inline plugin


class NgoPilotAdapter(Adapter):
    """A small NGO's pipe-separated list of people it visits."""

    name = "ngo_pilot"
    title = "NGO pilot home-visit list"
    record_id_doc = "visit_ref"
    fields = {**IDENTITY_FIELDS, "visited": "the NGO visited the person"}

    def read_file(self, path: Path):
        return iter_delimited(path, delimiter="|", columns=("visit_ref", "citizen_id", "first_name", "last_name",
                                                            "birth_date", "tambon_code"),
                              parse_row=self.parse_row)

    @staticmethod
    def parse_row(row: dict[str, str], line: int) -> SourceRecord:
        flags: list[str] = []
        if not row["visit_ref"].startswith("V-"):
            raise RecordError("visit_ref: expected V-...")
        person = make_person(row["visit_ref"], citizen_id=row["citizen_id"], title=None,
                             first_name=row["first_name"], last_name=row["last_name"],
                             birth_date=parse_ymd(row["birth_date"], field="birth_date", era="CE", flags=flags),
                             sex=None, flags=flags, attributes={"visited": True})
        return SourceRecord(line=line, household=Household(tambon_code=parse_tambon_code(row["tambon_code"])),
                            persons=[person], version="1")


class NgoPlugin:
    @hookimpl
    def saphan_register_adapters(self):
        return [NgoPilotAdapter()]


def test_an_inline_third_party_adapter_is_usable_through_the_hub(settings, tmp_path):
    pm = get_plugin_manager(extra_plugins=[NgoPlugin()])
    settings = contracts_with(settings, tmp_path / "contracts", ngo=source_contract(
        "ngo", "ngo_pilot", ["citizen_id", "title", "first_name", "last_name", "birth_date", "tambon_code", "visited"]))
    hub, created = Hub.init(settings, plugins=pm)
    try:
        assert created
        assert set(hub.adapters) == BUILT_IN | {"ngo_pilot"}
        visits = tmp_path / "visits.psv"
        visits.write_text("visit_ref|citizen_id|first_name|last_name|birth_date|tambon_code\n"
                          "V-0001|3-4010-01234-56-2|นางสมพร|ใจดี|1967-02-14|340101\n"
                          "X-0002|3401001234589|ประเสริฐ|แก้วมณี|1955-03-21|340108\n"
                          "V-0003||บุญมา|สุขเจริญ|1970-01-05|340105\n", encoding="utf-8")
        report = ingest(hub, "ngo_pilot", visits)
        assert (report.rows_read, report.accepted, report.quarantined, report.inserted) == (3, 2, 1, 2)
        stored = records(hub, "ngo_pilot")
        assert sorted(stored) == ["V-0001", "V-0003"]
        assert stored["V-0001"].title == "นาง"
        assert decrypt_record_field(hub, stored["V-0001"], "first_name") == "สมพร"
        assert stored["V-0001"].attributes == {"visited": True}
        # the third party's records link to the built-ins' through the same keyed citizen ID
        ingest(hub, "tpmap", Path(__file__).parent / "data" / "tpmap_2566_export.csv")
        assert records(hub, "tpmap")["TP66-3401-0000001"].linkage_key == stored["V-0001"].linkage_key
    finally:
        hub.engine.dispose()


class MisspeltPlugin:
    @hookimpl
    def saphan_register_adapter(self):  # missing the final "s"
        return [NgoPilotAdapter()]


def test_a_misspelt_hook_implementation_fails_at_once():
    with pytest.raises(pluggy.PluginValidationError, match="saphan_register_adapter"):
        get_plugin_manager(extra_plugins=[MisspeltPlugin()])


class DuplicateTpmapPlugin:
    @hookimpl
    def saphan_register_adapters(self):
        clash = type("OtherTpmap", (NgoPilotAdapter,), {"name": "tpmap"})
        return [clash()]


def test_two_adapters_with_the_same_name_are_a_configuration_error(settings):
    pm = get_plugin_manager(extra_plugins=[DuplicateTpmapPlugin()])
    with pytest.raises(ConfigurationError, match="'tpmap'"):
        collect_adapters(pm)
    hub, _ = Hub.init(settings, plugins=pm)
    try:
        with pytest.raises(ConfigurationError, match="two plugins register an adapter named 'tpmap'"):
            hub.adapter("tpmap")
    finally:
        hub.engine.dispose()


class BadNamePlugin:
    @hookimpl
    def saphan_register_adapters(self):
        return [type("Spaced", (NgoPilotAdapter,), {"name": "NGO Pilot"})()]


class NotAnAdapterPlugin:
    @hookimpl
    def saphan_register_adapters(self):
        return [object()]


def test_an_adapter_with_an_unusable_name_or_type_is_refused_with_a_clear_message():
    with pytest.raises(ConfigurationError, match="'NGO Pilot' must be lower-case"):
        collect_adapters(get_plugin_manager(extra_plugins=[BadNamePlugin()]))
    with pytest.raises(ConfigurationError, match="is not an Adapter"):
        collect_adapters(get_plugin_manager(extra_plugins=[NotAnAdapterPlugin()]))


def test_every_hookspec_is_documented_with_what_it_returns():
    specs = [(name, fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(fn, "saphan_spec")]
    assert {name for name, _ in specs} >= {"saphan_register_adapters", "saphan_register_event_types"}
    for name, fn in specs:
        doc = inspect.getdoc(fn) or ""
        assert ":return:" in doc, f"{name} has no ':return:' in its docstring"
        assert doc.split("\n")[0].strip(), f"{name} has no summary line"


def test_every_hook_the_manager_knows_has_a_spec():
    pm = get_plugin_manager()
    for name in ("saphan_register_adapters", "saphan_register_event_types"):
        assert getattr(pm.hook, name).spec is not None
