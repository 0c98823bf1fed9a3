"""The pure rules every adapter relies on: citizen IDs, Buddhist-era dates, names with titles, area codes,
and the delimited and NDJSON readers that turn a bad row into a Rejected item."""
from __future__ import annotations

import datetime as dt
import random

import pytest

from hub.adapter_kit import AdapterError, Household, RecordError, Rejected, SourceRecord, iter_delimited, iter_ndjson
from hub.thai.areas import is_known_tambon, parse_moo, parse_tambon_code
from hub.thai.citizen_id import IdStatus, check_digit, parse_citizen_id, with_check_digit
from hub.thai.dates import PartialDate, buddhist_year, parse_be_dmy, parse_iso_date, parse_ymd
from hub.thai.names import canonical_title, clean_name, parse_name, split_glued_title

# ------------------------------------------------------------------------------------------ citizen IDs


def spec_check_digit(first_twelve: str) -> int:
    """The formula as the partner formats publish it, with 1-based positions."""
    d = [int(c) for c in first_twelve]
    return (11 - (sum(d[i - 1] * (14 - i) for i in range(1, 13)) % 11)) % 10


def test_check_digit_follows_the_published_formula():
    rng = random.Random(2566)
    for _ in range(2000):
        twelve = "".join(rng.choice("0123456789") for _ in range(12))
        assert check_digit(twelve) == spec_check_digit(twelve)
        assert parse_citizen_id(with_check_digit(twelve)).status is IdStatus.VALID


@pytest.mark.parametrize("written", [
    "1101400123451", "1-1014-00123-45-1", "1 1014 00123 45 1", " 1-1014 00123-45 1 ",
    "1\u00a01014\u00a000123\u00a045\u00a01", "1\t1014\t00123\t45\t1",
])
def test_citizen_id_written_with_dashes_or_spaces_is_normalised(written):
    cid = parse_citizen_id(written)
    assert cid.digits == "1101400123451"
    assert cid.status is IdStatus.VALID


@pytest.mark.parametrize("blank", [None, "", "   ", " - ", "--"])
def test_blank_citizen_id_is_no_id_at_all(blank):
    assert parse_citizen_id(blank) is None


def test_citizen_id_failing_the_check_digit_is_kept_for_linking_but_marked():
    cid = parse_citizen_id("1-1014-00123-45-2")
    assert cid.digits == "1101400123452"
    assert cid.status is IdStatus.CHECKSUM_FAILED


@pytest.mark.parametrize("written", ["110140012345", "11014001234511", "1101400123A51", "๑๑๐๑๔๐๐๑๒๓๔๕๑"])
def test_citizen_id_of_the_wrong_length_or_with_other_characters_is_malformed_not_dropped(written):
    cid = parse_citizen_id(written)
    assert cid is not None
    assert cid.status is IdStatus.MALFORMED


def test_citizen_id_never_shows_its_digits_in_logs():
    cid = parse_citizen_id("1101400123451")
    assert "1101400123451" not in repr(cid)
    assert "1101400123451" not in str(cid)


def _single_digit_typos(valid_id: str, position: int):
    """Every ID that differs from ``valid_id`` in the 1-based ``position`` only."""
    i = position - 1
    return [valid_id[:i] + d + valid_id[i + 1:] for d in "0123456789" if d != valid_id[i]]


def test_any_typo_in_the_third_digit_keeps_the_checksum_valid():
    # The module docstring warns that a valid check digit is no proof: the 3rd digit has weight 11, which
    # vanishes modulo 11, so no change to it is ever detected.
    rng = random.Random(3)
    for _ in range(300):
        valid = with_check_digit("".join(rng.choice("0123456789") for _ in range(12)))
        for typo in _single_digit_typos(valid, 3):
            assert parse_citizen_id(typo).status is IdStatus.VALID


def test_a_typo_elsewhere_slips_through_only_when_the_check_digit_is_1():
    # (11 - s mod 11) mod 10 maps both s mod 11 = 0 and = 10 to 1: only IDs whose check digit is 1 can
    # hide a single-digit typo outside the 3rd position; every other typo there is caught.
    rng = random.Random(4)
    for _ in range(300):
        valid = with_check_digit("".join(rng.choice("0123456789") for _ in range(12)))
        slipped = [t for p in range(1, 14) if p != 3 for t in _single_digit_typos(valid, p)
                   if parse_citizen_id(t).status is IdStatus.VALID]
        if valid[12] != "1":
            assert slipped == []
    assert parse_citizen_id("1101400123451").status is IdStatus.VALID
    assert parse_citizen_id("6101400123451").status is IdStatus.VALID  # 1st digit mistyped, still "valid"
    assert parse_citizen_id("1101400123452").status is IdStatus.CHECKSUM_FAILED  # the check digit itself


