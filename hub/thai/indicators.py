"""TPMAP's five dimensions and the indicator crosswalk (which Basic Minimum Needs indicator belongs to which
dimension), loaded from versioned data files in ``hub/thai/data``: a later survey period adds a file, and
older data keeps its version."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hub.errors import ConfigurationError

DIMENSIONS = ("health", "living", "education", "income", "access")

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Indicator:
    code: str
    dimension: str
    name_th: str
    deprived_when: str


@cache
def crosswalk(version: str = "jpt-2560-2564") -> dict[str, Indicator]:
    """The indicators of one crosswalk version, by code; a file that breaks the rules is a configuration error."""
    path = DATA / f"{version}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in DATA.glob("*.toml")))
        raise ConfigurationError(f"no indicator crosswalk {version!r}; known: {known}")
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    if document.get("version") != version or tuple(document.get("dimensions", ())) != DIMENSIONS:
        raise ConfigurationError(f"{path.name}: version must be {version!r} and dimensions {list(DIMENSIONS)}")
    indicators = {code: Indicator(code, **fields) for code, fields in document["indicators"].items()}
    if stray := sorted(i.code for i in indicators.values() if i.dimension not in DIMENSIONS):
        raise ConfigurationError(f"{path.name}: indicators {stray} name no known dimension")
    return indicators


def dimensions_failed(codes: list[str], version: str = "jpt-2560-2564") -> set[str]:
    """The dimensions a list of failed indicator codes puts a person in (unknown codes are ignored)."""
    table = crosswalk(version)
    return {table[c].dimension for c in codes if c in table}
