"""Write a :class:`~hub.demo.population.Population` as the four partners' files, with realistic noise.

:func:`write_partner_files` writes, under ``out_dir``, one folder per source (the hub's source names):

- ``tpmap/tpmap_2566.csv``: UTF-8 with BOM, CRLF, RFC 4180 quoting, Buddhist-era ``dd/mm/yyyy`` dates;
- ``eef_students/eef_2567-1.csv`` and ``eef_2567-2.csv``: UTF-8, ``;``-separated, school names with commas
  or quotes quoted, Buddhist-era ``yyyy-mm-dd`` dates;
- ``msdhs_logbook/logbook_1.ndjson`` (items ordered by ``updated_at``, some with fields of a newer API
  version, tombstones for deleted households) and ``logbook_2.ndjson`` (later updates: a member removed,
  a status changed);
- ``university_survey/<univ>_2566_batch1.ndjson`` per university, and ``_batch2`` with the households
  whose referrals moved on;

and ``truth.csv`` (``source,record_id,truth_person_id,truth_household_id``: the source's record key of
every person written, as the adapters name it), so that linking can be scored.

With ``noise=True`` values are corrupted as partners corrupt them, at the rates in :data:`RATES` (a
chance per person record written), and the files carry their structural defects:
two TPMAP rows cut short, one TPMAP id given twice (the later row is the correct one), one re-submitted
survey per batch (the later line is the correct one) and one malformed survey line per batch. Cut-short
rows and malformed lines lose their persons, and ``truth.csv`` leaves them out. Lifecycle events
(tombstones, the second logbook file, the follow-up survey batch, students who leave after one term)
are not noise and always happen. Everything is drawn from ``random.Random(seed)``: a population and a
seed always give the same bytes.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.demo.population import (
    ICT,
    SCHOOL_YEAR_START,
    SEMESTERS,
    SURVEY_DATE,
    Address,
    Household,
    Person,
    Population,
    gc_paused,
)
from hub.thai.dates import buddhist_year

TPMAP_COLUMNS = (
    "tpmap_person_id", "survey_year", "pid", "prefix", "fname", "lname", "sex", "birth_date", "house_code",
    "house_no", "moo", "tambon_code", "amphoe_code", "province_code", "welfare_card", "dim_health", "dim_living",
    "dim_education", "dim_income", "dim_access", "failed_indicators", "income_per_capita_year",
)
EEF_COLUMNS = (
    "semester", "student_ref", "citizen_id", "title", "first_name", "last_name", "birth_date", "sex",
    "school_code", "school_name", "grade", "guardian_citizen_id", "guardian_relation", "tambon_code",
    "hh_members", "hh_income_month", "pmt_items", "status", "cct_baht",
)
PMT_ITEMS = ("dependents", "tenure", "house", "farmland", "water", "electricity", "vehicle", "appliances")

#: Chance of each kind of noise per person record written, by source. ``maiden_surname`` applies to women
#: who took their husband's surname, ``name_variant`` to names that have a common variant, and
#: ``birth_day_month_swapped`` to days 1-12; ``moved_tambon`` is certain: TPMAP and the survey, made in
#: 2566, show a moved household's old address. ``duplicate_person`` writes the person a second time under
#: a new record id, with the noise drawn again. People without an ID at all (stateless, some young
#: children) come on top of ``id_blank``.
RATES: dict[str, dict[str, float]] = {
    "tpmap": {
        "name_variant": 0.03, "maiden_surname": 0.2, "id_blank": 0.06, "id_typo": 0.01, "id_transposed": 0.005,
        "birth_day_month_swapped": 0.01, "birth_off_by_one_day": 0.01, "birth_off_by_one_year": 0.005,
        "birth_wrong_era": 0.005, "duplicate_person": 0.01,
        "id_dashes": 0.2, "id_spaces": 0.05, "birth_day_unknown": 0.02, "birth_month_unknown": 0.01,
        "title_glued": 0.03, "prefix_blank": 0.02, "house_code_blank": 0.05, "income_blank": 0.02,
        "amphoe_disagrees": 0.005, "moved_tambon": 1.0,
    },
    "eef_students": {
        "name_variant": 0.02, "id_blank": 0.08, "id_typo": 0.005, "id_transposed": 0.005,
        "birth_day_month_swapped": 0.01, "birth_off_by_one_day": 0.005, "birth_off_by_one_year": 0.005,
        "birth_wrong_era": 0.005,
        "title_glued": 0.01, "guardian_id_blank": 0.05,
    },
    "msdhs_logbook": {
        "name_variant": 0.02, "maiden_surname": 0.1, "id_blank": 0.05, "id_typo": 0.005, "id_transposed": 0.005,
        "birth_day_month_swapped": 0.01, "birth_off_by_one_day": 0.01, "birth_off_by_one_year": 0.005,
        "birth_wrong_era": 0.005,
    },
    "university_survey": {
        "name_variant": 0.05, "maiden_surname": 0.2, "id_blank": 0.12, "id_typo": 0.015, "id_transposed": 0.01,
        "birth_day_month_swapped": 0.015, "birth_off_by_one_day": 0.01, "birth_off_by_one_year": 0.01,
        "birth_wrong_era": 0.01,
        "moved_tambon": 1.0,
    },
}
#: Conditional cash transfer per semester for an extremely poor student, by school level (demo amounts).
CCT_BAHT = {"อ": 800, "ป": 1000, "ม": 1500}
SEMESTER_STARTS = {"2567/1": SCHOOL_YEAR_START, "2567/2": dt.date(2024, 11, 1)}
_SOUND_ALIKE = {"ศ": "ส", "ส": "ศ", "ษ": "ศ", "ณ": "น", "น": "ณ", "ธ": "ท", "ท": "ธ", "ภ": "พ", "พ": "ภ",
                "ญ": "ย", "ฐ": "ถ"}
_DROPPABLE_MARKS = frozenset("\u0e48\u0e49\u0e4a\u0e4b\u0e4c")  # the four tone marks and the thanthakhat
_NEW_API_FROM = dt.datetime(2024, 5, 1, tzinfo=ICT)
_CASE_WORKER_NOTES = ("เยี่ยมบ้านแล้ว ต้องการซ่อมแซมที่อยู่อาศัย", "ติดต่อไม่ได้ เปลี่ยนเบอร์โทรศัพท์",
                      "รอเอกสารรับรองความพิการ", "ส่งต่อ อบต. แล้ว")
_NEEDS_QUOTES = re.compile('[,"\r\n]')
_JSON = json.JSONEncoder(ensure_ascii=False).encode
_TRUTH_COLUMNS = ("source", "record_id", "truth_person_id", "truth_household_id")


@dataclass(frozen=True, slots=True)
class WrittenFiles:
    """What :func:`write_partner_files` wrote.

    ``files``: source name -> its files in delivery order. ``noise``: ``"source.kind"`` -> how many times
    that noise or event was written (kinds of :data:`RATES`, plus the structural ones: ``broken_row``,
    ``duplicate_id``, ``resubmitted``, ``malformed_line``, ``tombstone``, ``extra_fields``,
    ``member_removed``, ``status_changed``, ``referral_follow_up``, ``left_after_one_semester``).
    ``truth``: the ``truth.csv`` file.
    """

    files: dict[str, list[Path]]
    noise: dict[str, int]
    truth: Path


def write_partner_files(population: Population, out_dir: Path, *, seed: int = 2566,
                        noise: bool = True) -> WrittenFiles:
    """Write the four partners' files and ``truth.csv`` under ``out_dir`` (created if missing)."""
    out_dir = Path(out_dir)
    noiser = _Noise(seed, noise)
    truth_path = out_dir / "truth.csv"
    out_dir.mkdir(parents=True, exist_ok=True)
    with gc_paused(), open(truth_path, "w", encoding="utf-8", newline="") as handle:
        truth = _Truth(handle)
        files = {
            "tpmap": _write_tpmap(population, out_dir / "tpmap", noiser, truth),
            "msdhs_logbook": _write_logbook(population, out_dir / "msdhs_logbook", noiser, truth),
            "eef_students": _write_eef(population, out_dir / "eef_students", noiser, truth),
            "university_survey": _write_surveys(population, out_dir / "university_survey", noiser, truth),
        }
    return WrittenFiles(files, {f"{source}.{kind}": n for (source, kind), n in sorted(noiser.counts.items())},
                        truth_path)


