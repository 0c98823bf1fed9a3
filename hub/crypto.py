"""Field encryption and keyed hashing for personal data at rest.

Two ciphertext formats: ``1 | dek id (2) | nonce (12) | AES-256-GCM(ciphertext+tag)`` under one of the
keyring's data keys (household facts, quarantined rows), and ``2 | subject key id (8) | nonce (12) |
AES-256-GCM`` under a person's own key (:mod:`hub.subject_keys`), for a person's fields. The associated
data names the table, the row's natural key and the field, so a ciphertext copied to another row or
field does not decrypt.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import KeyringError
from hub.keys import Keyring

if TYPE_CHECKING:
    from hub.subject_keys import SubjectKeys

_FORMAT = 1
_HEADER = struct.Struct(">BH")
_SUBJECT_FORMAT = 2
_SUBJECT_HEADER = struct.Struct(">BQ")


def aad(table: str, source: str, key: str, field: str) -> bytes:
    """Associated data binding a ciphertext to one row (``source``/``key``) and one field."""
    return f"{table}|{source}|{key}|{field}".encode()


def subject_key_id(blob: bytes | None) -> int | None:
    """The id of the person's key a ciphertext was made with (``None`` for a data-key ciphertext)."""
    if blob is None or len(blob) < _SUBJECT_HEADER.size or blob[0] != _SUBJECT_FORMAT:
        return None
    return _SUBJECT_HEADER.unpack_from(blob)[1]


class FieldCipher:
    """Encrypts with the active DEK or a person's own key; decrypts with whichever key a ciphertext names
    (a person's key through ``subjects``, :class:`hub.subject_keys.SubjectKeys`)."""

    def __init__(self, keyring: Keyring, subjects: SubjectKeys | None = None):
        self._aead = {n: AESGCM(k) for n, k in keyring.deks.items()}
        self._active = keyring.active_dek
        self._header = _HEADER.pack(_FORMAT, keyring.active_dek)
        self.subjects = subjects

    @staticmethod
    def sealer(key_id: int, aead: AESGCM) -> Callable[[str | None, bytes], bytes | None]:
        """Encryption under a person's own key (``key_id``, ``aead`` from :meth:`SubjectKeys.ensure`):
        ``seal(plaintext, associated)``, ``None`` for ``None``."""
        header = _SUBJECT_HEADER.pack(_SUBJECT_FORMAT, key_id)

        def seal(plaintext: str | None, associated: bytes) -> bytes | None:
            if plaintext is None:
                return None
            nonce = os.urandom(12)
            return header + nonce + aead.encrypt(nonce, plaintext.encode(), associated)

        return seal

    def encrypt(self, plaintext: str | None, associated: bytes) -> bytes | None:
        if plaintext is None:
            return None
        nonce = os.urandom(12)
        return self._header + nonce + self._aead[self._active].encrypt(nonce, plaintext.encode(), associated)

    def decrypt(self, blob: bytes | None, associated: bytes) -> str | None:
        if blob is None:
            return None
        if len(blob) < _HEADER.size + 12 + 16:
            raise KeyringError(f"ciphertext of {len(blob)} bytes is too short to be one of ours (truncated)")
        if blob[0] == _SUBJECT_FORMAT:
            return self._decrypt_subject(blob, associated)
        fmt, dek = _HEADER.unpack_from(blob)
        if fmt != _FORMAT or dek not in self._aead:
            raise KeyringError(f"ciphertext names format {fmt} / key {dek}, which this keyring lacks")
        try:
            return self._aead[dek].decrypt(blob[3:15], blob[15:], associated).decode()
        except InvalidTag:
            raise KeyringError("ciphertext does not decrypt for this row and field (moved or tampered)") from None


    def _decrypt_subject(self, blob: bytes, associated: bytes) -> str:
        if self.subjects is None:
            raise KeyringError("a person's ciphertext needs the per-person keys (this cipher has none)")
        _, key_id = _SUBJECT_HEADER.unpack_from(blob)
        start = _SUBJECT_HEADER.size
        try:
            return self.subjects.aead(key_id).decrypt(blob[start:start + 12], blob[start + 12:], associated).decode()
        except InvalidTag:
            raise KeyringError("ciphertext does not decrypt for this row and field (moved or tampered)") from None


class KeyedHasher:
    """HMAC-SHA256 under a purpose-specific key: the linkage keys of citizen IDs and house codes."""

    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, value: str) -> bytes:
        return hmac.digest(self._key, value.encode(), "sha256")


class Fingerprinter:
    """Keyed BLAKE2b-128 of a record's content: tells a changed record from an unchanged one without
    storing a digest anyone could test guesses against."""

    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, content: str) -> bytes:
        return hashlib.blake2b(content.encode(), key=self._key, digest_size=16).digest()