# ------------------------------------------------------------------------------------------ dates


def test_tpmap_buddhist_era_date_becomes_christian_era():
    flags: list[str] = []
    assert parse_be_dmy("05/11/2521", field="birth_date", flags=flags) == PartialDate(1978, 11, 5)
    assert parse_be_dmy("14/02/2510", field="birth_date", flags=flags).iso() == "1967-02-14"
    assert flags == []


def test_eef_buddhist_era_iso_style_date_becomes_christian_era():
    flags: list[str] = []
    assert parse_ymd("2553-06-15", field="birth_date", era="BE", flags=flags) == PartialDate(2010, 6, 15)
    assert flags == []


def test_christian_era_iso_date_is_taken_as_is():
    flags: list[str] = []
    assert parse_ymd("1967-02-14", field="birth_date", era="CE", flags=flags) == PartialDate(1967, 2, 14)
    assert flags == []


def test_a_form_in_either_era_takes_the_year_as_it_says_without_a_flag():
    """Stewards enter a found household's birth dates as they write them (community_found)."""
    flags: list[str] = []
    assert parse_ymd("2501-04-02", field="birth_date", era="either", flags=flags) == PartialDate(1958, 4, 2)
    assert parse_ymd("1958-04-02", field="birth_date", era="either", flags=flags) == PartialDate(1958, 4, 2)
    assert flags == []  # a CE field would have flagged the first as a Buddhist-era slip
    with pytest.raises(RecordError, match="neither a plausible Buddhist-era nor Christian-era year"):
        parse_ymd("3001-04-02", field="birth_date", era="either", flags=flags)
    with pytest.raises(RecordError, match=r"expected yyyy-mm-dd \(Buddhist or Christian era\)"):
        parse_ymd("02/04/2501", field="birth_date", era="either", flags=flags)


def test_unknown_day_00_keeps_year_and_month():
    flags: list[str] = []
    date = parse_be_dmy("00/07/2530", field="birth_date", flags=flags)
    assert date == PartialDate(1987, 7)
    assert date.iso() == "1987-07"
    assert flags == ["birth_date_day_unknown"]


def test_unknown_day_and_month_00_keep_the_year():
    flags: list[str] = []
    date = parse_be_dmy("00/00/2505", field="birth_date", flags=flags)
    assert date == PartialDate(1962)
    assert date.iso() == "1962"
    assert flags == ["birth_date_month_unknown"]


def test_a_day_with_an_unknown_month_is_refused():
    with pytest.raises(RecordError, match="birth_date"):
        parse_be_dmy("15/00/2530", field="birth_date", flags=[])


@pytest.mark.parametrize("text", ["31/02/2530", "29/02/2544", "31/04/2530", "01/13/2530", "32/01/2530"])
def test_impossible_dates_are_refused_naming_the_field(text):
    with pytest.raises(RecordError, match="^birth_date: "):
        parse_be_dmy(text, field="birth_date", flags=[])


def test_leap_day_in_a_buddhist_leap_year_is_accepted():
    # 2543 BE is 2000 CE, a leap year.
    assert parse_be_dmy("29/02/2543", field="birth_date", flags=[]) == PartialDate(2000, 2, 29)


def test_christian_year_in_a_buddhist_field_is_kept_and_flagged():
    flags: list[str] = []
    assert parse_be_dmy("05/05/1985", field="birth_date", flags=flags) == PartialDate(1985, 5, 5)
    assert flags == ["birth_date_christian_era_in_buddhist_field"]


def test_buddhist_year_in_a_christian_field_is_corrected_and_flagged():
    flags: list[str] = []
    assert parse_ymd("2510-02-14", field="birth_date", era="CE", flags=flags) == PartialDate(1967, 2, 14)
    assert flags == ["birth_date_buddhist_era_in_christian_field"]