# --------------------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------------------


def spelling_variants(name: str) -> list[str]:
    """Common misspellings of a Thai name: one letter for its sound-alike (ศ/ส, ณ/น, ธ/ท, ภ/พ, ...) or one
    tone mark or thanthakhat (์) dropped."""
    variants = []
    for i, char in enumerate(name):
        if char in _SOUND_ALIKE:
            variants.append(name[:i] + _SOUND_ALIKE[char] + name[i + 1:])
        elif char in _DROPPABLE_MARKS:
            variants.append(name[:i] + name[i + 1:])
    return variants


@dataclass(slots=True)
class _Identity:
    """A person's identity as one source recorded it; ``citizen_id`` is ``""`` when blank."""

    citizen_id: str
    first_name: str
    last_name: str
    birth_date: dt.date
    wrong_era: bool


class _Noise:
    """Seeded corruption with a count per ``source.kind``; when disabled nothing is ever corrupted."""

    def __init__(self, seed: int, enabled: bool) -> None:
        self.rng = random.Random(seed)
        self.enabled = enabled
        self.counts: defaultdict[tuple[str, str], int] = defaultdict(int)

    def roll(self, source: str, kind: str) -> bool:
        """True with the chance ``RATES[source][kind]`` (0 when absent); never when disabled. Not counted."""
        rate = RATES[source].get(kind)
        return self.enabled and rate is not None and self.rng.random() < rate

    def hit(self, source: str, kind: str) -> bool:
        """:meth:`roll`, counted when true."""
        if self.roll(source, kind):
            self.counts[source, kind] += 1
            return True
        return False

    def add(self, source: str, kind: str, n: int = 1) -> None:
        """Count ``n`` structural defects or events."""
        if n:
            self.counts[source, kind] += n

    def pick(self, n: int, k: int) -> list[int]:
        """``k`` distinct positions out of ``n`` (fewer when ``n`` is smaller), or none when disabled."""
        return self.rng.sample(range(n), min(k, n)) if self.enabled else []

    def identity(self, source: str, person: Person) -> _Identity:
        """The person's ID, names and birth date with this source's noise applied."""
        first, last = person.first_name, person.last_name
        if person.maiden_name and self.hit(source, "maiden_surname"):
            last = person.maiden_name
        if self.enabled:
            if self.rng.random() < 0.6:
                first = self.misspell(source, first)
            else:
                last = self.misspell(source, last)
        birth = self.birth_date(source, person.birth_date)
        return _Identity(self.citizen_id(source, person.citizen_id), first, last, birth,
                         self.hit(source, "birth_wrong_era"))

    def misspell(self, source: str, name: str) -> str:
        """``name``, or a common spelling variant of it."""
        variants = spelling_variants(name) if self.roll(source, "name_variant") else None
        if not variants:
            return name
        self.add(source, "name_variant")
        return self.rng.choice(variants)

    def citizen_id(self, source: str, cid: str | None) -> str:
        """The ID as recorded: left blank, one digit mistyped, two adjacent digits swapped, or right."""
        if cid is None or self.hit(source, "id_blank"):
            return ""
        if self.hit(source, "id_typo"):
            i = self.rng.randrange(13)
            return cid[:i] + str((int(cid[i]) + self.rng.randint(1, 9)) % 10) + cid[i + 1:]
        if self.hit(source, "id_transposed"):
            i = self.rng.choice([i for i in range(12) if cid[i] != cid[i + 1]])
            return cid[:i] + cid[i + 1] + cid[i] + cid[i + 2:]
        return cid

    def birth_date(self, source: str, day: dt.date) -> dt.date:
        """The birth date with day and month swapped, or a day off, or a year off, or right."""
        if day.day <= 12 and day.day != day.month and self.hit(source, "birth_day_month_swapped"):
            return day.replace(month=day.day, day=day.month)
        if self.hit(source, "birth_off_by_one_day"):
            return day + dt.timedelta(days=self.rng.choice((-1, 1)))
        if self.hit(source, "birth_off_by_one_year"):
            year = day.year + self.rng.choice((-1, 1))
            return day.replace(year=year, day=28) if (day.month, day.day) == (2, 29) else day.replace(year=year)
        return day

    def address(self, source: str, household: Household) -> Address:
        """The 2566 address for the sources surveyed then (TPMAP, universities) of a household that moved."""
        if household.previous_address and source in ("tpmap", "university_survey") \
                and self.hit(source, "moved_tambon"):
            return household.previous_address
        return household.address


