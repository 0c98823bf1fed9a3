"""The figures an aggregate view may carry, grouped as a contract names them (``figures = [...]``).

Every measure is a column of the household facts (:mod:`hub.views.facts`), summed per area, so every
level adds up to its parent. A ``count`` counts households or persons and is protected by cell
suppression; a ``sum`` (scores, referrals) is published only where its ``base`` count is, so it shares
that count's suppression pattern. A count ``within`` another (households deprived in health within the
area's households) is hidden wherever its container is: a visible part would bound the hidden whole.
``sensitive`` measures are health or disability data (PDPA s.26): a view carrying one needs explicit
consent or a basis that covers sensitive data. Ratios are computed from the published sums and counts,
never from hidden cells.
"""
from __future__ import annotations

from dataclasses import dataclass

from hub.community import OVERDUE_DAYS
from hub.thai.indicators import DIMENSIONS

CAPITALS = ("human", "natural", "financial", "physical", "social")
VULNERABILITIES = ("elderly", "disabled", "bedridden", "chronic_illness", "single_parent", "orphan", "teen_parent",
                   "homeless", "unemployed", "debt", "stateless")
_SENSITIVE_VULNERABILITIES = {"disabled", "bedridden", "chronic_illness"}


@dataclass(frozen=True)
class Measure:
    name: str
    title: str
    unit: str  # households | persons | dimensions | score | referrals
    base: str | None = None  # a sum's count: published where the count is
    within: str | None = None  # a count contained in another count of the same area (hidden with it)
    sensitive: bool = False

    @property
    def is_count(self) -> bool:
        return self.base is None


@dataclass(frozen=True)
class Ratio:
    name: str
    title: str
    numerator: str
    denominator: str
    scale: float = 1.0  # ratio = numerator / (denominator * scale)


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    measures: tuple[Measure, ...]
    ratios: tuple[Ratio, ...] = ()
    partitions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (total, parts) within one area


def _households(name: str, title: str, within: str | None = "households", **kw) -> Measure:
    return Measure(name, title, "households", within=within, **kw)


def _persons(name: str, title: str, within: str | None = "persons", **kw) -> Measure:
    return Measure(name, title, "persons", within=within, **kw)


# One measure, one name: a number two figures both carry (the households of an area) is the same column,
# so suppression can never hide it in one place and show it in another.
PERSONS = Measure("persons", "persons", "persons")
HOUSEHOLDS = _households("households", "households", within="persons")  # every household has a person
SURVEYED = _households("surveyed", "households verified (by a university survey or their community)")
#: Referral statuses counted per area (:mod:`hub.community.referrals`), and those overdue.
REFERRAL_MEASURES = ("referrals_pending", "referrals_accepted", "referrals_done", "referrals_rejected",
                     "referrals_overdue")

