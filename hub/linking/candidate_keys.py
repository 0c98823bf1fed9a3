"""Keys that let linking find candidate pairs without clear values. Ingest makes them, because only
ingest holds the clear citizen ID and name; each is a keyed 64-bit BLAKE2b under its own derived key,
so nobody without the keyring can test a guess against them.

- **ID variants**: the keyed hashes of an ID and of its one-digit deletions. Two IDs within one typo,
  one adjacent transposition, or one digit dropped or doubled share at least one variant, so they meet
  without either being stored in clear (a transposition of positions i, i+1 deletes to the same string
  as the original with i+1 or i deleted).
- **Name blocks**: phonetic first name with birth year and sex, and phonetic first with phonetic last name.
- **Address block**: tambon, village and house number of a record that carries its own address (TPMAP),
  so that its household is found when the house code was left blank.
"""
from __future__ import annotations

import hashlib

from hub.keys import Keyring
from hub.linking.names import phonetic_keys

VARIANT_BYTES = 8


def _digest(key: bytes, text: str) -> bytes:
    return hashlib.blake2b(text.encode(), key=key, digest_size=VARIANT_BYTES).digest()


class CandidateKeys:
    """Makes the candidate keys of one hub's keyring."""

    def __init__(self, keyring: Keyring):
        self._variant_key = keyring.derived("citizen-id-variants")
        self._block_key = keyring.derived("name-blocks")

    def id_variants(self, digits: str | None) -> bytes | None:
        """The sorted, distinct variant hashes of ``digits`` (the ID as written, separators removed), joined;
        ``None`` unless it is 12 to 14 digits (one digit dropped or doubled still meets the right ID)."""
        if not digits or not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 14):
            return None
        forms = {digits} | {digits[:i] + digits[i + 1:] for i in range(len(digits))}
        return b"".join(sorted(_digest(self._variant_key, form) for form in forms))

    def name_blocks(self, first_name: str | None, last_name: str | None, birth_year: int | None,
                    sex: str | None) -> tuple[int | None, int | None]:
        """(first name + birth year + sex, first + last name) block keys as signed 64-bit integers;
        ``None`` where a part is missing."""
        first = phonetic_keys(first_name)[0]
        last = phonetic_keys(last_name)[0]
        by_year = self._block(f"{first}|{birth_year}|{sex}") if first and birth_year and sex else None
        by_name = self._block(f"{first}|{last}") if first and last else None
        return by_year, by_name

    def address_block(self, tambon_code: str, moo: int | None, house_no: str | None) -> int | None:
        """The block key of a house number in a village; ``None`` without a house number."""
        number = "".join(house_no.split()) if house_no else ""
        return self._block(f"{tambon_code}|{moo}|{number}") if number else None

    def _block(self, text: str) -> int:
        return int.from_bytes(_digest(self._block_key, text), "big", signed=True)