class _Truth:
    """Writes ``truth.csv`` rows: which true person a source record is."""

    def __init__(self, handle) -> None:
        self.handle = handle
        handle.write(",".join(_TRUTH_COLUMNS) + "\n")

    def add(self, source: str, record_id: str, person: Person) -> None:
        """One row; no field of it can hold a comma or a quote."""
        self.handle.write(f"{source},{record_id},{person.truth_person_id},{person.truth_household_id}\n")


def _year(day: dt.date, *, era: str, wrong_era: bool) -> int:
    """The year of ``day`` in ``era`` (``"BE"`` or ``"CE"``), or in the other era when ``wrong_era``."""
    buddhist = (era == "BE") != wrong_era
    return buddhist_year(day) if buddhist else day.year


def _iso(day: dt.date, *, era: str = "CE", wrong_era: bool = False) -> str:
    return f"{_year(day, era=era, wrong_era=wrong_era):04d}-{day.month:02d}-{day.day:02d}"


# --------------------------------------------------------------------------------------------------
# TPMAP
# --------------------------------------------------------------------------------------------------


def _write_tpmap(population: Population, folder: Path, noise: _Noise, truth: _Truth) -> list[Path]:
    """One export: a row per member of each listed household, two rows cut short, one id given twice,
    some people listed twice under two ids."""
    listed = [(hh, person) for hh in population.households if hh.members[0].tpmap_person_id for person in hh.members]
    broken = set(noise.pick(len(listed), 2))
    duplicated = set(noise.pick(len(listed), 1)) - broken
    other_amphoes = _amphoes_by_province(population)
    path = folder / "tpmap_2566.csv"
    folder.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("\ufeff")  # the byte-order mark (faster than the utf-8-sig codec)
        out = csv.writer(handle, lineterminator="\r\n")
        out.writerow(TPMAP_COLUMNS)
        corrected, deprivation, last = [], [], None
        for position, (hh, person) in enumerate(listed):
            if hh is not last:
                deprivation, last = _tpmap_deprivation(hh), hh
            row = _tpmap_row(hh, person, deprivation, noise, other_amphoes)
            if position in broken:
                noise.add("tpmap", "broken_row")
                row = row[:noise.rng.randint(8, 18)]
            else:
                truth.add("tpmap", person.tpmap_person_id, person)
            if position in duplicated:
                noise.add("tpmap", "duplicate_id")
                corrected.append(row)
                row = _with_wrong_income(row)
            out.writerow(row)
            if position not in broken and noise.hit("tpmap", "duplicate_person"):
                again = _tpmap_row(hh, person, deprivation, noise, other_amphoes)
                again[0] = f"TP66-{person.tpmap_person_id.split('-')[1]}-{9_000_000 + position:07d}"
                truth.add("tpmap", again[0], person)
                out.writerow(again)
        out.writerows(corrected)
    return [path]


