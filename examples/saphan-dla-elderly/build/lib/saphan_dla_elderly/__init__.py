"""DLA allowance register: an example third-party Saphan adapter.

A local administration (อบต., เทศบาล) keeps the register of who receives the elderly and the disability
allowance (เบี้ยยังชีพผู้สูงอายุ, เบี้ยความพิการ) and exports it from its desktop system as a CSV with Thai column
headers in the Thai Windows code page (cp874), dates of birth as ``dd/mm/yyyy`` in the Buddhist era. One
row is one person receiving one allowance; a person with both allowances has two rows with one number.

Started with ``hub adapter new dla_elderly`` and made to read that export. It imports only from
``hub.adapter_kit`` and is found by the hub through its ``saphan.adapters`` entry point.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from hub.adapter_kit import (
    IDENTITY_FIELDS,
    Adapter,
    AdapterOptions,
    Household,
    RecordError,
    SourceRecord,
    hookimpl,
    iter_delimited,
    make_person,
    optional_str,
    parse_be_dmy,
    parse_int,
    parse_moo,
    parse_tambon_code,
    require,
)

#: Thai column header -> what it holds.
COLUMNS = {
    "เลขที่": "register number (one per person)",
    "เลขประจำตัวประชาชน": "citizen ID",
    "คำนำหน้า": "title",
    "ชื่อ": "first name",
    "นามสกุล": "surname",
    "วันเกิด": "date of birth, dd/mm/yyyy in the Buddhist era",
    "เพศ": "ชาย or หญิง",
    "รหัสตำบล": "6-digit DOPA tambon code",
    "หมู่ที่": "village number",
    "บ้านเลขที่": "house number",
    "ประเภทเบี้ย": "ผู้สูงอายุ (elderly) or คนพิการ (disability)",
    "จำนวนเงิน": "baht a month",
}
_SEX = {"ชาย": "M", "หญิง": "F"}
_ALLOWANCE = {"ผู้สูงอายุ": "elderly", "คนพิการ": "disability"}


class Options(AdapterOptions):
    """[dla_elderly.options] in sources.toml."""

    encoding: Literal["cp874", "utf-8"] = "cp874"  # the desktop system's export; some offices re-save as UTF-8
    delimiter: str = ","


class DlaElderlyAdapter(Adapter):
    name = "dla_elderly"
    title = "DLA elderly and disability allowance register (ทะเบียนเบี้ยยังชีพ อปท.)"
    record_id_doc = "{register number}/{allowance}: one record per allowance a person receives"
    fields = {**{k: v for k, v in IDENTITY_FIELDS.items() if k != "house_code"},
              "title_as_written": "a title glued to the first name, as written (encrypted)",
              "allowance": "elderly or disability (an attribute, kept in clear)",
              "monthly_baht": "the allowance in baht a month (an attribute, kept in clear)"}
    Options = Options

    def read_file(self, path: Path):
        encoding = "utf-8-sig" if self.options.encoding == "utf-8" else self.options.encoding
        return iter_delimited(path, delimiter=self.options.delimiter, columns=tuple(COLUMNS),
                              parse_row=self.parse_row, encoding=encoding)

    def parse_row(self, row: dict[str, str], line: int) -> SourceRecord:
        allowance = _ALLOWANCE.get(require(row, "ประเภทเบี้ย"))
        if allowance is None:
            raise RecordError(f"ประเภทเบี้ย: expected one of {', '.join(_ALLOWANCE)}")
        sex = optional_str(row["เพศ"])
        if sex is not None and sex not in _SEX:
            raise RecordError("เพศ: expected ชาย or หญิง")
        flags: list[str] = []
        person = make_person(
            f"{require(row, 'เลขที่')}/{allowance}",
            citizen_id=optional_str(row["เลขประจำตัวประชาชน"]),
            title=optional_str(row["คำนำหน้า"]),
            first_name=optional_str(row["ชื่อ"]),
            last_name=optional_str(row["นามสกุล"]),
            birth_date=parse_be_dmy(row["วันเกิด"], field="วันเกิด", flags=flags),
            sex=_SEX.get(sex),
            flags=flags,
            attributes={"allowance": allowance,
                        "monthly_baht": parse_int(row["จำนวนเงิน"], field="จำนวนเงิน", minimum=0)},
        )
        household = Household(tambon_code=parse_tambon_code(require(row, "รหัสตำบล"), field="รหัสตำบล"),
                              moo=parse_moo(row["หมู่ที่"], field="หมู่ที่"), house_no=optional_str(row["บ้านเลขที่"]))
        return SourceRecord(line=line, household=household, persons=[person])


@hookimpl
def saphan_register_adapters():
    return [DlaElderlyAdapter()]