@pytest.mark.parametrize(("text", "expected", "april"), [
    ("14/02/2482", PartialDate(1940, 2, 14), True),  # BE 2482 ran from April 1939 to March 1940
    ("31/03/2470", PartialDate(1928, 3, 31), True),
    ("01/04/2482", PartialDate(1939, 4, 1), False),  # its new year's day
    ("14/02/2483", PartialDate(1940, 2, 14), False),  # no such date in the old reckoning: today's is meant
    ("14/02/2484", PartialDate(1941, 2, 14), False),  # the first year to begin on 1 January
    ("00/02/2482", PartialDate(1940, 2), True),
    ("00/00/2482", PartialDate(1939), False),  # month unknown: the year's larger part (April-December)
])
def test_before_1941_the_thai_year_began_in_april(text, expected, april):
    flags: list[str] = []
    assert parse_be_dmy(text, field="birth_date", flags=flags) == expected
    assert ("birth_date_april_new_year" in flags) is april


def test_buddhist_year_writes_what_parsing_reads():
    for day in (dt.date(1940, 2, 14), dt.date(1939, 4, 1), dt.date(1940, 12, 31), dt.date(1941, 1, 1),
                dt.date(1928, 3, 31), dt.date(1987, 7, 5)):
        text = f"{day.day:02d}/{day.month:02d}/{buddhist_year(day)}"
        assert parse_be_dmy(text, field="birth_date", flags=[]) == PartialDate(day.year, day.month, day.day)
    assert buddhist_year(dt.date(1940, 2, 14)) == 2482 and buddhist_year(dt.date(1941, 2, 14)) == 2484


def test_a_leap_day_that_exists_only_in_the_april_reckoning_is_accepted():
    # 29 February 2482 BE is 29 February 1940 (a leap year); 1939, by the plain offset, has none
    assert parse_be_dmy("29/02/2482", field="birth_date", flags=[]) == PartialDate(1940, 2, 29)


def test_the_april_new_year_holds_in_every_form_that_reads_buddhist_years():
    for era in ("BE", "either"):
        flags: list[str] = []
        assert parse_ymd("2475-01-20", field="birth_date", era=era, flags=flags) == PartialDate(1933, 1, 20)
        assert flags == ["birth_date_april_new_year"]
    flags = []
    assert parse_ymd("2475-01-20", field="birth_date", era="CE", flags=flags) == PartialDate(1933, 1, 20)
    assert flags == ["birth_date_buddhist_era_in_christian_field", "birth_date_april_new_year"]


@pytest.mark.parametrize("text", ["14/02/0510", "14/02/3100", "14/02/1700"])
def test_a_year_in_neither_era_is_refused(text):
    with pytest.raises(RecordError, match="birth_date: the year is not a plausible"):
        parse_be_dmy(text, field="birth_date", flags=[])


@pytest.mark.parametrize("text,parser", [
    ("2510-02-14", lambda t: parse_be_dmy(t, field="birth_date", flags=[])),
    ("14/02/2510", lambda t: parse_ymd(t, field="birth_date", era="BE", flags=[])),
    ("1967-2-14T00:00", lambda t: parse_ymd(t, field="birth_date", era="CE", flags=[])),
])
def test_a_date_in_the_wrong_layout_is_refused(text, parser):
    with pytest.raises(RecordError, match="birth_date: expected"):
        parser(text)


def test_blank_dates_are_unknown_not_errors():
    assert parse_be_dmy("  ", field="birth_date", flags=[]) is None
    assert parse_ymd("", field="birth_date", era="CE", flags=[]) is None
    assert parse_ymd(None, field="birth_date", era="BE", flags=[]) is None
    assert parse_iso_date(None, field="surveyed_on") is None


def test_plain_iso_dates_of_events():
    assert parse_iso_date("2023-08-14", field="surveyed_on").isoformat() == "2023-08-14"
    with pytest.raises(RecordError, match="surveyed_on"):
        parse_iso_date("14/08/2566", field="surveyed_on")


# ------------------------------------------------------------------------------------------ names and titles


@pytest.mark.parametrize("glued,title,rest", [
    ("นายสมชาย", "นาย", "สมชาย"),
    ("นางบัวผัน", "นาง", "บัวผัน"),
    ("นางสาวสุดารัตน์", "นางสาว", "สุดารัตน์"),
    ("น.ส.สุดา", "นางสาว", "สุดา"),
    ("เด็กชายภาคิน", "ด.ช.", "ภาคิน"),
    ("เด็กหญิงมะลิ", "ด.ญ.", "มะลิ"),
    ("ด.ช.ธนากร", "ด.ช.", "ธนากร"),
    ("ด.ญ.กัลยา", "ด.ญ.", "กัลยา"),
])
def test_title_glued_to_the_first_name_is_split_off(glued, title, rest):
    assert split_glued_title(glued) == (title, rest)
    flags: list[str] = []
    assert parse_name(None, glued, "ใจดี", flags=flags) == (title, rest, "ใจดี", None)
    assert flags == ["title_glued_to_first_name"]