def _tpmap_deprivation(hh: Household) -> list[str]:
    """The household's columns ``welfare_card`` to ``failed_indicators``."""
    return ["Y" if hh.welfare_card else "N", *("1" if deprived else "0" for deprived in hh.dimensions.values()),
            ";".join(hh.failed_indicators)]


def _tpmap_row(hh: Household, person: Person, deprivation: list[str], noise: _Noise,
               other_amphoes: dict[str, list[str]]) -> list[str]:
    """One TPMAP row for ``person`` (``deprivation``: :func:`_tpmap_deprivation`), with TPMAP's noise."""
    seen = noise.identity("tpmap", person)
    address = noise.address("tpmap", hh)
    tambon = address.tambon
    title, first = person.title_on(SURVEY_DATE), seen.first_name
    if noise.hit("tpmap", "title_glued"):
        title, first = "", title + first
    elif noise.hit("tpmap", "prefix_blank"):
        title = ""
    amphoe = tambon.amphoe_code
    if noise.hit("tpmap", "amphoe_disagrees"):
        others = [a for a in other_amphoes[tambon.province_code] if a != amphoe]
        amphoe = noise.rng.choice(others or [amphoe[:2] + "99"])
    return [
        person.tpmap_person_id, "2566", _tpmap_pid(seen.citizen_id, noise), title, first, seen.last_name,
        "1" if person.sex == "M" else "2", _tpmap_birth_date(seen, noise),
        "" if address.house_code is None or noise.hit("tpmap", "house_code_blank") else address.house_code,
        address.house_no, "" if address.moo is None else str(address.moo), tambon.code, amphoe,
        tambon.province_code, *deprivation,
        "" if noise.hit("tpmap", "income_blank") else str(hh.income_per_capita_year),
    ]


