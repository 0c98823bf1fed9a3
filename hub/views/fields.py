"""The fields a microdata view may carry, per level (``person`` or ``household``), and which
transformations each allows. Names, citizen IDs, house numbers and dates of birth are not here: no
partner view carries them (identified data goes back only to a community, through ``consent``).

``ladder`` names the generalisation ladder of :mod:`hub.anonymise.generalise` a field can climb: such a
field can single a person out (neighbours and classmates know it), so a view must declare it a
quasi-identifier. Ids can only be pseudonymised, with the partner's own key. A school code is not here:
with a grade it names a classroom.
"""
from __future__ import annotations

from dataclasses import dataclass

TRANSFORMS = ("keep", "drop", "pseudonymise", "generalise", "mask")


@dataclass(frozen=True)
class FieldSpec:
    title: str
    ladder: str | None = None
    id_kind: str | None = None  # person | household: only pseudonymise
    sensitive: bool = False

    def allows(self, transform: str) -> bool:
        if self.id_kind:
            return transform in ("pseudonymise", "drop")
        if transform == "generalise":
            return self.ladder is not None
        return transform != "pseudonymise" or self.ladder is None


_COMMON = {
    "household": FieldSpec("the household, as the partner's pseudonym", id_kind="household"),
    "area": FieldSpec("home village (TTTTTT-MM; TTTTTT-00 outside villages)", ladder="area"),
    "household_size": FieldSpec("persons in the household", ladder="size"),
    "sources": FieldSpec("the sources that know the household, ';'-separated"),
    "deprivations": FieldSpec("dimensions any source finds the household deprived in", sensitive=True),
    "deprivation_count": FieldSpec("how many of the five dimensions", sensitive=True),
    "verification": FieldSpec("university verification: confirmed, inclusion_error, exclusion_error..."),
    "msdhs_assisted": FieldSpec("received MSDHS assistance"),
}

FIELDS: dict[str, dict[str, FieldSpec]] = {
    "person": {
        "person": FieldSpec("the person, as the partner's pseudonym", id_kind="person"),
        **_COMMON,
        "sex": FieldSpec("M or F", ladder="sex"),
        "birth_year": FieldSpec("year of birth (Christian era)", ladder="birth_year"),
        "age": FieldSpec("age in whole years on 1 January of the publish year", ladder="age"),
        "tpmap_dimensions": FieldSpec("TPMAP dimensions the person is deprived in", sensitive=True),
        "target_poor": FieldSpec("TPMAP target poor (deprived and a welfare-card holder)"),
        "welfare_card": FieldSpec("holds a state welfare card"),
        "eef_status": FieldSpec("EEF screening: extremely_poor, poor or not_eligible"),
        "grade": FieldSpec("school grade (EEF): อ.1-ม.6, or its stage", ladder="grade"),
        "vulnerabilities": FieldSpec("MSDHS vulnerable groups", sensitive=True),
    },
    "household": {
        **_COMMON,
        "target_poor": FieldSpec("target-poor persons in the household"),
        "eef_students": FieldSpec("EEF-screened students in the household"),
        "capitals": FieldSpec("the five livelihood capitals (1-5), ';'-separated"),
    },
}
