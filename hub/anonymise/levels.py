"""The names of each generalisation ladder's levels, finest first: what a contract may write in
``generalise`` (``to = "5y"``). Kept apart from :mod:`hub.anonymise.generalise` (which needs numpy and
pandas) so that checking a contract, which every ingest does, loads neither."""
from __future__ import annotations

YEARS = ("year", "5y", "10y", "20y", "any")

LEVELS: dict[str, tuple[str, ...]] = {
    "area": ("village", "tambon", "amphoe", "province", "nation"),
    "age": YEARS,
    "birth_year": YEARS,
    "sex": ("sex", "any"),
    "size": ("exact", "band", "any"),
    "grade": ("grade", "stage", "any"),
}