def _amphoes_by_province(population: Population) -> dict[str, list[str]]:
    """The amphoe codes the population lives in, by province (candidates for a disagreeing amphoe)."""
    found: dict[str, set[str]] = {}
    for hh in population.households:
        for address in (hh.address, hh.previous_address):
            if address:
                found.setdefault(address.tambon.province_code, set()).add(address.tambon.amphoe_code)
    return {province: sorted(codes) for province, codes in found.items()}


def _tpmap_pid(cid: str, noise: _Noise) -> str:
    """A citizen ID as TPMAP writes it: plain, ``1-2345-67890-12-1`` or ``1 2345 67890 12 1``."""
    if cid and len(cid) == 13:
        for kind, separator in (("id_dashes", "-"), ("id_spaces", " ")):
            if noise.hit("tpmap", kind):
                return separator.join((cid[0], cid[1:5], cid[5:10], cid[10:12], cid[12]))
    return cid


def _tpmap_birth_date(seen: _Identity, noise: _Noise) -> str:
    """``dd/mm/yyyy`` in the Buddhist era, with ``00`` for an unknown month (and day) or day."""
    day, month = f"{seen.birth_date.day:02d}", f"{seen.birth_date.month:02d}"
    if noise.hit("tpmap", "birth_month_unknown"):
        day = month = "00"
    elif noise.hit("tpmap", "birth_day_unknown"):
        day = "00"
    return f"{day}/{month}/{_year(seen.birth_date, era='BE', wrong_era=seen.wrong_era)}"


def _with_wrong_income(row: list[str]) -> list[str]:
    """The row as first exported, with the income keyed with an extra zero (corrected by a later row)."""
    wrong = list(row)
    wrong[-1] = wrong[-1] + "0" if wrong[-1] else "0"
    return wrong


# --------------------------------------------------------------------------------------------------
# EEF
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Student:
    """A screened student as EEF records them in every semester."""

    household: Household
    child: Person
    seen: _Identity
    title_glued: bool
    guardian_id: str


def _write_eef(population: Population, folder: Path, noise: _Noise, truth: _Truth) -> list[Path]:
    """One file per semester; a student's recorded identity is the same in both."""
    students = [_student(hh, child, population, noise) for hh in population.households if hh.eef
                for child in hh.members if child.schooling]
    for student in students:
        truth.add("eef_students", student.child.schooling.student_ref, student.child)
    noise.add("eef_students", "left_after_one_semester",
              sum(1 for s in students if len(s.child.schooling.semesters) == 1))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for semester in SEMESTERS:
        path = folder / f"eef_{semester.replace('/', '-')}.csv"
        rows = (_eef_row(semester, s) for s in students if semester in s.child.schooling.semesters)
        _write_delimited(path, EEF_COLUMNS, rows, separator=";")
        paths.append(path)
    return paths


