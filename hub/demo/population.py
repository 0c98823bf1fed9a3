"""A synthetic Thai population: households, their members, and what each partner system holds about them.

Pure generation, no I/O. :func:`generate_population` draws everything, Thai names included (as diverse
as real ones: :mod:`hub.demo.thai_names`), from one seeded ``random.Random``, so a seed always gives the
same population.

The population is the ground truth for linking: every person has a stable ``truth_person_id`` and every
household a ``truth_household_id``; the partner files written from it (``hub.demo.writers``) never
contain them. Households live in real tambons (from ``geothai``) and are seen by a realistic subset of
the four partners (:data:`SOURCES`), so a household is seen by none, one, two, three or all four:

- ``tpmap``: about 60% of the households deprived in at least one dimension;
- ``msdhs_logbook``: about 30% of the poorest 40% of households;
- ``eef_students``: school-age children of households below 54,000 baht a person a year (85% screened);
- ``university_survey``: about a quarter of households, in the first two provinces with a partner
  university (:data:`UNIVERSITIES`) only, the poorer more often.

Household facts hold on :data:`SURVEY_DATE` (TPMAP survey year 2566); school grades follow age on
:data:`SCHOOL_YEAR_START` (academic year 2567).
"""
from __future__ import annotations

import datetime as dt
import gc
import math
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate, count

import geothai

from hub.demo import thai_names
from hub.thai.citizen_id import with_check_digit

SOURCES = ("tpmap", "msdhs_logbook", "eef_students", "university_survey")
DIMENSIONS = ("health", "living", "education", "income", "access")
CAPITALS = ("human", "natural", "financial", "physical", "social")
VULNERABILITIES = ("elderly", "disabled", "bedridden", "chronic_illness", "single_parent", "orphan",
                   "teen_parent", "homeless", "unemployed", "debt", "stateless")
SURVEY_DATE = dt.date(2023, 7, 1)
SCHOOL_YEAR_START = dt.date(2024, 5, 16)
SEMESTERS = ("2567/1", "2567/2")
#: Grade by age on :data:`SCHOOL_YEAR_START`: ``GRADES[age - 4]`` for ages 4-18.
GRADES = tuple(f"อ.{n}" for n in range(1, 4)) + tuple(f"ป.{n}" for n in range(1, 7)) \
    + tuple(f"ม.{n}" for n in range(1, 7))
I3_INCOME_YEAR = 38_000
EEF_ELIGIBLE_MONTH = 3_000
EEF_SCREENED_BELOW_YEAR = 54_000
BANGKOK = "10"
MAX_MEMBERS = 7
ICT = dt.timezone(dt.timedelta(hours=7))

#: Partner universities running the household survey, by province: (name, survey_id prefix).
UNIVERSITIES: dict[str, tuple[str, str]] = {
    "34": ("มหาวิทยาลัยอุบลราชธานี", "UBU"), "50": ("มหาวิทยาลัยเชียงใหม่", "CMU"),
    "40": ("มหาวิทยาลัยขอนแก่น", "KKU"), "44": ("มหาวิทยาลัยมหาสารคาม", "MSU"),
    "65": ("มหาวิทยาลัยนเรศวร", "NU"), "90": ("มหาวิทยาลัยสงขลานครินทร์", "PSU"),
}

