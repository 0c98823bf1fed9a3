"""What views count of a person record, taken out of its attributes once, at ingest, and stored beside them
in plain columns (``source_records.fact_bits``, ``fact_status``, ``fact_grade``, ``fact_vulnerabilities``).

A publish reads a million records' facts as columns instead of taking ten values out of each of a million
JSON documents (SQLite before 3.45 parses a document again for every value taken out of it). The
attributes stay what the source said; these columns are derived from them, written with them and never on
their own.
"""
from __future__ import annotations

from typing import Any

from hub.thai.indicators import DIMENSIONS

#: The flag behind each bit of ``fact_bits`` (bit i: ``FACT_BITS[i]``): TPMAP's deprived dimensions and
#: welfare card, and a conditional cash transfer paid by EEF. Stored: never reorder; a new flag is appended
#: with a migration that sets it for the records stored before (as 0014 did for these).
FACT_BITS = (*DIMENSIONS, "welfare_card", "cct")
#: Each flag's bit value in ``fact_bits``.
FACT_BIT = {name: 1 << bit for bit, name in enumerate(FACT_BITS)}
_DIMENSION_BITS = tuple((name, FACT_BIT[name]) for name in DIMENSIONS)
_WELFARE_BIT, _CCT_BIT = FACT_BIT["welfare_card"], FACT_BIT["cct"]


def record_facts(attributes: dict[str, Any]) -> tuple[int, str | None, str | None, str | None]:
    """``(fact_bits, fact_status, fact_grade, fact_vulnerabilities)`` of a record's ``attributes``: the
    flags of :data:`FACT_BITS` (a flag is set only by JSON ``true``; the transfer by a positive amount),
    the ``status`` and ``grade`` when they are text, and the vulnerable groups sorted and joined by ``;``
    (None for none). Any source's attributes: a view reads each fact only for its own source's records."""
    bits = 0
    dimensions = attributes.get("dimensions")
    if isinstance(dimensions, dict):
        for name, bit in _DIMENSION_BITS:
            if dimensions.get(name) is True:
                bits |= bit
    if attributes.get("welfare_card") is True:
        bits |= _WELFARE_BIT
    cct = attributes.get("cct_baht")
    if isinstance(cct, int | float) and not isinstance(cct, bool) and int(cct) > 0:
        bits |= _CCT_BIT
    status, grade, groups = attributes.get("status"), attributes.get("grade"), attributes.get("vulnerabilities")
    return (bits, status if isinstance(status, str) else None, grade if isinstance(grade, str) else None,
            ";".join(sorted(map(str, groups))) if isinstance(groups, list) and groups else None)