def _student(hh: Household, child: Person, population: Population, noise: _Noise) -> _Student:
    """The student's recorded identity, whether the title is glued on, and the guardian's ID as recorded."""
    guardian_ref = child.schooling.guardian_person_id
    guardian_id = (population.person(guardian_ref).citizen_id if guardian_ref else None) or ""
    if guardian_id and noise.hit("eef_students", "guardian_id_blank"):
        guardian_id = ""
    return _Student(hh, child, noise.identity("eef_students", child), noise.hit("eef_students", "title_glued"),
                    guardian_id)


def _eef_row(semester: str, student: _Student) -> list[str]:
    """One student in one semester."""
    hh, child, seen = student.household, student.child, student.seen
    schooling, screening = child.schooling, hh.eef
    title = child.title_on(SEMESTER_STARTS[semester])
    cct = CCT_BAHT[schooling.grade[0]] if screening.status == "extremely_poor" else 0
    return [
        semester, schooling.student_ref, seen.citizen_id, title,
        title + seen.first_name if student.title_glued else seen.first_name, seen.last_name,
        _iso(seen.birth_date, era="BE", wrong_era=seen.wrong_era), child.sex, schooling.school.code,
        schooling.school.name, schooling.grade, student.guardian_id, schooling.guardian_relation,
        hh.address.tambon.code, str(len(hh.members)), str(screening.hh_income_month),
        "|".join(f"{key}={screening.pmt_items[key]}" for key in PMT_ITEMS), screening.status, str(cct),
    ]