#: Approximate (lat, lon) of each provincial seat; tambons are placed around it.
_PROVINCE_SEATS: dict[str, tuple[float, float]] = {
    "10": (13.75, 100.50), "11": (13.60, 100.60), "12": (13.86, 100.51), "13": (14.02, 100.53),
    "14": (14.35, 100.57), "15": (14.59, 100.45), "16": (14.80, 100.65), "17": (14.89, 100.40),
    "18": (15.19, 100.13), "19": (14.53, 100.91), "20": (13.36, 100.98), "21": (12.68, 101.28),
    "22": (12.61, 102.10), "23": (12.24, 102.52), "24": (13.69, 101.07), "25": (14.05, 101.37),
    "26": (14.20, 101.21), "27": (13.82, 102.07), "30": (14.97, 102.10), "31": (14.99, 103.10),
    "32": (14.88, 103.49), "33": (15.12, 104.32), "34": (15.24, 104.85), "35": (15.79, 104.15),
    "36": (15.81, 102.03), "37": (15.86, 104.63), "38": (18.36, 103.65), "39": (17.20, 102.44),
    "40": (16.43, 102.84), "41": (17.41, 102.79), "42": (17.49, 101.72), "43": (17.88, 102.74),
    "44": (16.18, 103.30), "45": (16.05, 103.65), "46": (16.43, 103.51), "47": (17.16, 104.15),
    "48": (17.40, 104.78), "49": (16.54, 104.72), "50": (18.79, 98.98), "51": (18.58, 99.01),
    "52": (18.29, 99.49), "53": (17.62, 100.10), "54": (18.14, 100.14), "55": (18.78, 100.78),
    "56": (19.17, 99.90), "57": (19.91, 99.83), "58": (19.30, 97.97), "60": (15.70, 100.14),
    "61": (15.38, 100.02), "62": (16.48, 99.52), "63": (16.88, 99.13), "64": (17.01, 99.82),
    "65": (16.82, 100.26), "66": (16.44, 100.35), "67": (16.42, 101.16), "70": (13.54, 99.81),
    "71": (14.02, 99.53), "72": (14.47, 100.12), "73": (13.82, 100.06), "74": (13.55, 100.27),
    "75": (13.41, 100.00), "76": (13.11, 99.94), "77": (11.81, 99.80), "80": (8.43, 99.96),
    "81": (8.09, 98.91), "82": (8.45, 98.53), "83": (7.88, 98.39), "84": (9.14, 99.33),
    "85": (9.96, 98.64), "86": (10.49, 99.18), "90": (7.19, 100.60), "91": (6.62, 100.07),
    "92": (7.56, 99.61), "93": (7.62, 100.08), "94": (6.87, 101.25), "95": (6.54, 101.28),
    "96": (6.43, 101.82),
}
_POVERTY_SHIFT = {"10": -0.12, "34": 0.05}
_STATELESS_HOUSEHOLDS = {"50": 0.06}
_DEFAULT_STATELESS_HOUSEHOLDS = 0.005
_MOVER_RATE = 0.03
_TPMAP_COVERAGE = 0.6
_POOREST_SHARE = 0.4
_LOGBOOK_COVERAGE = 0.3
_EEF_COVERAGE = 0.85
_SURVEY_COVERAGE = 0.25
_HOUSEHOLDS_PER_TAMBON = 150
_MIN_TAMBONS = 5
_COMPOSITIONS = ("nuclear", "extended", "skipped_generation", "single_parent", "elderly", "single")
_COMPOSITION_CUMULATIVE = tuple(accumulate((40, 15, 15, 10, 12, 8)))
_DIMENSION_OF = {"H": "health", "L": "living", "E": "education", "I": "income", "A": "access"}
_PRIMARY_SCHOOL_NAMES = (
    "โรงเรียนบ้าน{t}", "โรงเรียนวัด{t}", "โรงเรียนชุมชนบ้าน{t}", "โรงเรียนบ้าน{t} (ประชาสามัคคี)",
    "โรงเรียนบ้าน{t}, สาขาบ้าน{t}น้อย", "โรงเรียนบ้าน{t} (ราษฎร์บำรุง, ประชาอุทิศ)", 'โรงเรียนบ้าน{t} "มิตรภาพ"',
)
_SECONDARY_SCHOOL_NAMES = ("โรงเรียน{t}วิทยาคม", "โรงเรียน{a}วิทยา", "โรงเรียน{t}พิทยาคม", "โรงเรียน{a}วิทยา, {t}")
_REFERRALS = {"living": ("MSDHS", "housing_repair"), "income": ("DSD", "job_training"),
              "health": ("MOPH", "health_care"), "education": ("EEF", "scholarship"),
              "access": ("LAO", "elderly_care")}


# --------------------------------------------------------------------------------------------------
# The ground truth
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tambon:
    """A real tambon (from geothai), placed at ``lat``/``lon``; ``villages`` is 0 where there is no moo."""

    code: str
    name_th: str
    district_name_th: str
    province_name_th: str
    lat: float
    lon: float
    villages: int
    amphoe_code: str = field(init=False)
    province_code: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "amphoe_code", self.code[:4])
        object.__setattr__(self, "province_code", self.code[:2])


@dataclass(frozen=True, slots=True)
class Address:
    """A dwelling: ``moo`` is ``None`` in Bangkok, ``house_code`` (11 digits) ``None`` when unregistered."""

    tambon: Tambon
    moo: int | None
    house_no: str
    house_code: str | None
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class School:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Schooling:
    """A child enrolled in academic year 2567; ``semesters`` lists the terms attended (some leave after one)."""

    student_ref: str
    school: School
    grade: str
    guardian_person_id: str | None
    guardian_relation: str
    semesters: tuple[str, ...]


@dataclass(slots=True)
class Person:
    """One person as they really are; ``citizen_id`` is a valid 13-digit ID or ``None`` (no ID).

    ``last_name`` is the current legal surname; ``maiden_name`` the birth surname of a woman who took her
    husband's. ``tpmap_person_id`` is set when TPMAP lists the person.
    """

    truth_person_id: str
    truth_household_id: str
    relation: str
    sex: str
    first_name: str
    last_name: str
    maiden_name: str | None
    birth_date: dt.date
    ever_married: bool
    citizen_id: str | None
    stateless: bool = False
    vulnerabilities: tuple[str, ...] = ()
    schooling: Schooling | None = None
    tpmap_person_id: str | None = None

    def age_on(self, day: dt.date) -> int:
        """Completed years on ``day``."""
        return day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))

    def title_on(self, day: dt.date) -> str:
        """The Thai title on ``day``: ``ด.ช.``/``ด.ญ.`` under 15, then ``นาย``, ``นาง`` or ``นางสาว``."""
        if self.age_on(day) < 15:
            return "ด.ช." if self.sex == "M" else "ด.ญ."
        if self.sex == "M":
            return "นาย"
        return "นาง" if self.ever_married else "นางสาว"


