"""The DLA adapter's tests: the cp874 sample reads with its Thai headers, names and Buddhist-era dates, a
person with two allowances is two records, a row with an unknown allowance is quarantined with its reason,
the encoding is an option, and the hub finds the adapter through its entry point."""
from pathlib import Path

import pytest
from saphan_dla_elderly import DlaElderlyAdapter

from hub.adapter_kit import Rejected, SourceRecord
from hub.context import collect_adapters
from hub.errors import AdapterError, ConfigurationError
from hub.plugins.manager import get_plugin_manager

SAMPLE = Path(__file__).resolve().parent.parent / "saphan_dla_elderly" / "sample.csv"


def records(adapter=None, path=SAMPLE):
    return list((adapter or DlaElderlyAdapter()).read_file(path))


def test_the_cp874_sample_reads_with_thai_names_and_buddhist_era_dates():
    read = [i for i in records() if isinstance(i, SourceRecord)]
    assert len(read) == 4
    first = read[0].persons[0]
    assert (first.title, first.first_name, first.last_name, first.sex) == ("นาง", "สมศรี", "ใจดี", "F")
    assert first.birth_date.year == 1952  # 2495 in the Buddhist era
    assert read[0].persons[0].attributes == {"allowance": "elderly", "monthly_baht": 700}
    glued = read[3].persons[0]
    assert (glued.title, glued.first_name) == ("นาย", "ทองดี")


def test_two_allowances_of_one_person_are_two_records():
    ids = [i.persons[0].record_id for i in records() if isinstance(i, SourceRecord)]
    assert ids[1:3] == ["0002/elderly", "0002/disability"]


def test_an_unknown_allowance_is_quarantined_with_its_reason():
    rejected = [i for i in records() if isinstance(i, Rejected)]
    assert [r.line for r in rejected] == [6] and "ประเภทเบี้ย" in rejected[0].reason


def test_a_utf8_export_reads_with_the_encoding_option(tmp_path):
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text(SAMPLE.read_text(encoding="cp874"), encoding="utf-8")
    with pytest.raises(AdapterError, match="header lacks the columns"):  # UTF-8 read as cp874: no Thai header
        records(path=utf8)
    configured = DlaElderlyAdapter().configured({"encoding": "utf-8"})
    assert len([i for i in records(configured, utf8) if isinstance(i, SourceRecord)]) == 4
    with pytest.raises(ConfigurationError, match="encoding"):
        DlaElderlyAdapter().configured({"encoding": "latin-1"})


def test_the_hub_finds_the_adapter_through_its_entry_point():
    assert isinstance(collect_adapters(get_plugin_manager())["dla_elderly"], DlaElderlyAdapter)
