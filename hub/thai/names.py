"""Thai personal names: clean text, and titles separated from first names (also when glued on)."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pythainlp.util import normalize as thai_normalize

#: Titles as partners write them, mapped to the short form the hub stores. Longest first, so that
#: ``นางสาว`` is never read as ``นาง`` + ``สาว...``.
TITLES: dict[str, str] = {
    "เด็กชาย": "ด.ช.",
    "เด็กหญิง": "ด.ญ.",
    "นางสาว": "นางสาว",
    "น.ส.": "นางสาว",
    "ด.ช.": "ด.ช.",
    "ด.ญ.": "ด.ญ.",
    "นาง": "นาง",
    "นาย": "นาย",
}
_TITLES_LONGEST_FIRST = sorted(TITLES, key=len, reverse=True)
_INVISIBLES = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_SPACES = re.compile(r"\s+")
_MIN_NAME_AFTER_TITLE = 2


@lru_cache(maxsize=131072)
def clean_name(text: str) -> str:
    """NFC, no zero-width characters, single spaces, Thai vowel and tone marks in canonical order."""
    text = _INVISIBLES.sub("", unicodedata.normalize("NFC", text))
    text = _SPACES.sub(" ", text).strip()
    return thai_normalize(text) if text else text


def canonical_title(raw: str | None) -> str | None:
    """The stored form of a known title; ``None`` when blank or not one of :data:`TITLES`."""
    if raw is None or not raw.strip():
        return None
    return TITLES.get(clean_name(raw))


@lru_cache(maxsize=131072)
def split_glued_title(first_name: str) -> tuple[str | None, str]:
    """Split a title glued to a first name (``นายสมชาย`` -> ``("นาย", "สมชาย")``).

    Only splits when a real name of at least two characters remains, so a short name that merely
    begins like a title is left alone.
    """
    for title in _TITLES_LONGEST_FIRST:
        if first_name.startswith(title):
            rest = first_name[len(title):].strip()
            if len(rest) >= _MIN_NAME_AFTER_TITLE:
                return TITLES[title], rest
    return None, first_name


def parse_name(title: str | None, first_name: str | None, last_name: str | None,
               *, flags: list[str]) -> tuple[str | None, str | None, str | None, str | None]:
    """Clean a (title, first, last) triple: ``(title, first, last, title_as_written)``.

    Only a known title is returned as ``title`` (it is stored in clear). A title glued to the first
    name is split off; a first name written into the title field (``นางสมพร``, first name blank) is moved
    back. Anything else in the title field comes back as ``title_as_written`` (to store encrypted: it
    may be a name), flagged ``title_unknown``.
    """
    first = clean_name(first_name) if first_name else None
    last = clean_name(last_name) if last_name else None
    written = clean_name(title) if title and title.strip() else None
    known, as_written = canonical_title(written), None
    if written and not known:
        glued, rest = split_glued_title(written)
        if glued and not first:
            flags.append("first_name_in_title_field")
            known, first = glued, rest
        else:
            flags.append("title_unknown")
            as_written = written
    if first:
        glued, rest = split_glued_title(first)
        if glued:
            flags.append("title_glued_to_first_name")
            known, first = known or glued, rest
    return known, first or None, last or None, as_written