@dataclass(frozen=True, slots=True)
class EefScreening:
    """EEF's household screening: income as the teacher recorded it, the eight PMT items, the status."""

    hh_income_month: int
    pmt_items: dict[str, str]
    status: str


@dataclass(frozen=True, slots=True)
class Assistance:
    date: dt.date
    kind: str
    amount_baht: int | None
    agency: str


@dataclass(frozen=True, slots=True)
class LogbookCase:
    """The MSDHS family logbook of a household."""

    logbook_id: str
    needs: dict[str, bool]
    assistance: tuple[Assistance, ...]
    status: str
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Referral:
    """A referral made at the survey visit; ``follow_up_status`` is its status in the follow-up batch."""

    referral_id: str
    agency: str
    need: str
    referred_on: dt.date
    status: str
    follow_up_status: str


@dataclass(frozen=True, slots=True)
class Consent:
    data_return: bool
    share_with_agencies: bool
    recorded_on: dt.date
    witness: str


@dataclass(frozen=True, slots=True)
class SurveyVisit:
    """A university's search-and-verify visit (before any move: it uses ``Household.address_in_2566``)."""

    survey_id: str
    university: str
    surveyed_on: dt.date
    tpmap_listed: bool
    verified_poor: bool
    capitals: dict[str, float]
    problems: tuple[str, ...]
    referrals: tuple[Referral, ...]
    consent: Consent


@dataclass(slots=True)
class Household:
    """A household and what each partner holds about it (``None`` where a partner does not see it).

    ``previous_address`` is set for households that moved tambon after the 2566 surveys.
    ``failed_indicators`` are TPMAP indicator codes (``indicators.md``), consistent with the members.
    """

    truth_household_id: str
    composition: str
    address: Address
    previous_address: Address | None
    members: list[Person]
    poverty: float
    income_per_capita_year: int
    failed_indicators: tuple[str, ...]
    welfare_card: bool
    eef: EefScreening | None = None
    logbook: LogbookCase | None = None
    survey: SurveyVisit | None = None

    @property
    def tambon_code(self) -> str:
        """Where the household lives now."""
        return self.address.tambon.code

    @property
    def address_in_2566(self) -> Address:
        """Where the household lived in 2566 (TPMAP's and the survey's address)."""
        return self.previous_address or self.address

    @property
    def dimensions(self) -> dict[str, bool]:
        """Deprived or not, per TPMAP dimension: deprived when any indicator of it failed."""
        failed = {_DIMENSION_OF[code[0]] for code in self.failed_indicators}
        return {d: d in failed for d in DIMENSIONS}

    @property
    def is_deprived(self) -> bool:
        return bool(self.failed_indicators)

    @property
    def is_poor(self) -> bool:
        """Truly poor: income below the I3 line or deprived in two or more dimensions."""
        return self.income_per_capita_year < I3_INCOME_YEAR or sum(self.dimensions.values()) >= 2

    @property
    def sources(self) -> tuple[str, ...]:
        """The partners that see this household, in :data:`SOURCES` order."""
        seen = {
            "tpmap": any(m.tpmap_person_id for m in self.members),
            "msdhs_logbook": self.logbook is not None,
            "eef_students": self.eef is not None,
            "university_survey": self.survey is not None,
        }
        return tuple(s for s in SOURCES if seen[s])


@dataclass(slots=True)
class Population:
    """The generated households and, flattened, their persons; :meth:`person` finds one by truth id."""

    seed: int
    provinces: tuple[str, ...]
    households: list[Household]
    persons: list[Person]
    _by_id: dict[str, Person] | None = field(default=None, init=False, repr=False)

    def person(self, truth_person_id: str) -> Person:
        """The person with this truth id (``KeyError`` when unknown); the index is built on first use."""
        if self._by_id is None:
            self._by_id = {p.truth_person_id: p for p in self.persons}
        return self._by_id[truth_person_id]


def generate_population(*, provinces: Sequence[str] = ("34", "10", "50"), households: int = 600,
                        seed: int = 2566) -> Population:
    """``households`` households spread evenly over ``provinces`` (2-digit DOPA codes), deterministic for ``seed``.

    Raises ``ValueError`` for an unknown province, no provinces, or a negative household count.
    """
    provinces = tuple(provinces)
    if not provinces or households < 0:
        raise ValueError("need at least one province and a non-negative number of households")
    for code in provinces:
        if code not in _PROVINCE_SEATS or geothai.province(code) is None:
            raise ValueError(f"unknown province code {code!r}")
    builder = _Builder(seed)
    per_province = households // len(provinces) + 1
    areas = {code: builder.pick_tambons(code, per_province) for code in provinces}
    schools = builder.schools([t for tambons in areas.values() for t in tambons])
    with gc_paused():
        result = [builder.household(n, areas[provinces[n % len(provinces)]], schools) for n in range(households)]
        builder.assign_sources(result, provinces)
        return Population(seed, provinces, result, [p for hh in result for p in hh.members])


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of long-lived objects are made (they hold no
    reference cycles, so nothing is left uncollected); its earlier state is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------------


