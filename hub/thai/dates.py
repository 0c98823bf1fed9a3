"""Dates as partners write them: Buddhist era (BE = CE + 543) or Christian era, sometimes partly unknown.

TPMAP writes ``dd/mm/yyyy`` in BE with ``00`` for an unknown day or month; EEF writes ``yyyy-mm-dd`` in
BE; the logbook and the survey write ISO dates in CE. A year on the wrong side of the era (a CE year in a
BE field, or the reverse) is corrected and flagged, because linking must still see it.

Until 1941 the Thai year began on 1 April (from BE 2432, 1889 CE): 14 February 2482 BE, as it was written
then and stays on the elderly's documents, is 14 February 1940 CE, not 1939. BE 2483 was cut short (April
to December 1940) so that BE 2484 began on 1 January 1941; January to March of BE 2483 never existed in that
reckoning, so such a date is read as written by today's. A January-March date of BE 2432-2482 is read with
the April new year and flagged (``{field}_april_new_year``): a source that recounted it by today's calendar
is then one year off, which linking's one-year tolerance for birth years absorbs.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from hub.errors import RecordError

BE_OFFSET = 543
_APRIL_NEW_YEAR = range(2432, 2483)  # BE years that began on 1 April: their January-March are in the next CE year
_BE_RANGE = range(2400, 2700)  # 1857-2156 CE
_CE_RANGE = range(1857, 2157)
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_ERA_NAMES = {"BE": "Buddhist era", "CE": "Christian era", "either": "Buddhist or Christian era"}


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A Christian-era date whose month or day may be unknown (``None``)."""

    year: int
    month: int | None = None
    day: int | None = None

    def iso(self) -> str:
        """``yyyy``, ``yyyy-mm`` or ``yyyy-mm-dd``, as much as is known."""
        parts = [f"{self.year:04d}"]
        if self.month:
            parts.append(f"{self.month:02d}")
            if self.day:
                parts.append(f"{self.day:02d}")
        return "-".join(parts)


def buddhist_year(day: dt.date) -> int:
    """The BE year of ``day`` as it was written then: January to March before 1941 belong to the BE year that
    began the April before (the inverse of this module's parsing)."""
    year = day.year + BE_OFFSET
    return year - 1 if year - 1 in _APRIL_NEW_YEAR and day.month <= 3 else year


def _christian_year(year: int, month: int, field: str, flags: list[str]) -> int:
    """The CE year of a BE ``year``'s ``month`` (0: unknown), with the April new year before 1941."""
    if year in _APRIL_NEW_YEAR and 1 <= month <= 3:
        flags.append(f"{field}_april_new_year")
        return year - BE_OFFSET + 1
    return year - BE_OFFSET


def _build(field: str, year: int, month: int, day: int, *, era: str, flags: list[str]) -> PartialDate:
    if era == "either":  # a form that lets its writer choose: the year says which, nothing to flag
        if year in _BE_RANGE:
            year = _christian_year(year, month, field, flags)
        elif year not in _CE_RANGE:
            raise RecordError(f"{field}: the year is neither a plausible Buddhist-era nor Christian-era year")
    elif era == "BE":
        if year in _BE_RANGE:
            year = _christian_year(year, month, field, flags)
        elif year in _CE_RANGE:
            flags.append(f"{field}_christian_era_in_buddhist_field")
        else:
            raise RecordError(f"{field}: the year is not a plausible Buddhist-era year")
    else:
        if year in _CE_RANGE:
            pass
        elif year in _BE_RANGE:
            flags.append(f"{field}_buddhist_era_in_christian_field")
            year = _christian_year(year, month, field, flags)
        else:
            raise RecordError(f"{field}: the year is not a plausible Christian-era year")
    if month == 0:
        if day != 0:
            raise RecordError(f"{field}: a day is given but the month is unknown (00)")
        flags.append(f"{field}_month_unknown")
        return PartialDate(year)
    if not 1 <= month <= 12:
        raise RecordError(f"{field}: the month is out of range 01-12")
    if day == 0:
        flags.append(f"{field}_day_unknown")
        return PartialDate(year, month)
    try:
        dt.date(year, month, day)
    except ValueError:
        raise RecordError(f"{field}: not a real calendar date (the day does not exist in that month)") from None
    return PartialDate(year, month, day)


def parse_be_dmy(text: str, *, field: str, flags: list[str]) -> PartialDate | None:
    """Parse TPMAP's ``dd/mm/yyyy`` Buddhist-era date (``00`` = unknown day or month); blank -> ``None``."""
    text = text.strip()
    if not text:
        return None
    m = _DMY.match(text)
    if not m:
        raise RecordError(f"{field}: expected dd/mm/yyyy in the Buddhist era")
    day, month, year = map(int, m.groups())
    return _build(field, year, month, day, era="BE", flags=flags)


def parse_ymd(text: str | None, *, field: str, era: str, flags: list[str]) -> PartialDate | None:
    """Parse ``yyyy-mm-dd`` in the given era (``"BE"``, ``"CE"``, or ``"either"``: the year tells); blank ->
    ``None``."""
    if text is None or not str(text).strip():
        return None
    m = _YMD.match(str(text).strip())
    if not m:
        raise RecordError(f"{field}: expected yyyy-mm-dd ({_ERA_NAMES[era]})")
    year, month, day = map(int, m.groups())
    return _build(field, year, month, day, era=era, flags=flags)


def parse_iso_date(text: str | None, *, field: str) -> dt.date | None:
    """A plain ISO calendar date that is not personal (a survey or assistance date); blank -> ``None``."""
    if text is None or not str(text).strip():
        return None
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise RecordError(f"{field}: expected an ISO date yyyy-mm-dd") from None