def test_nangsao_is_never_read_as_nang_plus_a_name():
    title, first, _, _ = parse_name("", "นางสาวมาลี", "ทองคำ", flags=[])
    assert (title, first) == ("นางสาว", "มาลี")
    assert first != "สาวมาลี"


def test_a_short_name_that_merely_begins_like_a_title_is_left_alone():
    assert split_glued_title("นายก") == (None, "นายก")
    assert parse_name(None, "สมพร", "ใจดี", flags=[]) == (None, "สมพร", "ใจดี", None)


def test_the_title_field_wins_over_a_glued_title():
    flags: list[str] = []
    assert parse_name("นาย", "นายสมชาย", "ศรีสุข", flags=flags) == ("นาย", "สมชาย", "ศรีสุข", None)
    assert flags == ["title_glued_to_first_name"]


def test_titles_are_stored_in_their_short_form():
    assert canonical_title("เด็กชาย") == "ด.ช."
    assert canonical_title("เด็กหญิง") == "ด.ญ."
    assert canonical_title("น.ส.") == "นางสาว"
    assert canonical_title(" นาง ") == "นาง"
    assert canonical_title("") is None
    assert canonical_title("ร.ต.อ.") is None  # not a known title: never stored in clear


def test_an_unknown_title_is_kept_only_encrypted_and_flagged():
    flags: list[str] = []
    assert parse_name("ร.ต.อ.", "สมชาย", "ศรีสุข", flags=flags) == (None, "สมชาย", "ศรีสุข", "ร.ต.อ.")
    assert flags == ["title_unknown"]


def test_a_first_name_written_into_the_title_field_is_moved_back():
    flags: list[str] = []
    assert parse_name("นางสมพร", None, "ใจดี", flags=flags) == ("นาง", "สมพร", "ใจดี", None)
    assert flags == ["first_name_in_title_field"]


def test_names_are_cleaned_of_invisible_characters_and_extra_spaces():
    assert clean_name("  สม\u200bพร  ") == "สมพร"
    assert clean_name("ทองคำ,   ณ  อุบล") == "ทองคำ, ณ อุบล"
    assert parse_name(None, "  ", " ", flags=[]) == (None, None, None, None)


# ------------------------------------------------------------------------------------------ area codes


def test_tambon_codes_are_six_digits_and_known_to_geothai():
    assert parse_tambon_code(" 340101 ") == "340101"
    assert is_known_tambon("340101") and is_known_tambon("100101") and is_known_tambon("500101")
    assert not is_known_tambon("349999")
    for bad in ("34010", "3401011", "34O101", "", None):
        with pytest.raises(RecordError, match="tambon_code"):
            parse_tambon_code(bad)


def test_a_village_number_is_1_to_99_or_blank_in_municipal_areas():
    assert parse_moo("") is None
    assert parse_moo("12") == 12
    for bad in ("0", "100", "สี่"):
        with pytest.raises(RecordError, match="moo"):
            parse_moo(bad)


# ------------------------------------------------------------------------------------------ readers


def _parse_pipe_row(row: dict[str, str], line: int) -> SourceRecord:
    if row["name"] == "BAD":
        raise RecordError("name: BAD is not a name")
    return SourceRecord(line=line, household=Household(tambon_code="340101"), persons=[], version=row["name"])


def _read(path, delimiter="|"):
    return list(iter_delimited(path, delimiter=delimiter, columns=("id", "name"), parse_row=_parse_pipe_row))


def test_delimited_reader_drops_the_bom_and_reads_crlf(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"\xef\xbb\xbfid|name\r\n1|\xe0\xb8\xaa\xe0\xb8\xa1\r\n2|b\r\n")
    items = _read(path)
    assert [(i.line, i.version) for i in items] == [(2, "สม"), (3, "b")]