@cache
def _province_tambons(province_code: str) -> tuple[tuple[str, str, str], ...]:
    """Every tambon of a province as (code, name, district name), read from geothai once."""
    return tuple((s.code, s.name_th, d.name_th)
                 for d in geothai.districts(province_code) for s in geothai.subdistricts(d.code))


@cache
def _birth_days(age: int) -> tuple[int, int]:
    """The first ordinal and the number of the birth dates giving ``age`` on :data:`SURVEY_DATE`."""
    latest = SURVEY_DATE.replace(year=SURVEY_DATE.year - age).toordinal()
    first = SURVEY_DATE.replace(year=SURVEY_DATE.year - age - 1).toordinal() + 1
    return first, latest - first + 1


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _half_point(value: float) -> float:
    """A score rounded to the nearest half point within 1.0-5.0."""
    return _clamp(round(value * 2) / 2, 1.0, 5.0)


@dataclass(slots=True)
class _Draft:
    """A member before dates and IDs are drawn; ``age`` is on :data:`SURVEY_DATE`."""

    relation: str
    sex: str
    age: int
    first_name: str
    last_name: str
    maiden_name: str | None = None
    ever_married: bool = False


@dataclass(frozen=True, slots=True)
class _Schools:
    primary: dict[str, tuple[School, ...]]  # by tambon code
    secondary: dict[str, School]  # by amphoe code


