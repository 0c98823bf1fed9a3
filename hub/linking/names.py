"""Thai names in the forms linking compares: one normal form, and two phonetic keys.

Names arrive already cleaned by ingest (NFC, pythainlp-normalised, titles split off, also when glued
on). Linking drops the spaces inside a name and compares the rest; the phonetic keys (LK82 and
Prayut & Somchaip soundex) agree across the usual spelling variants: ศ/ส/ษ, ณ/น, ธ/ท, ภ/พ and a dropped
tone mark or thanthakhat.
"""
from __future__ import annotations

from functools import lru_cache

from pythainlp.soundex import lk82, prayut_and_somchaip

THANTHAKHAT = "\u0e4c"


@lru_cache(maxsize=262144)
def normal_form(name: str | None) -> str | None:
    """``name`` without spaces; ``None`` when blank."""
    if not name:
        return None
    return name.replace(" ", "") or None


@lru_cache(maxsize=262144)
def phonetic_keys(name: str | None) -> tuple[str | None, str | None]:
    """(LK82, Prayut & Somchaip) soundex of the normal form without thanthakhat (์, which partners drop
    and LK82 does not ignore); ``(None, None)`` for a blank name."""
    form = normal_form(name)
    if form is None:
        return None, None
    form = form.replace(THANTHAKHAT, "") or form
    return lk82(form) or None, prayut_and_somchaip(form) or None
