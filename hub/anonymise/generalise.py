"""Generalisation ladders for quasi-identifiers.

A ladder is a tuple of named levels, level 0 the finest. Each level is a vectorised function from a pandas
Series of raw values to a Series of strings; a missing (or blank) value renders as ``"*"`` at every level, so
it is never mistaken for a real value and forms its own class until an ``any`` level, where every value is
``"*"`` (at the area ladder's ``nation`` level it stays apart from ``"TH"``). Every level is a function
of the level below it (the ladders are hierarchies), which :mod:`hub.anonymise.kanonymity` relies on.

- ``area``: a village code ``TTTTTT-MM`` (or a bare six-digit tambon code) -> village, tambon, amphoe,
  province, nation (``"TH"``).
- ``age`` (whole years; fractions are floored) and ``birth_year`` (a year in whichever era it is given, BE or CE):
  year, 5y (``"35-39"``), 10y (``"30-39"``), 20y (``"20-39"``), any (``"*"``).
- ``sex``: sex, any.
- ``size`` (household size): exact, band (``"1"``, ``"2"``, ``"3-4"``, ``"5-6"``, ``"7+"``), any.
  A size below 1 is not a household size and renders as ``"*"``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MISSING = "*"

LevelFunction = Callable[[pd.Series], pd.Series]


@dataclass(frozen=True)
class Level:
    name: str
    apply: LevelFunction


@dataclass(frozen=True)
class Ladder:
    """A generalisation hierarchy: ``levels[0]`` is the finest, ``levels[-1]`` the coarsest."""

    name: str
    levels: tuple[Level, ...]

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.levels)

    def index(self, level: str) -> int:
        """Position of ``level`` in the ladder (0 = finest); ValueError naming the allowed levels."""
        names = self.level_names
        if level not in names:
            raise ValueError(f"ladder {self.name!r} has no level {level!r}; allowed: {', '.join(names)}")
        return names.index(level)

    def level(self, level: str) -> Level:
        return self.levels[self.index(level)]


# --- building blocks -------------------------------------------------------------------------------------


def _text(values: pd.Series) -> pd.Series:
    """Values as nullable strings, surrounding blanks removed; missing or blank -> <NA>."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _number(values: pd.Series) -> pd.Series:
    """Values as nullable whole numbers (floored); missing stays <NA>."""
    return np.floor(pd.to_numeric(values, errors="raise").astype("Float64")).astype("Int64")


def _done(result: pd.Series) -> pd.Series:
    """Missing -> "*", as plain strings."""
    return result.fillna(MISSING).astype(str)


def _as_is(values: pd.Series) -> pd.Series:
    return _done(_text(values))


def _prefix(length: int) -> LevelFunction:
    def prefix(values: pd.Series) -> pd.Series:
        return _done(_text(values).str[:length])

    prefix.__name__ = f"first_{length}"
    return prefix


def _constant(label: str) -> LevelFunction:
    def constant(values: pd.Series) -> pd.Series:
        return _done(pd.Series(label, index=values.index, dtype="string").mask(_text(values).isna()))

    constant.__name__ = f"constant_{label}"
    return constant


def _anything(values: pd.Series) -> pd.Series:
    return pd.Series(MISSING, index=values.index, dtype=str)


def _whole(values: pd.Series) -> pd.Series:
    return _done(_number(values).astype("string"))


def _band(width: int) -> LevelFunction:
    def band(values: pd.Series) -> pd.Series:
        low = (_number(values) // width) * width
        return _done(low.astype("string") + "-" + (low + width - 1).astype("string"))

    band.__name__ = f"band_{width}"
    return band


def _size_band(values: pd.Series) -> pd.Series:
    size = _number(values).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    labels = np.select(
        [size == 1, size == 2, (size >= 3) & (size <= 4), (size >= 5) & (size <= 6), size >= 7],
        ["1", "2", "3-4", "5-6", "7+"],
        default=MISSING,
    )
    return pd.Series(labels, index=values.index, dtype=str)


def _size_exact(values: pd.Series) -> pd.Series:
    size = _number(values)
    return _done(size.mask(size < 1).astype("string"))


#: Thai school grades by stage: kindergarten (อ.), primary (ป.), lower and upper secondary (ม.1-3, ม.4-6).
_STAGES = {**{f"อ.{n}": "อนุบาล" for n in (1, 2, 3)}, **{f"ป.{n}": "ประถม" for n in range(1, 7)},
           **{f"ม.{n}": "ม.ต้น" for n in (1, 2, 3)}, **{f"ม.{n}": "ม.ปลาย" for n in (4, 5, 6)}}


def _stage(values: pd.Series) -> pd.Series:
    return _done(_text(values).map(_STAGES).astype("string"))


def _years(name: str) -> Ladder:
    return Ladder(
        name,
        (
            Level("year", _whole),
            Level("5y", _band(5)),
            Level("10y", _band(10)),
            Level("20y", _band(20)),
            Level("any", _anything),
        ),
    )


LADDERS: dict[str, Ladder] = {
    "area": Ladder(
        "area",
        (
            Level("village", _as_is),
            Level("tambon", _prefix(6)),
            Level("amphoe", _prefix(4)),
            Level("province", _prefix(2)),
            Level("nation", _constant("TH")),
        ),
    ),
    "age": _years("age"),
    "birth_year": _years("birth_year"),
    "sex": Ladder("sex", (Level("sex", _as_is), Level("any", _anything))),
    "size": Ladder("size", (Level("exact", _size_exact), Level("band", _size_band), Level("any", _anything))),
    "grade": Ladder("grade", (Level("grade", _as_is), Level("stage", _stage), Level("any", _anything))),
}


def get_ladder(ladder: str) -> Ladder:
    """The named ladder; ValueError naming the allowed ones."""
    if ladder not in LADDERS:
        raise ValueError(f"unknown ladder {ladder!r}; allowed: {', '.join(LADDERS)}")
    return LADDERS[ladder]


def generalise(values: pd.Series, *, ladder: str, level: str) -> pd.Series:
    """``values`` generalised to ``level`` of ``ladder``: strings, missing as ``"*"``, same index and name.

    The level function runs once per distinct value, so a million rows with few distinct values are cheap.
    """
    function = get_ladder(ladder).level(level).apply
    codes, distinct = distinct_values(values)
    labels = function(distinct).to_numpy(dtype=object)
    return pd.Series(labels[codes], index=values.index, name=values.name, dtype=str)


def distinct_values(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``(codes, distinct)`` with ``distinct.iloc[codes]`` equal to ``values``; a missing value, if any
    row has one, is the last entry of ``distinct`` (and is always there, so codes never need a sentinel)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.intp)
    codes[codes < 0] = len(uniques)
    return codes, pd.Series([*uniques, None], dtype=object)