class _FastRandom(random.Random):
    """``random.Random`` whose ``randint`` and ``choice`` take a single ``random()`` draw: several times
    faster, and as uniform as needed for the small ranges used here."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]


class _Builder:
    """Holds the seeded random sources and the registries that keep IDs and codes unique."""

    def __init__(self, seed: int) -> None:
        self.rng = _FastRandom(seed)
        self.used_codes: set[str] = set()
        self.sequences: defaultdict[str, count] = defaultdict(lambda: count(1))
        self.amphoes: dict[str, tuple[str, ...]] = {}

    def next_number(self, key: str) -> int:
        """1, 2, 3... per ``key``."""
        return next(self.sequences[key])

    def unique_code(self, prefix: str, digits: int) -> str:
        """``prefix`` + random digits, never handed out before."""
        while True:
            code = prefix + f"{int(self.rng.random() * 10 ** digits):0{digits}d}"
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code

    # -- areas --------------------------------------------------------------------------------------

    def pick_tambons(self, province_code: str, households: int) -> list[Tambon]:
        """A handful of real tambons of the province (more for large populations), placed near its seat."""
        every = _province_tambons(province_code)
        self.amphoes[province_code] = tuple(sorted({code[:4] for code, _, _ in every}))
        wanted = min(len(every), max(_MIN_TAMBONS, households // _HOUSEHOLDS_PER_TAMBON))
        province_name = geothai.province(province_code).name_th
        lat, lon = _PROVINCE_SEATS[province_code]
        spread = 0.12 if province_code == BANGKOK else 0.35
        return [
            Tambon(code, name, district, province_name,
                   round(lat + self.rng.uniform(-spread, spread), 4), round(lon + self.rng.uniform(-spread, spread), 4),
                   0 if province_code == BANGKOK else self.rng.randint(6, 15))
            for code, name, district in sorted(self.rng.sample(every, wanted))
        ]

    def schools(self, tambons: Sequence[Tambon]) -> _Schools:
        """Two primary schools per tambon and one secondary school per amphoe."""
        primary = {t.code: (self.school(t, _PRIMARY_SCHOOL_NAMES), self.school(t, _PRIMARY_SCHOOL_NAMES))
                   for t in tambons}
        secondary: dict[str, School] = {}
        for t in tambons:
            if t.amphoe_code not in secondary:
                secondary[t.amphoe_code] = self.school(t, _SECONDARY_SCHOOL_NAMES)
        return _Schools(primary, secondary)

    def school(self, tambon: Tambon, patterns: Sequence[str]) -> School:
        """A school named after its tambon or district (some names hold commas or quotes)."""
        name = self.rng.choice(patterns).format(t=tambon.name_th, a=tambon.district_name_th.removeprefix("เขต"))
        return School(self.unique_code("10" + tambon.province_code, 6), name)

    def address(self, tambon: Tambon) -> Address:
        """A dwelling in the tambon: village, house number like ``12/3``, house code, location."""
        rng = self.rng
        number = rng.randint(1, 250)
        house_no = str(number) if rng.random() < 0.6 else f"{number}/{rng.randint(1, 40)}"
        house_code = self.unique_code(tambon.amphoe_code, 7) if rng.random() > 0.02 else None
        return Address(tambon, rng.randint(1, tambon.villages) if tambon.villages else None, house_no, house_code,
                       round(tambon.lat + rng.gauss(0, 0.012), 5), round(tambon.lon + rng.gauss(0, 0.012), 5))

    # -- members ------------------------------------------------------------------------------------

    def first_name(self, sex: str) -> str:
        """A Thai first name for the sex (:mod:`hub.demo.thai_names`)."""
        return thai_names.first_name(self.rng, sex)

    def surname(self) -> str:
        """A new family's Thai surname (:mod:`hub.demo.thai_names`)."""
        return thai_names.surname(self.rng)

    def couple(self, head_age: int) -> list[_Draft]:
        """A married couple under the husband's surname (the wife keeps hers 30% of the time); the wife
        heads 20% of them."""
        rng = self.rng
        family, own = self.surname(), self.surname()
        takes_name = rng.random() < 0.7
        husband = _Draft("head", "M", head_age, self.first_name("M"), family, None, True)
        wife = _Draft("spouse", "F", int(_clamp(head_age - round(rng.gauss(2, 4)), 18, 95)), self.first_name("F"),
                      family if takes_name else own, own if takes_name else None, True)
        if rng.random() < 0.2:
            husband.relation, wife.relation = "spouse", "head"
            return [wife, husband]
        return [husband, wife]

    def widowed(self, age: int) -> _Draft:
        """An elderly head living without a spouse, a widow three times in four."""
        if self.rng.random() < 0.75:
            maiden = self.surname() if self.rng.random() < 0.5 else None
            return _Draft("head", "F", age, self.first_name("F"), self.surname(), maiden, True)
        return _Draft("head", "M", age, self.first_name("M"), self.surname(), None, True)

    def children(self, mother_age: int, surname: str, n: int, *, relation: str = "child",
                 max_age: int = 35) -> list[_Draft]:
        """Up to ``n`` children born when their mother was 16-42."""
        youngest, oldest = max(0, mother_age - 42), min(mother_age - 16, max_age)
        if oldest < youngest:
            return []
        drafts = []
        for _ in range(n):
            sex = self.rng.choice("MF")
            drafts.append(_Draft(relation, sex, self.rng.randint(youngest, oldest), self.first_name(sex), surname))
        return drafts

    def parents_of(self, head: _Draft) -> list[_Draft]:
        """The head's father and mother, or one of them, under the head's birth surname."""
        surname, age = head.maiden_name or head.last_name, min(head.age + self.rng.randint(20, 38), 98)
        father = _Draft("parent", "M", age, self.first_name("M"), surname, None, True)
        mother = _Draft("parent", "F", min(age - self.rng.randint(0, 6), 98), self.first_name("F"), surname,
                        self.surname(), True)
        return self.rng.choice(([father, mother], [mother], [mother], [father]))

    def compose(self, composition: str) -> list[_Draft]:
        """The members of a household of the given composition, head first, at most :data:`MAX_MEMBERS`."""
        rng = self.rng
        if composition in ("nuclear", "extended"):
            members = self.couple(rng.randint(22, 65) if composition == "nuclear" else rng.randint(28, 55))
            husband, wife = sorted(members, key=lambda d: d.sex == "F")
            n = rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4)) if composition == "nuclear" else rng.randint(1, 3)
            members += self.children(wife.age, husband.last_name, n)
            if composition == "extended":
                members += self.parents_of(members[0])
        elif composition == "skipped_generation":
            head_age = rng.randint(50, 80)
            members = self.couple(head_age) if rng.random() < 0.7 else [self.widowed(head_age)]
            surname = members[0].last_name if rng.random() < 0.6 else self.surname()
            members += self.children(head_age - rng.randint(20, 30), surname, rng.randint(1, 3),
                                     relation="grandchild", max_age=17)
        elif composition == "single_parent":
            sex = "F" if rng.random() < 0.8 else "M"
            head = _Draft("head", sex, rng.randint(22, 55), self.first_name(sex), self.surname(), None, True)
            surname = head.last_name if rng.random() < 0.5 else self.surname()
            members = [head] + self.children(head.age if sex == "F" else head.age - 3, surname, rng.randint(1, 3))
        elif composition == "elderly":
            head_age = rng.randint(60, 90)
            members = self.couple(head_age) if rng.random() < 0.5 else [self.widowed(head_age)]
        else:
            sex = rng.choice("MF")
            members = [_Draft("head", sex, rng.randint(20, 59), self.first_name(sex), self.surname())]
        return members[:MAX_MEMBERS]

    def birth_date(self, age: int) -> dt.date:
        """A birth date giving exactly ``age`` on :data:`SURVEY_DATE`."""
        first, days = _birth_days(age)
        return dt.date.fromordinal(first + int(self.rng.random() * days))

    def citizen_id(self, birth: dt.date, province_code: str, amphoe_code: str) -> str:
        """A valid, unique ID: type 1 (born 1984 on) or 3, registered in the home amphoe or another of the
        province, then seven random digits and the check digit."""
        if self.rng.random() < 0.25:
            amphoe_code = self.rng.choice(self.amphoes[province_code])
        prefix = ("1" if birth.year >= 1984 else "3") + amphoe_code
        while True:
            tail = int(self.rng.random() * 10_000_000)
            code = with_check_digit(f"{prefix}{tail:07d}")
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code

    def person(self, draft: _Draft, household_id: str, tambon: Tambon, stateless: bool) -> Person:
        """A person from a draft; stateless people and 2% of children under 15 have no ID."""
        birth = self.birth_date(draft.age)
        no_id = stateless or (draft.age < 15 and self.rng.random() < 0.02)
        cid = None if no_id else self.citizen_id(birth, tambon.province_code, tambon.amphoe_code)
        return Person(f"P{self.next_number('person'):08d}", household_id, draft.relation, draft.sex,
                      draft.first_name, draft.last_name, draft.maiden_name, birth, draft.ever_married, cid, stateless)

    # -- household facts ----------------------------------------------------------------------------

    def household(self, number: int, tambons: Sequence[Tambon], schools: _Schools) -> Household:
        """One household in one of ``tambons``, with members, schooling, income and TPMAP indicators."""
        rng = self.rng
        household_id = f"H{number + 1:07d}"
        tambon = rng.choice(tambons)
        previous = None
        if len(tambons) > 1 and rng.random() < _MOVER_RATE:
            previous = self.address(rng.choice([t for t in tambons if t is not tambon]))
        poverty = _clamp(rng.triangular(0.0, 1.0, 0.35) + _POVERTY_SHIFT.get(tambon.province_code, 0.0), 0.0, 1.0)
        composition = rng.choices(_COMPOSITIONS, cum_weights=_COMPOSITION_CUMULATIVE)[0]
        stateless_rate = _STATELESS_HOUSEHOLDS.get(tambon.province_code, _DEFAULT_STATELESS_HOUSEHOLDS)
        stateless = rng.random() < stateless_rate
        drafts = self.compose(composition)
        ages = [d.age for d in drafts]
        members = [self.person(d, household_id, tambon, stateless and rng.random() < 0.8) for d in drafts]
        self.enrol(members, tambon, poverty, schools)
        for member, age in zip(members, ages):
            member.vulnerabilities = self.vulnerabilities(member, age, members, composition, poverty)
        income = self.income(poverty, tambon.province_code)
        return Household(household_id, composition, self.address(tambon), previous, members, round(poverty, 4),
                         income, self.failed_indicators(members, ages, poverty, income), self.welfare_card(income))

    def income(self, poverty: float, province_code: str) -> int:
        """Household income per person per year, log-normal, falling with poverty (about 40% under I3)."""
        level = 11.7 - 2.3 * poverty + (0.2 if province_code == BANGKOK else 0.0) + self.rng.gauss(0, 0.3)
        return max(6_000, int(math.exp(level) / 100 + 0.5) * 100)

    def enrol(self, members: list[Person], tambon: Tambon, poverty: float, schools: _Schools) -> None:
        """Give school-age children who attend school a :class:`Schooling` (siblings share a school)."""
        primary = self.rng.choice(schools.primary[tambon.code])
        for child in members:
            if child.relation not in ("child", "grandchild"):
                continue
            age = child.age_on(SCHOOL_YEAR_START)
            if not 4 <= age <= 18:
                continue
            chance = 0.9 - 0.2 * poverty if age < 6 else 0.98 - 0.1 * poverty if age < 15 else 0.85 - 0.4 * poverty
            if self.rng.random() >= chance:
                continue
            grade = GRADES[age - 4]
            school = schools.secondary[tambon.amphoe_code] if grade.startswith("ม") else primary
            guardian, relation = self.guardian(child, members)
            semesters = SEMESTERS if self.rng.random() > 0.03 else SEMESTERS[:1]
            child.schooling = Schooling(f"ST{self.next_number('student'):09d}", school, grade,
                                        guardian.truth_person_id if guardian else None, relation, semesters)

    def guardian(self, child: Person, members: list[Person]) -> tuple[Person | None, str]:
        """Who answers for the child at school: mostly the mother, else father, grandparent or relative."""
        rng = self.rng
        if rng.random() < 0.02:
            return None, "other"
        elders = [m for m in members if m.relation in ("head", "spouse")]
        if child.relation == "grandchild":
            return rng.choice(elders), "grandparent"
        siblings = [m for m in members if m.relation == "child" and m.age_on(SURVEY_DATE) >= 20]
        if siblings and rng.random() < 0.1:
            return siblings[0], "relative"
        mother = next((m for m in elders if m.sex == "F"), None)
        father = next((m for m in elders if m.sex == "M"), None)
        if mother and (father is None or rng.random() < 0.65):
            return mother, "mother"
        return father, "father"

    def vulnerabilities(self, person: Person, age: int, household: Sequence[Person], composition: str,
                        poverty: float) -> tuple[str, ...]:
        """MSDHS vulnerabilities (in :data:`VULNERABILITIES` order) from age, relation and chance rising
        with poverty; ``age`` is on :data:`SURVEY_DATE`."""
        chance, relation = self.rng.random, person.relation
        found = []
        if age >= 60:
            found.append("elderly")
        if chance() < 0.015 + 0.03 * poverty + (0.06 if age >= 70 else 0.0):
            found.append("disabled")
        if age >= 65 and chance() < 0.05:
            found.append("bedridden")
        if age >= 40 and chance() < 0.12 + 0.1 * poverty:
            found.append("chronic_illness")
        if relation == "head" and composition == "single_parent":
            found.append("single_parent")
        if relation == "grandchild" and chance() < 0.15:
            found.append("orphan")
        if relation in ("head", "spouse") and age < 20 and any(m.relation == "child" for m in household):
            found.append("teen_parent")
        if relation == "head" and chance() < 0.01 * poverty:
            found.append("homeless")
        if 15 <= age < 60 and person.schooling is None and chance() < 0.02 + 0.1 * poverty:
            found.append("unemployed")
        if relation == "head" and chance() < 0.05 + 0.35 * poverty:
            found.append("debt")
        if person.stateless:
            found.append("stateless")
        return tuple(found)

    def failed_indicators(self, members: list[Person], ages: Sequence[int], poverty: float,
                          income: int) -> tuple[str, ...]:
        """TPMAP indicator codes the household fails, each only when its members (``ages`` on
        :data:`SURVEY_DATE`) make it possible."""
        chance, p = self.rng.random, poverty
        out_of_school = {age for m, age in zip(members, ages)
                         if m.schooling is None and m.relation in ("child", "grandchild")}
        vulnerable = {v for m in members for v in m.vulnerabilities}
        oldest, working_age = max(ages), any(15 <= a < 60 for a in ages)
        failed = {
            "H1": 0 in ages and chance() < 0.1 + 0.3 * p,
            "H2": chance() < 0.02 + 0.15 * p,
            "H3": chance() < 0.02 + 0.12 * p,
            "H4": oldest >= 6 and chance() < 0.05 + 0.2 * p,
            "L1": chance() < 0.02 + 0.25 * p,
            "L2": chance() < 0.02 + 0.15 * p,
            "L3": chance() < 0.02 + 0.12 * p,
            "L4": chance() < 0.02 + 0.2 * p,
            "E1": not out_of_school.isdisjoint(range(4, 6)),
            "E2": not out_of_school.isdisjoint(range(6, 15)),
            "E3": not out_of_school.isdisjoint(range(15, 18)),
            "E4": working_age and chance() < 0.01 + 0.1 * p,
            "I1": "unemployed" in vulnerable,
            "I2": oldest >= 60 and chance() < 0.1 + 0.4 * p,
            "I3": income < I3_INCOME_YEAR,
            "A1": "elderly" in vulnerable and chance() < 0.03 + 0.2 * p,
            "A2": "disabled" in vulnerable and chance() < 0.1 + 0.3 * p,
        }
        return tuple(code for code, hit in failed.items() if hit)

    def welfare_card(self, income: int) -> bool:
        """Registered for the state welfare card: most of the poor, some near-poor, a few who should not be."""
        chance = 0.85 if income < I3_INCOME_YEAR else 0.45 if income < 100_000 else 0.02
        return self.rng.random() < chance

    # -- what the partners see ----------------------------------------------------------------------

    def assign_sources(self, households: list[Household], provinces: Sequence[str]) -> None:
        """Decide which partner sees each household and fill in what it holds."""
        rng = self.rng
        ranked = sorted(hh.poverty for hh in households)
        poorest = ranked[int(len(ranked) * (1 - _POOREST_SHARE))] if ranked else 0.0
        surveyed = [code for code in provinces if code in UNIVERSITIES][:2]
        for hh in households:
            if hh.is_deprived and rng.random() < _TPMAP_COVERAGE:
                self.list_in_tpmap(hh)
            if hh.poverty >= poorest and rng.random() < _LOGBOOK_COVERAGE:
                hh.logbook = self.logbook_case(hh)
            if (any(m.schooling for m in hh.members) and hh.income_per_capita_year < EEF_SCREENED_BELOW_YEAR
                    and rng.random() < _EEF_COVERAGE):
                hh.eef = self.eef_screening(hh)
            if hh.address_in_2566.tambon.province_code in surveyed \
                    and rng.random() < _SURVEY_COVERAGE * (0.4 + 1.4 * hh.poverty):
                hh.survey = self.survey_visit(hh)

    def list_in_tpmap(self, hh: Household) -> None:
        """Give every member a TPMAP row id ``TP66-AAAA-NNNNNNN`` under the 2566 amphoe."""
        amphoe = hh.address_in_2566.tambon.amphoe_code
        for member in hh.members:
            member.tpmap_person_id = f"TP66-{amphoe}-{self.next_number('tpmap' + amphoe):07d}"

    def logbook_case(self, hh: Household) -> LogbookCase:
        """A logbook: needs close to the TPMAP dimensions, some assistance, mostly still open."""
        rng, tambon = self.rng, hh.address.tambon
        needs = dict(hh.dimensions)
        if rng.random() < 0.15:
            flipped = rng.choice(DIMENSIONS)
            needs[flipped] = not needs[flipped]
        updated = dt.datetime(2024, 1, 1, 8, tzinfo=ICT) + dt.timedelta(
            days=rng.randint(0, 181), hours=rng.randint(0, 9), minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
        status = rng.choices(("open", "closed", "moved"), (85, 12, 3))[0]
        return LogbookCase(f"LB-{tambon.amphoe_code}-{self.next_number('logbook' + tambon.amphoe_code):06d}",
                           needs, self.assistance(tambon, updated.date()), status, updated)

    def assistance(self, tambon: Tambon, until: dt.date) -> tuple[Assistance, ...]:
        """Zero to three pieces of help given since mid-2023."""
        rng, start = self.rng, dt.date(2023, 6, 1)
        local = f"สำนักงาน{tambon.district_name_th}" if tambon.province_code == BANGKOK else f"อบต.{tambon.name_th}"
        entries = []
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            kind = rng.choice(("cash", "cash", "in_kind", "housing_repair", "job_training"))
            amount = {"cash": rng.choice((1000, 1500, 2000, 3000)), "housing_repair": 1000 * rng.randint(20, 40),
                      "in_kind": None, "job_training": None}[kind]
            agency = f"พมจ.{tambon.province_name_th}" if kind in ("cash", "in_kind") else local
            entries.append(Assistance(start + dt.timedelta(days=rng.randint(0, (until - start).days)),
                                      kind, amount, agency))
        return tuple(sorted(entries, key=lambda a: a.date))

    def eef_screening(self, hh: Household) -> EefScreening:
        """EEF's screening: the teacher's income estimate, the PMT items, and the status they give."""
        rng, size = self.rng, len(hh.members)
        reported = max(500, int(round(hh.income_per_capita_year * size / 12 * rng.uniform(0.85, 1.15), -2)))
        items = self.pmt_items(hh)
        if reported / size > EEF_ELIGIBLE_MONTH:
            status = "not_eligible"
        else:
            status = "extremely_poor" if _pmt_hardships(items) >= 4 else "poor"
        return EefScreening(reported, items, status)

    def pmt_items(self, hh: Household) -> dict[str, str]:
        """The eight proxy-means-test items, each showing hardship more often in poorer households."""
        rng, p = self.rng, hh.poverty

        def hard() -> bool:
            return rng.random() < 0.15 + 0.6 * p

        dependents = sum(1 for m in hh.members if not 15 <= m.age_on(SURVEY_DATE) < 60)
        rural = hh.address.tambon.province_code != BANGKOK
        return {
            "dependents": str(dependents),
            "tenure": rng.choice(("rent", "free")) if hard() else "own",
            "house": "poor" if hard() else rng.choice(("fair", "good")),
            "farmland": rng.choice(("under_5_rai", "5_rai_plus")) if rural and not hard() else "none",
            "water": rng.choice(("well", "rain", "river")) if hard() else rng.choice(("tap", "bottled")),
            "electricity": rng.choice(("no", "shared")) if rng.random() < 0.1 * p else "yes",
            "vehicle": "none" if hard() else rng.choice(("bicycle", "motorcycle", "motorcycle", "car")),
            "appliances": str(rng.randint(0, 2) if hard() else rng.randint(2, 8)),
        }

    def survey_visit(self, hh: Household) -> SurveyVisit:
        """A search-and-verify visit in mid-2566; the verdict errs 7% of the time."""
        rng, address = self.rng, hh.address_in_2566
        university, prefix = UNIVERSITIES[address.tambon.province_code]
        surveyed_on = dt.date(2023, 7, 1) + dt.timedelta(days=rng.randint(0, 91))
        verified_poor = hh.is_poor != (rng.random() < 0.07)
        problems = tuple(d for d, deprived in hh.dimensions.items() if deprived)
        if verified_poor and not problems:
            problems = ("income",)
        witness = f"ผู้ใหญ่บ้านหมู่ {address.moo}" if address.moo else "ประธานชุมชน"
        consent = Consent(rng.random() < 0.95, rng.random() < 0.9, surveyed_on, witness)
        return SurveyVisit(
            f"{prefix}-2566-{self.next_number('survey' + prefix):06d}", university, surveyed_on,
            any(m.tpmap_person_id for m in hh.members), verified_poor,
            {c: _half_point(1 + 4 * (1 - hh.poverty) + rng.gauss(0, 0.7)) for c in CAPITALS},
            problems, self.referrals(problems, surveyed_on) if verified_poor else (), consent)

    def referrals(self, problems: Sequence[str], surveyed_on: dt.date) -> tuple[Referral, ...]:
        """At most two referrals for the household's problems, with their status now and at follow-up."""
        rng, made = self.rng, []
        for problem in problems:
            if len(made) == 2 or rng.random() >= 0.6:
                continue
            agency, need = _REFERRALS[problem]
            status = "pending" if rng.random() < 0.8 else "accepted"
            later = rng.choices(("pending", "accepted", "done", "rejected"), (20, 40, 30, 10))[0] \
                if status == "pending" else rng.choice(("accepted", "done", "done"))
            made.append(Referral(f"R-{self.next_number('referral'):06d}", agency, need,
                                 surveyed_on + dt.timedelta(days=rng.randint(7, 30)), status, later))
        return tuple(made)


def _pmt_hardships(items: dict[str, str]) -> int:
    """How many of the eight PMT items show hardship."""
    return sum((
        int(items["dependents"]) >= 2, items["tenure"] != "own", items["house"] == "poor",
        items["farmland"] == "none", items["water"] in ("well", "rain", "river"), items["electricity"] != "yes",
        items["vehicle"] == "none", int(items["appliances"]) <= 1,
    ))
