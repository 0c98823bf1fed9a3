"""Thai citizen IDs: normalisation and the check digit.

A citizen ID is 13 digits; the last is a check digit over the first twelve:
``check = (11 - sum(d_i * (14 - i) for i in 1..12) % 11) % 10``. Partners write IDs with dashes or spaces,
leave them blank or mistype them. A valid check digit is not proof the ID is right (a typo in some
positions, such as the third, keeps the checksum valid), so a failing ID is kept for linking, flagged.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from operator import mul

_SEPARATORS = str.maketrans("", "", " -\u00a0\t")
_WEIGHTS = tuple(range(13, 1, -1))  # 13 for the first digit down to 2 for the twelfth
_ASCII_ZERO_TOTAL = ord("0") * sum(_WEIGHTS)
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
#: Thirteen digits (Arabic or Thai), perhaps grouped by dashes or spaces, not part of a longer word or number.
#: The pattern opens with a digit so that the engine skips ahead to digits; the look-behind that then
#: checks the character before that digit would, placed first, be tried at every position (40 times slower).
_IN_TEXT = re.compile(r"[0-9๐-๙](?<![0-9A-Za-z๐-๙].)(?:[- ]?[0-9๐-๙]){12}(?![0-9A-Za-z๐-๙])")


class IdStatus(enum.StrEnum):
    VALID = "valid"
    CHECKSUM_FAILED = "checksum_failed"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class CitizenId:
    """A citizen ID as digits only, with the outcome of its check. Never stored in clear."""

    digits: str
    status: IdStatus

    def __repr__(self) -> str:  # keep clear IDs out of logs and tracebacks
        return f"CitizenId(<redacted>, {self.status.value})"


def check_digit(first_twelve: str) -> int:
    """The check digit for twelve leading digits."""
    total = sum(map(mul, first_twelve.encode("ascii"), _WEIGHTS)) - _ASCII_ZERO_TOTAL
    return (11 - total % 11) % 10


def parse_citizen_id(raw: str | None) -> CitizenId | None:
    """Normalise a citizen ID as a partner wrote it; ``None`` when blank.

    Dashes and spaces are removed. Thirteen digits are checked; anything else that is not blank is kept
    as ``MALFORMED`` (a dropped digit still helps linking).
    """
    if raw is None:
        return None
    digits = raw.translate(_SEPARATORS)
    if not digits:
        return None
    if len(digits) == 13 and digits.isascii() and digits.isdigit():
        valid = check_digit(digits[:12]) == int(digits[12])
        return CitizenId(digits, IdStatus.VALID if valid else IdStatus.CHECKSUM_FAILED)
    return CitizenId(digits, IdStatus.MALFORMED)


def with_check_digit(first_twelve: str) -> str:
    """A full valid ID from twelve digits (used by the demo and tests to make IDs)."""
    return first_twelve + str(check_digit(first_twelve))


def mentions_citizen_id(text: str) -> bool:
    """Whether ``text`` holds what reads as a citizen ID: thirteen digits, Thai digits too, perhaps
    grouped (1-1017-00203-45-1), whose check digit holds."""
    for found in _IN_TEXT.finditer(text):
        parsed = parse_citizen_id(found.group().translate(_THAI_DIGITS))
        if parsed is not None and parsed.status is IdStatus.VALID:
            return True
    return False