def test_delimited_reader_rejects_rows_with_the_wrong_field_count_and_goes_on(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id|name\n1|a\n2\n3|c|extra\n4|d\n", encoding="utf-8")
    items = _read(path)
    assert [type(i).__name__ for i in items] == ["SourceRecord", "Rejected", "Rejected", "SourceRecord"]
    assert (items[1].line, items[1].reason) == (3, "broken row: expected 2 fields, found 1")
    assert (items[2].line, items[2].reason) == (4, "broken row: expected 2 fields, found 3")
    assert items[2].raw == "3|c|extra"
    assert items[3].line == 5


def test_bad_utf8_bytes_reject_only_their_row(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"id|name\n1|a\n2|\xff\xfeb\n3|c\n")
    items = _read(path)
    assert [i.line for i in items] == [2, 3, 4]
    assert isinstance(items[1], Rejected)
    assert items[1].reason == "row is not valid UTF-8"
    assert "\ufffd" in items[1].raw
    assert isinstance(items[0], SourceRecord) and isinstance(items[2], SourceRecord)


def test_a_record_error_becomes_a_rejected_row_with_its_reason(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id|name\n1|BAD\n2|ok\n", encoding="utf-8")
    items = _read(path)
    assert isinstance(items[0], Rejected)
    assert (items[0].line, items[0].reason, items[0].raw) == (2, "name: BAD is not a name", "1|BAD")


def test_line_numbers_are_physical_lines_when_a_quoted_field_spans_lines(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text('id|name\n1|"two\nlines"\n\n2|x\n', encoding="utf-8")
    items = _read(path)
    assert [(i.line, i.version) for i in items] == [(2, "two\nlines"), (5, "x")]


def test_empty_file_is_an_adapter_error_saying_it_is_empty(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(AdapterError, match="empty"):
        _read(path)


def test_wrong_header_is_an_adapter_error_naming_the_missing_columns(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id,name\n1,a\n", encoding="utf-8")
    with pytest.raises(AdapterError) as err:
        _read(path)
    message = str(err.value)
    assert "f.csv" in message and "id, name" in message and "'|'" in message


def test_missing_file_is_an_adapter_error(tmp_path):
    with pytest.raises(AdapterError, match="cannot open"):
        _read(tmp_path / "nowhere.csv")


def test_a_stray_quote_in_a_large_file_does_not_escape_as_a_csv_error(tmp_path):
    # An opening quote that never closes makes the csv module read on to the end of the file; past its
    # field size limit (128 KiB) it raises csv.Error. That must surface as a rejected row or an
    # AdapterError, never as an unexpected exception that stops the ingest with a traceback.
    path = tmp_path / "f.csv"
    body = "".join(f"{n}|name {n}\n" for n in range(2, 20000))
    path.write_text(f'id|name\n1|"unclosed\n{body}', encoding="utf-8")
    try:
        items = _read(path)
    except AdapterError:
        return
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert rejected and rejected[0].line == 2
    assert all(r.raw for r in rejected), "a rejected row must keep its text for the quarantine"


def _parse_object(obj, line):
    if "bad" in obj:
        raise RecordError("bad: not allowed")
    return SourceRecord(line=line, household=Household(tambon_code="340101"), persons=[], version=str(obj["v"]))


def test_ndjson_reader_rejects_bad_lines_with_their_line_numbers_and_goes_on(tmp_path):
    path = tmp_path / "f.ndjson"
    path.write_bytes(b'{"v": 1}\n{"v": \n\n[1, 2]\n{"bad": 1}\n{"v": "\xff"}\n{"v": 7, "extra": {"x": 1}}\r\n')
    items = list(iter_ndjson(path, _parse_object))
    assert [(type(i).__name__, i.line) for i in items] == [
        ("SourceRecord", 1), ("Rejected", 2), ("Rejected", 4), ("Rejected", 5), ("Rejected", 6),
        ("SourceRecord", 7)]
    assert items[1].reason.startswith("not valid JSON")
    assert items[2].reason == "expected a JSON object, found list"
    assert items[3].reason == "bad: not allowed"
    assert items[4].reason == "line is not valid UTF-8"
    assert items[1].raw == '{"v": '
    assert items[5].version == "7"


# ------------------------------------------------------------------------------------------ the test files


def test_the_test_files_use_real_citizen_ids_and_tambon_codes():
    import re

    from helpers import DATA, partner_pii

    ids = {form for form in partner_pii()["citizen_id"] if form.isdigit()}
    statuses = {cid: parse_citizen_id(cid).status for cid in ids}
    assert [cid for cid, status in statuses.items() if status is not IdStatus.VALID] == ["3401001234572"]
    text = " ".join(p.read_bytes().decode("utf-8-sig") for p in DATA.iterdir() if p.suffix in (".csv", ".ndjson"))
    tambons = set(re.findall(r'"tambon_code": "(\d{6})"', text)) | set(re.findall(r"[,;](\d{6})[,;]", text))
    assert {"340101", "100101", "500101"} <= tambons
    assert all(is_known_tambon(code) for code in tambons), tambons