FIGURES: dict[str, Figure] = {f.name: f for f in (
    Figure("households", "Households and persons the hub knows (ครัวเรือนและคน)", (HOUSEHOLDS, PERSONS)),
    Figure("tpmap", "TPMAP: households deprived per dimension, target poor (คนจนเป้าหมาย)", (
        HOUSEHOLDS, PERSONS,
        *(_households(f"deprived_{d}", f"households deprived in {d} (TPMAP)", sensitive=d == "health")
          for d in DIMENSIONS),
        _persons("tpmap_persons", "persons on the TPMAP list"),
        _persons("target_poor", "target poor: deprived and holding a state welfare card", within="tpmap_persons"),
    )),
    Figure("mpi", "Alkire-Foster multidimensional poverty (equal weights, the view's cut-off)", (
        HOUSEHOLDS,
        _households("mpi_poor", "multidimensionally poor households (q)"),
        Measure("mpi_deprivations", "deprivations of the poor households (censored)", "dimensions",
                base="mpi_poor", sensitive=True),
    ), ratios=(
        Ratio("mpi_H", "headcount ratio H = q / n", "mpi_poor", "households"),
        Ratio("mpi_A", "intensity A: average share of dimensions the poor are deprived in",
              "mpi_deprivations", "mpi_poor", scale=len(DIMENSIONS)),
        Ratio("mpi", "MPI = H x A", "mpi_deprivations", "households", scale=len(DIMENSIONS)),
    )),
    Figure("eef", "EEF: poor and extremely poor students (นักเรียนยากจน ยากจนพิเศษ)", (
        PERSONS,
        _persons("eef_students", "students screened by EEF"),
        _persons("eef_poor", "poor students", within="eef_students"),
        _persons("eef_extremely_poor", "extremely poor students", within="eef_students"),
    )),
    Figure("msdhs", "MSDHS logbook: vulnerable groups and assistance received", (
        HOUSEHOLDS, PERSONS,
        _households("msdhs_households", "households with a family logbook"),
        _households("msdhs_assisted", "households that received assistance", within="msdhs_households"),
        *(_persons(f"vulnerable_{v}", f"persons: {v.replace('_', ' ')}", sensitive=v in _SENSITIVE_VULNERABILITIES)
          for v in VULNERABILITIES),
    )),
    Figure("capitals", "University survey: the five livelihood capitals (1-5)", (
        HOUSEHOLDS, SURVEYED,
        *(Measure(f"capital_{c}_sum", f"{c} capital, sum of scores", "score", base="surveyed") for c in CAPITALS),
    ), ratios=tuple(Ratio(f"capital_{c}", f"{c} capital, mean score", f"capital_{c}_sum", "surveyed")
                    for c in CAPITALS)),
    Figure("verification", "Verification by universities and communities: inclusion and exclusion errors, "
                           "referrals", (
        HOUSEHOLDS, SURVEYED,
        _households("community_verified", "verified by their community's stewards (outranks the sources)",
                    within="surveyed"),
        _households("verified_poor", "verified poor", within="surveyed"),
        _households("inclusion_errors", "inclusion errors: on the TPMAP list, found not poor", within="surveyed"),
        _households("exclusion_errors", "exclusion errors: poor, not on the TPMAP list", within="verified_poor"),
        Measure("referrals", "referrals made", "referrals", base="surveyed"),
    )),
    Figure("referrals", "Referrals to agencies: where they stand, and those overdue", (
        HOUSEHOLDS,
        *(Measure(name, title, "referrals", base="households") for name, title in zip(REFERRAL_MEASURES, (
            "pending", "accepted by the agency", "done", "rejected",
            f"overdue: not closed {OVERDUE_DAYS} days after being made")))),
    ),
    Figure("coverage", "Cross-source coverage: households seen by 0-4 agencies, need no agency serves", (
        HOUSEHOLDS, PERSONS,
        _households("seen_by_0", "households no agency knows (found by their community)"),
        *(_households(f"seen_by_{n}", f"households seen by {n} source(s)") for n in (1, 2, 3)),
        _households("seen_by_4", "households seen by 4 or more sources"),
        _households("in_need", "households in need (deprived, verified poor or a poor student)"),
        _households("in_need_unserved", "in need, and no agency serves them (no welfare card, "
                                        "assistance or student grant)", within="in_need"),
    ), partitions=(("households", tuple(f"seen_by_{n}" for n in (0, 1, 2, 3, 4))),)),
)}


def measures_of(figures: list[str]) -> list[Measure]:
    """The measures of ``figures``, each once, in figure order."""
    return list({m.name: m for name in figures for m in FIGURES[name].measures}.values())


def ratios_of(figures: list[str]) -> list[Ratio]:
    return [r for name in figures for r in FIGURES[name].ratios]


def partitions_of(figures: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    return [p for name in figures for p in FIGURES[name].partitions]


def sensitive(figures: list[str]) -> bool:
    return any(m.sensitive for m in measures_of(figures))
