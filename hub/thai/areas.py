"""DOPA area codes (province 2, amphoe 4, tambon 6 digits) and village numbers, checked with geothai."""
from __future__ import annotations

import re
from functools import lru_cache

import geothai

from hub.errors import RecordError

_TAMBON = re.compile(r"^\d{6}$")


def parse_tambon_code(raw: str | None, *, field: str = "tambon_code") -> str:
    """A six-digit tambon code; raises :class:`RecordError` when missing or not six digits."""
    code = (raw or "").strip()
    if not _TAMBON.match(code):
        raise RecordError(f"{field}: expected a 6-digit DOPA tambon code")
    return code


@lru_cache(maxsize=16384)
def is_known_tambon(code: str) -> bool:
    """True when geothai knows the tambon (codes of merged or new tambons may be missing)."""
    return geothai.subdistrict(code) is not None


def parse_moo(raw, *, field: str = "moo") -> int | None:
    """A village number 1-99, ``None`` when blank (municipal areas)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise RecordError(f"{field}: expected a whole village number 1-99 or blank")
    try:
        moo = int(raw)
    except (TypeError, ValueError):
        raise RecordError(f"{field}: expected a village number 1-99 or blank") from None
    if not 1 <= moo <= 99:
        raise RecordError(f"{field}: village number {moo} is out of range 1-99")
    return moo


@lru_cache(maxsize=65536)
def area_name(code: str) -> str:
    """The Thai name of an area code as views publish it: ``TH``, a province, amphoe or tambon code, a
    village ``TTTTTT-MM`` (``-00``: outside villages; ``-other``: the tambon's small villages together)."""
    if code == "TH":
        return "ประเทศไทย"
    tambon, _, village = code.partition("-")
    lookup = {2: geothai.province, 4: geothai.district, 6: geothai.subdistrict}.get(len(tambon))
    found = lookup(tambon) if lookup else None
    name = found.name_th if found else f"({tambon})"
    if village == "other":
        return f"{name}: หมู่บ้านขนาดเล็กรวมกัน"
    if village == "00":
        return f"{name}: นอกเขตหมู่บ้าน"
    return f"{name} หมู่ {int(village)}" if village.isdigit() else name


@lru_cache(maxsize=8)
def all_codes(level: str) -> tuple[str, ...]:
    """Every DOPA code geothai knows at ``level`` (province, amphoe or tambon), sorted."""
    provinces = [p.code for p in geothai.provinces()]
    if level == "province":
        return tuple(sorted(provinces))
    amphoes = [d.code for p in provinces for d in geothai.districts(p)]
    if level == "amphoe":
        return tuple(sorted(amphoes))
    if level == "tambon":
        return tuple(sorted(t.code for a in amphoes for t in geothai.subdistricts(a)))
    raise ValueError(f"no list of every area at level {level!r}")