def _write_delimited(path: Path, columns: Sequence[str], rows: Iterable[Sequence[str]], *, separator: str) -> None:
    """UTF-8 without BOM, ``\n`` line ends; a field is quoted only when it holds the separator, a comma, a
    quote or a line break (so school names with commas are quoted)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(separator.join(columns) + "\n")
        for row in rows:
            handle.write(separator.join(_quote(field, separator) for field in row) + "\n")


def _quote(field: str, separator: str) -> str:
    if separator in field or _NEEDS_QUOTES.search(field):
        return '"' + field.replace('"', '""') + '"'
    return field


# --------------------------------------------------------------------------------------------------
# MSDHS logbook
# --------------------------------------------------------------------------------------------------


def _write_logbook(population: Population, folder: Path, noise: _Noise, truth: _Truth) -> list[Path]:
    """``logbook_1``: every logbook by ``updated_at``, with tombstones; ``logbook_2``: later updates."""
    cases = [hh for hh in population.households if hh.logbook]
    items = {hh.logbook.logbook_id: _logbook_item(hh, noise, truth) for hh in cases}
    rng = noise.rng
    deleted = rng.sample(cases, min(len(cases), max(1, len(cases) // 100)))
    lines = [(hh.logbook.updated_at, hh.logbook.logbook_id, items[hh.logbook.logbook_id]) for hh in cases]
    for hh in deleted:
        when = hh.logbook.updated_at + dt.timedelta(days=rng.randint(3, 20), minutes=rng.randrange(600))
        lines.append((when, hh.logbook.logbook_id, {"logbook_id": hh.logbook.logbook_id, "deleted": True,
                                                    "updated_at": when.isoformat()}))
    noise.add("msdhs_logbook", "tombstone", len(deleted))
    noise.add("msdhs_logbook", "extra_fields", sum(1 for _, _, item in lines if "api_version" in item))
    folder.mkdir(parents=True, exist_ok=True)
    in_order = sorted(lines, key=lambda entry: entry[:2])
    first = _write_ndjson(folder / "logbook_1.ndjson", (item for _, _, item in in_order))
    gone = {hh.logbook.logbook_id for hh in deleted}
    updates = _logbook_updates([items[hh.logbook.logbook_id] for hh in cases if hh.logbook.logbook_id not in gone],
                               noise)
    return [first, _write_ndjson(folder / "logbook_2.ndjson", updates)]


def _logbook_item(hh: Household, noise: _Noise, truth: _Truth) -> dict[str, Any]:
    """One API household item, as ``msdhs_logbook.md`` shows it (plus fields of a newer API version)."""
    case, address = hh.logbook, hh.address
    members = []
    for number, person in enumerate(hh.members, start=1):
        seen = noise.identity("msdhs_logbook", person)
        members.append({
            "member_no": number, "citizen_id": seen.citizen_id or None, "title": person.title_on(SURVEY_DATE),
            "first_name": seen.first_name, "last_name": seen.last_name,
            "birth_date": _iso(seen.birth_date, wrong_era=seen.wrong_era), "sex": person.sex,
            "relation": person.relation, "vulnerabilities": list(person.vulnerabilities),
        })
        truth.add("msdhs_logbook", f"{case.logbook_id}/{number}", person)
    item = {
        "logbook_id": case.logbook_id, "house_code": address.house_code,
        "address": {"house_no": address.house_no, "moo": address.moo, "tambon_code": address.tambon.code},
        "members": members, "needs": dict(case.needs),
        "assistance": [{"date": a.date.isoformat(), "kind": a.kind, "amount_baht": a.amount_baht,
                        "agency": a.agency} for a in case.assistance],
        "status": case.status, "updated_at": case.updated_at.isoformat(),
    }
    if case.updated_at >= _NEW_API_FROM:
        item["api_version"] = "1.3"
        if noise.rng.random() < 0.1:
            item["case_worker_note"] = noise.rng.choice(_CASE_WORKER_NOTES)
    return item


def _logbook_updates(items: list[dict[str, Any]], noise: _Noise) -> list[dict[str, Any]]:
    """July-August 2024 updates of about 3% of the logbooks (at least two): the first household of two or
    more loses its last member, the others change status; ordered by ``updated_at``."""
    rng = noise.rng
    chosen = rng.sample(items, min(len(items), max(2, len(items) * 3 // 100)))
    shrinking = next((item for item in chosen if len(item["members"]) > 1), None)
    updates = []
    for item in chosen:
        update = dict(item, updated_at=(dt.datetime(2024, 7, 1, 9, tzinfo=ICT) + dt.timedelta(
            days=rng.randrange(62), minutes=rng.randrange(480))).isoformat(), api_version="1.3")
        if item is shrinking:
            update["members"] = item["members"][:-1]
            noise.add("msdhs_logbook", "member_removed")
        else:
            update["status"] = "closed" if item["status"] == "open" else rng.choice(("open", "moved"))
            noise.add("msdhs_logbook", "status_changed")
        updates.append(update)
    return sorted(updates, key=lambda u: (u["updated_at"], u["logbook_id"]))


def _write_ndjson(path: Path, objects: Iterable[dict[str, Any] | str]) -> Path:
    """One JSON object per line, UTF-8, Thai unescaped; a ``str`` is written as it is (a broken line)."""
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for obj in objects:
            handle.write((obj if isinstance(obj, str) else _JSON(obj)) + "\n")
    return path


# --------------------------------------------------------------------------------------------------
# University survey
# --------------------------------------------------------------------------------------------------


def _write_surveys(population: Population, folder: Path, noise: _Noise, truth: _Truth) -> list[Path]:
    """Per university: batch 1 (every visit, one re-submitted, one line malformed) and batch 2 (the
    households whose referrals moved on, repeated with the new statuses)."""
    by_university: dict[str, list[Household]] = {}
    for hh in population.households:
        if hh.survey:
            by_university.setdefault(hh.survey.survey_id.split("-")[0], []).append(hh)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for prefix, visited in by_university.items():
        visited.sort(key=lambda hh: (hh.survey.surveyed_on, hh.survey.survey_id))
        surveys = [_survey_item(hh, noise) for hh in visited]
        first, follow_up = _first_batch(surveys, noise), _follow_up_batch(visited, surveys, noise)
        readable = {line["survey_id"] for line in (*first, *follow_up) if isinstance(line, dict)}
        for hh in visited:
            if hh.survey.survey_id in readable:
                for n, person in enumerate(hh.members, start=1):
                    truth.add("university_survey", f"{hh.survey.survey_id}/{n}", person)
        paths.append(_write_ndjson(folder / f"{prefix.lower()}_2566_batch1.ndjson", first))
        paths.append(_write_ndjson(folder / f"{prefix.lower()}_2566_batch2.ndjson", follow_up))
    return paths


def _survey_item(hh: Household, noise: _Noise) -> dict[str, Any]:
    """One surveyed household, as ``university_survey.md`` shows it."""
    visit, address = hh.survey, noise.address("university_survey", hh)
    members = []
    for person in hh.members:
        seen = noise.identity("university_survey", person)
        members.append({"citizen_id": seen.citizen_id or None, "first_name": seen.first_name,
                        "last_name": seen.last_name, "birth_date": _iso(seen.birth_date, wrong_era=seen.wrong_era),
                        "sex": person.sex, "relation": person.relation})
    return {
        "survey_id": visit.survey_id, "university": visit.university, "surveyed_on": visit.surveyed_on.isoformat(),
        "house_code": address.house_code,
        "address": {"house_no": address.house_no, "moo": address.moo, "tambon_code": address.tambon.code},
        "location": {"lat": address.lat, "lon": address.lon}, "members": members,
        "tpmap_listed": visit.tpmap_listed, "verified_poor": visit.verified_poor, "capitals": dict(visit.capitals),
        "problems": list(visit.problems),
        "referrals": [{"referral_id": r.referral_id, "agency": r.agency, "need": r.need,
                       "referred_on": r.referred_on.isoformat(), "status": r.status} for r in visit.referrals],
        "consent": {"data_return": visit.consent.data_return, "share_with_agencies": visit.consent.share_with_agencies,
                    "recorded_on": visit.consent.recorded_on.isoformat(), "witness": visit.consent.witness},
    }


def _first_batch(surveys: list[dict[str, Any]], noise: _Noise) -> list[dict[str, Any] | str]:
    """Batch 1 lines: one survey first sent with mistakes and re-sent corrected at the end, one line cut
    in half (a ``str``)."""
    resubmitted, malformed = (noise.pick(len(surveys), 2) + [None, None])[:2]
    lines: list[dict[str, Any] | str] = []
    for position, survey in enumerate(surveys):
        if position == malformed:
            noise.add("university_survey", "malformed_line")
            text = _JSON(survey)
            lines.append(text[:len(text) // 2])
        else:
            lines.append(_with_mistakes(survey) if position == resubmitted else survey)
    if resubmitted is not None:
        noise.add("university_survey", "resubmitted")
        lines.append(surveys[resubmitted])
    return lines


def _with_mistakes(survey: dict[str, Any]) -> dict[str, Any]:
    """The survey as first sent: the house number miskeyed and one capital scored a point apart."""
    house_no = survey["address"]["house_no"]
    wrong_house_no = house_no.split("/")[0] if "/" in house_no else house_no + "/1"
    capitals = dict(survey["capitals"])
    capitals["financial"] = capitals["financial"] + 1.0 if capitals["financial"] <= 4.0 else 4.0
    return dict(survey, address=dict(survey["address"], house_no=wrong_house_no), capitals=capitals)


def _follow_up_batch(visited: list[Household], surveys: list[dict[str, Any]], noise: _Noise) -> list[dict[str, Any]]:
    """Households whose referrals changed status, repeated with the new statuses."""
    lines = []
    for hh, survey in zip(visited, surveys):
        moved_on = [r for r in hh.survey.referrals if r.follow_up_status != r.status]
        if not moved_on:
            continue
        noise.add("university_survey", "referral_follow_up", len(moved_on))
        status = {r.referral_id: r.follow_up_status for r in hh.survey.referrals}
        lines.append(dict(survey, referrals=[dict(r, status=status[r["referral_id"]]) for r in survey["referrals"]]))
    return lines
